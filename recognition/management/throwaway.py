"""A throwaway test database for commands that measure the app with data of their own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def throwaway_database(purpose: str, *, folder: Path | None = None) -> Iterator[None]:
    """Create a test database (named for ``purpose`` and this process, so a test run's
    database is never touched; SQLite's in memory, or a file in ``folder`` that other
    processes can open too), use it, and drop it."""
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()
    test = connection.settings_dict.setdefault("TEST", {})
    if connection.vendor != "sqlite":
        test["NAME"] = f"{connection.settings_dict['NAME']}_{purpose}_{os.getpid()}"
    elif folder is not None:
        test["NAME"] = str(folder / f"{purpose}.sqlite3")
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(name, verbosity=0)
        teardown_test_environment()
