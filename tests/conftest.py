"""Fixtures shared by every test package.

- ``data_dir`` / ``samples_dir``: the evaluation data in ``../shared/data`` (override with
  FACEWEB_DATA_DIR); tests that need it are skipped with the reason when it is absent.
- The test database is a SQLite *file* in a fresh temporary directory for each pytest run,
  so that several runs in one checkout never share it, and so that a worker subprocess
  (tests/recognition/test_end_to_end.py) can open the same database.
"""

import os
from pathlib import Path

import pytest

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
