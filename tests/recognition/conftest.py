"""Fixtures for the recognition app's tests.

- Every test gets an empty MEDIA_ROOT in its own temporary directory and an empty gallery
  cache.
- ``fake_pipeline`` replaces ``recognition.pipeline.analyse`` with a stand-in whose faces the
  test chooses (no TensorFlow); image decoding stays real.
- ``queued``: the photo ids published to Celery, instead of publishing them.
- ``celery_broker(url)``: publish to another Redis for the rest of the test.
- ``redis_server`` and ``CeleryWorker``: a real Redis and a real worker process.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import types
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

import recognition.pipeline
from recognition import selectors
from recognition.pipeline.types import ImageAnalysis

REPO = Path(__file__).resolve().parents[2]
REDIS_SERVER = shutil.which("redis-server")


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _empty_gallery_cache():
    selectors.gallery_cache_clear()
    yield
    selectors.gallery_cache_clear()


class FakePipeline:
    """``analyse_image`` returns ``faces`` for any image, or raises ``error``."""

    DEFAULT_THRESHOLD = 0.6

    def __init__(self):
        self.faces = []
        self.error: Exception | None = None
        self.calls = 0

    def analyse_image(self, image) -> ImageAnalysis:
        self.calls += 1
        if self.error is not None:
            raise self.error
        height, width = image.shape[:2]
        return ImageAnalysis(width=width, height=height, faces=list(self.faces),
                             timings_ms={"detect": 1.0})


@pytest.fixture
def fake_pipeline(monkeypatch) -> FakePipeline:
    fake = FakePipeline()
    module = types.ModuleType("recognition.pipeline.analyse")
    module.analyse_image = fake.analyse_image
    module.DEFAULT_THRESHOLD = fake.DEFAULT_THRESHOLD
    monkeypatch.setitem(sys.modules, "recognition.pipeline.analyse", module)
    monkeypatch.setattr(recognition.pipeline, "analyse", module, raising=False)
    return fake


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    from recognition.tasks import analyse_photo

    ids: list[int] = []
    monkeypatch.setattr(analyse_photo, "delay", ids.append)
    return ids


def use_broker(url: str) -> None:
    """Point this process's Celery app at another Redis: forget its cached connection pools,
    which are bound to the old URL (Celery has no public way to do this)."""
    from faceweb.celery import app

    app._pool = app.amqp._producer_pool = None
    app.conf.broker_url = url


@pytest.fixture
def celery_broker():
    """``celery_broker(url)`` publishes to ``url`` for the rest of the test."""
    from faceweb.celery import app

    original = app.conf.broker_url
    yield use_broker
    use_broker(original)


# --- A real Redis and a real Celery worker, for the end-to-end tests ------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_group(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Signal a process started in its own session, children included, and reap it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class RedisServer:
    """A throwaway redis-server on a free port, in its own directory, without persistence."""

    def __init__(self, directory: Path):
        self.directory, self.port = directory, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, start_new_session=True,
        )
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        stop_group(self.process)


def worker_database_env() -> dict[str, str]:
    """Settings that point another process at this run's test database."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return {"SQLITE_PATH": str(db["NAME"])}
    return {"DATABASE_URL": f"postgres://{quote(db['USER'])}:{quote(db['PASSWORD'])}"
                            f"@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"}


class CeleryWorker:
    """``celery worker`` (prefork, one child, beat embedded) as a subprocess on this run's test
    database, ``redis_url`` and ``media_root``; ``env`` adds other settings. Output goes to
    ``log``."""

    def __init__(
        self, *, redis_url: str, media_root: Path, directory: Path, env: dict[str, str] | None = None
    ):
        self.directory, self.log = directory, directory / "worker.log"
        self.env = {**os.environ, **worker_database_env(), "REDIS_URL": redis_url,
                    "MEDIA_ROOT": str(media_root), "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            sys.executable, "-m", "celery", "-A", "faceweb", "worker", "--pool", "prefork",
            "--concurrency", "1", "--beat", "--schedule", str(self.directory / "beat"),
            "--hostname", f"e2e-{os.getpid()}@%h", "--loglevel", "INFO",
            "--without-gossip", "--without-mingle",
        ]
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL the parent and its child at once, as a crash or power cut would."""
        stop_group(self.process, signal.SIGKILL)

    def stop(self) -> None:
        stop_group(self.process)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (sudo apt-get install redis-server)")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()
