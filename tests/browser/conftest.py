"""Fixtures for the end-to-end tests in a real headless Chromium.

The pages are served by pytest-django's ``live_server`` (a thread of this process, on this
run's SQLite file); the module's world, a throwaway ``redis-server`` and a real ``celery
worker`` process (tests/worlds.py), analyses the uploads with the real pipeline. Chromium is the
system's (``chromium`` on the PATH, or FACEWEB_CHROMIUM), driven by Playwright; no browser is
downloaded. Its fake camera plays a video made at test time from a sample photo.

Screenshots of every page go to ``artifacts/browser/`` (ignored by git).
"""

import os
import shutil
from pathlib import Path

import pytest

from tests import camera
from tests.worlds import open_world

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
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="package", autouse=True)
def _playwright_beside_the_orm():
    """Playwright's sync API runs an event loop in this thread, which makes Django refuse ORM
    calls as "async unsafe"; the test code is synchronous, so tell Django so, for these
    tests only (processes that later tests start inherit the environment)."""
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture(scope="session")
def photos(samples_dir) -> Path:
    return samples_dir / "face_recognition_samples" / "examples"


@pytest.fixture(scope="session")
def lfw(data_dir) -> Path:
    """LFW dev's photos (``lfw-dev/images/<Name>/<Name>_NNNN.jpg``), or skip."""
    images = data_dir / "lfw-dev" / "images"
    if not images.is_dir():
        pytest.skip(f"LFW dev not found at {images}")
    return images


@pytest.fixture(scope="session")
def fake_video(photos, tmp_path_factory) -> Path:
    """A short 640x480 Y4M video of a sample photo, framed as a webcam would (head and
    shoulders: the top of the portrait, cut to 4:3), for Chromium's fake camera: a still
    picture."""
    frame = camera.webcam_frame(photos / "obama.jpg")
    return camera.write_y4m(tmp_path_factory.mktemp("camera") / "obama.y4m", [frame] * 10)


# One turn of the head in 2.6 s at 10 frames a second, looped by the camera: facing the
# camera for 0.8 s, turning about 30 degrees in 0.6 s, holding, coming back. A 2.8 s burst
# always sees both a frame facing the camera and the head turned.
TURN = [0.0] * 8 + [0.1, 0.2, 0.3, 0.4, 0.5, 0.6] + [0.6] * 6 + [0.5, 0.4, 0.3, 0.2, 0.1, 0.0]


@pytest.fixture(scope="session")
def turning_videos(photos, tmp_path_factory) -> dict:
    """Y4M videos of the sample face turning to the person's left, and to their right,
    synthesised by warping the real photo (tests/camera.py)."""
    from recognition.pipeline import loader

    frame = camera.webcam_frame(photos / "obama.jpg")
    landmarks = loader.get_detector().detect(frame)[0].landmarks
    folder = tmp_path_factory.mktemp("turning")
    return {
        name: camera.write_y4m(folder / f"{name}.y4m",
                               [camera.turned(frame, landmarks, sign * a) for a in TURN])
        for name, sign in (("turn_left", 1), ("turn_right", -1))
    }


@pytest.fixture(scope="package")
def playwright():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set "
                    "FACEWEB_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        yield playwright


def launch(playwright, video: Path):
    """A Chromium whose camera plays ``video`` (a Y4M file), in a loop."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={video}"],
    )


@pytest.fixture(scope="package")
def browser(playwright, fake_video):
    browser = launch(playwright, fake_video)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def world(django_db_setup, photos, tmp_path_factory):
    """A real Redis and Celery worker (tests/worlds.py) for the module, torn down with it."""
    # Beat's sweep, which also groups unknown faces, every 2 s rather than 15.
    with open_world(tmp_path_factory, "browser", env={"FACEWEB_SWEEP_INTERVAL_S": "2"}) as world:
        yield world


@pytest.fixture
def app(live_server, world, enter, transactional_db):
    """The running app: pages served by ``live_server`` with uploads stored where the worker
    reads them and published to its Redis. Returns the server's base URL."""
    enter(world)
    return live_server.url


@pytest.fixture
def page(browser, app, shot, request):
    """A fresh browser tab (its own cookies) at laptop size; its console errors fail the test.
    Its last state is saved as artifacts/browser/last-<test>.png, to see where a test stopped."""
    yield from _tab(browser, app, shot, request)


@pytest.fixture
def camera_page(playwright, app, shot, request):
    """``camera_page(video)``: as ``page``, in a Chromium of its own whose camera plays
    ``video`` (tests/camera.py makes them)."""
    opened = []

    def open_with(video: Path):
        browser = launch(playwright, video)
        tab = _tab(browser, app, shot, request)
        opened.append((browser, tab))
        return next(tab)

    yield open_with
    for browser, tab in opened:
        next(tab, None)  # the screenshot, the close and the check of console errors
        browser.close()


def _tab(browser, app, shot, request):
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
