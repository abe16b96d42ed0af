"""A throwaway test database for commands that measure the app with data of their own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def throwaway_database(purpose: str) -> Iterator[None]:
    """Create a test database (SQLite's in memory; others one named for ``purpose`` and this
    process, so a test run's database is never touched), use it, and drop it."""
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()
    if connection.vendor != "sqlite":
        connection.settings_dict.setdefault("TEST", {})["NAME"] = (
            f"{connection.settings_dict['NAME']}_{purpose}_{os.getpid()}")
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(name, verbosity=0)
        teardown_test_environment()
