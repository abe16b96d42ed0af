"""Processes the end-to-end tests and the benchmarks start for real: a throwaway Redis, and
the settings that point a worker process at this process's database and broker."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

REDIS_SERVER = shutil.which("redis-server")


def use_broker(url: str) -> None:
    """Point this process's Celery app at another Redis: forget its cached connection pools,
    which are bound to the old URL (Celery has no public way to do this)."""
    from faceweb.celery import app

    app._pool = app.amqp._producer_pool = None
    app.conf.broker_url = url


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
    """A throwaway redis-server on a free port, in its own directory, without persistence
    unless ``args`` (more redis-server options, e.g. ``["--appendonly", "yes"]``) say so."""

    def __init__(self, directory: Path, args: list[str] | None = None):
        self.directory, self.port, self.args = directory, free_port(), args or []
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory), *self.args],
            stdout=subprocess.DEVNULL, start_new_session=True,
        )
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        stop_group(self.process)

    def kill(self) -> None:
        """SIGKILL, as a crash would: without persistence, every queued job is lost."""
        stop_group(self.process, signal.SIGKILL)


def database_env() -> dict[str, str]:
    """Settings that point another process at this process's database (a test database
    too)."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return {"SQLITE_PATH": str(db["NAME"])}
    return {"DATABASE_URL": f"postgres://{quote(db['USER'])}:{quote(db['PASSWORD'])}"
                            f"@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"}
