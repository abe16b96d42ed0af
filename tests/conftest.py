"""Fixtures shared by every test package.

- ``data_dir`` / ``samples_dir``: the evaluation data in ``../shared/data`` (override with
  FACEWEB_DATA_DIR); tests that need it are skipped with the reason when it is absent.
- ``celery_broker(url)``: publish to another Redis for the rest of the test;
  ``enter(world)``: publish to a world's Redis and store files where its worker reads them
  (tests/worlds.py), for the rest of the test; returns its worker.
- The test database is a SQLite *file* in a fresh temporary directory for each pytest run,
  so that several runs in one checkout never share it, and so that a worker subprocess
  (tests/recognition/test_end_to_end.py) can open the same database.
"""

import os
from pathlib import Path

import pytest

from recognition.management.processes import use_broker
from tests.worlds import CeleryWorker, World

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("FACEWEB_DATA_DIR", REPO / ".." / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared evaluation data (``../shared/data``), or skip."""
    if not DATA_DIR.is_dir():
        pytest.skip(f"evaluation data not found at {DATA_DIR} (set FACEWEB_DATA_DIR)")
    return DATA_DIR


@pytest.fixture(scope="session")
def samples_dir(data_dir: Path) -> Path:
    """``samples/`` of the shared data: photos of Obama, Biden, groups; or skip."""
    samples = data_dir / "samples"
    if not samples.is_dir():
        pytest.skip(f"sample photos not found at {samples}")
    return samples


@pytest.fixture(scope="session")
def django_db_modify_db_settings(tmp_path_factory) -> None:
    """Put the SQLite test database in a file of its own (see module docstring)."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        db.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.fixture
def celery_broker():
    """``celery_broker(url)`` publishes to ``url`` for the rest of the test."""
    from faceweb.celery import app

    original = app.conf.broker_url
    yield use_broker
    use_broker(original)


@pytest.fixture
def enter(settings, celery_broker):
    """``enter(world)`` makes this test use ``world`` (see the module docstring)."""

    def enter_world(world: World) -> CeleryWorker:
        settings.MEDIA_ROOT = world.media_root
        settings.REDIS_URL = world.redis.url
        celery_broker(world.redis.url)
        return world.worker

    return enter_world


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test that ran beside a world's worker (tests/worlds.py) reports every photo's
    status, error and attempts, and the tail of the worker's log: browser tests see a photo
    only through the page, and a timeout there says nothing of why."""
    report = yield
    if report.failed and call.when == "call":
        for worker in CeleryWorker.running:
            report.sections.append(("photos", _photos_table()))
            report.sections.append((f"the last lines of {worker.log}", worker.log_tail()))
    return report


def _photos_table() -> str:
    from recognition.models import Photo

    try:
        rows = Photo.objects.order_by("pk").values_list("pk", "status", "attempts", "error")
        return "\n".join(f"photo {pk}: {status}, attempts {attempts}, error {error!r}"
                         for pk, status, attempts, error in rows) or "(none)"
    except Exception as exc:  # noqa: BLE001 - a report must not hide the test's own failure
        return f"(could not read them: {exc})"
