"""Fixtures for the end-to-end tests in a real headless Chromium.

The pages are served by pytest-django's ``live_server`` (a thread of this process, on this
run's SQLite file); a throwaway ``redis-server`` and a real ``celery worker`` process (see
tests/recognition/conftest.py) analyse the uploads with the real pipeline. Chromium is the
system's (``chromium`` on the PATH, or FACEWEB_CHROMIUM), driven by Playwright; no browser is
downloaded. Its fake camera plays a video made at test time from a sample photo.

Screenshots of every page go to ``artifacts/browser/`` (ignored by git).
"""

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.recognition.conftest import REDIS_SERVER, CeleryWorker, RedisServer, use_broker

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "browser"
CHROMIUM = (
    os.environ.get("FACEWEB_CHROMIUM")
    or shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
)
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    # A camera that needs no hardware and no permission prompt.
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
]
WORKER_START_S = 120  # a loaded 2-core machine: imports alone take seconds
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session", autouse=True)
def _playwright_beside_the_orm():
    """Playwright's sync API runs an event loop in this thread, which makes Django refuse ORM
    calls as "async unsafe"; the test code is synchronous, so tell Django so."""
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.fixture(scope="session")
def photos(samples_dir) -> Path:
    return samples_dir / "face_recognition_samples" / "examples"


@pytest.fixture(scope="session")
def fake_video(photos, tmp_path_factory) -> Path:
    """A short 640x480 Y4M video of a sample photo, framed as a webcam would (head and
    shoulders: the top of the portrait, cut to 4:3), for Chromium's fake camera."""
    import cv2

    from recognition.pipeline.image import load_image

    with (photos / "obama.jpg").open("rb") as f:
        rgb = load_image(f)
    width, height = 640, 480
    frame = cv2.resize(rgb[: rgb.shape[1] * 3 // 4], (width, height), interpolation=cv2.INTER_AREA)
    i420 = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes()
    path = tmp_path_factory.mktemp("camera") / "obama.y4m"
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(10):
            f.write(b"FRAME\n" + i420)
    return path


@pytest.fixture(scope="session")
def browser(fake_video):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set "
                    "FACEWEB_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={fake_video}"],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def media_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def browser_redis(tmp_path_factory):
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (sudo apt-get install redis-server)")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def worker(django_db_setup, django_db_blocker, browser_redis, media_root, photos,
           tmp_path_factory):
    """A real Celery worker on this run's database, media and Redis."""
    worker = CeleryWorker(
        redis_url=browser_redis.url, media_root=media_root,
        directory=tmp_path_factory.mktemp("worker"),
    )
    worker.start()
    # Wait for it to listen, so that the first page already sees it up; its models load
    # later, on the first photo.
    deadline = time.monotonic() + WORKER_START_S
    while " ready." not in worker.log.read_text(errors="replace"):
        if worker.process.poll() is not None or time.monotonic() > deadline:
            worker.stop()
            pytest.fail(f"The Celery worker did not start:\n{worker.log_tail()}")
        time.sleep(0.2)
    yield worker
    worker.stop()


@pytest.fixture
def app(live_server, worker, browser_redis, media_root, settings, transactional_db):
    """The running app: pages served by ``live_server`` with uploads stored where the worker
    reads them and published to its Redis. Returns the server's base URL."""
    settings.MEDIA_ROOT = media_root
    settings.REDIS_URL = browser_redis.url
    use_broker(browser_redis.url)
    return live_server.url


@pytest.fixture
def page(browser, app, shot, request):
    """A fresh browser tab (its own cookies) at laptop size; its console errors fail the test.
    Its last state is saved as artifacts/browser/last-<test>.png, to see where a test stopped."""
    context = browser.new_context(base_url=app, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    shot(page, f"last-{request.node.name}")
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture(scope="session")
def shot():
    """``shot(page, name)`` saves a full-page screenshot to artifacts/browser/<name>.png."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)

    def save(page, name: str) -> None:
        page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)

    return save
