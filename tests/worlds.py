"""A real Redis and a real Celery worker process, for the end-to-end tests.

A *world* is one throwaway ``redis-server``, one media folder and one ``celery worker``
(prefork, one child, beat embedded) on this run's test database. Every module that needs a
worker opens its own world in a module-scoped fixture (``open_world``), and the world is torn
down when that module ends, so:

- a worker and its beat only ever see the photos of their own module: they share the test
  database with everything else, and a sweep would otherwise re-queue another module's photo
  into a worker that cannot find its file;
- at most one world runs at a time. ``CeleryWorker.start`` refuses to start while another
  world's worker is alive, so an overlap fails loudly instead of flaking once in 15 runs.

``photo_report`` is the message of every assertion about a photo's status: the photo's
status, error and attempts, and the tail of the worker's log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from recognition.management.processes import REDIS_SERVER, RedisServer, database_env, stop_group

REPO = Path(__file__).resolve().parents[1]
WORKER_START_S = 120  # a loaded 2-core machine: imports alone take seconds


@contextlib.contextmanager
def tmpfs(directory: Path, *, size: str = "1m") -> Iterator[Path]:
    """A small tmpfs mounted on ``directory`` (made if needed): a disk that fills up, or (see
    ``read_only``) one that cannot be written. Needs root; skips the test, saying why, where
    mounting is refused."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs (a full or read-only disk) needs root, as in CI")
    directory.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                              str(directory)], capture_output=True, text=True, check=False)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def read_only(directory: Path) -> None:
    """Make a ``tmpfs`` read-only, as a filesystem remounted after errors would be."""
    subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True)


def fill(directory: Path) -> None:
    """Write into ``directory`` until its filesystem is full."""
    with contextlib.suppress(OSError), (directory / "filler").open("wb") as f:
        while True:
            f.write(b"\0" * 4096)
            f.flush()


class CeleryWorker:
    """``celery worker`` (prefork, one child, beat embedded) as a subprocess on this run's test
    database, ``redis_url`` and ``media_root``; ``env`` adds other settings. Output goes to
    ``log``."""

    running: ClassVar[set[CeleryWorker]] = set()  # started and not yet stopped

    def __init__(
        self, *, redis_url: str, media_root: Path, directory: Path, env: dict[str, str] | None = None
    ):
        self.directory, self.log = directory, directory / "worker.log"
        self.env = {**os.environ, **database_env(), "REDIS_URL": redis_url,
                    "MEDIA_ROOT": str(media_root), **(env or {})}
        self.process: subprocess.Popen | None = None

    def start(self, *, wait: bool = True) -> None:
        """Start the worker; with ``wait``, return once it listens for jobs."""
        others = [w for w in CeleryWorker.running if w is not self and w.process.poll() is None]
        if others:
            raise RuntimeError(
                f"another world's worker is still running (logging to {others[0].log}): "
                "worlds must not overlap, or one's sweep takes the other's photos"
            )
        command = [
            sys.executable, "-m", "celery", "-A", "faceweb", "worker", "--pool", "prefork",
            "--concurrency", "1", "--beat", "--schedule", str(self.directory / "beat"),
            "--hostname", f"e2e-{os.getpid()}@%h", "--loglevel", "INFO",
            "--without-gossip", "--without-mingle",
        ]
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        CeleryWorker.running.add(self)
        deadline = time.monotonic() + WORKER_START_S
        while wait and " ready." not in self.log.read_text(errors="replace")[offset:]:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"The Celery worker did not start:\n{self.log_tail()}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the parent and its child at once, as a crash or power cut would."""
        stop_group(self.process, signal.SIGKILL)
        CeleryWorker.running.discard(self)

    def stop(self) -> None:
        stop_group(self.process)
        CeleryWorker.running.discard(self)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass(frozen=True)
class World:
    redis: RedisServer
    media_root: Path
    worker: CeleryWorker


@contextlib.contextmanager
def open_world(tmp_path_factory, name: str, env: dict[str, str] | None = None) -> Iterator[World]:
    """Start a world (see the module docstring) and tear it down, worker first, on exit.
    Use it from a module-scoped fixture that depends on ``django_db_setup``."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (make test installs it)")
    directory = tmp_path_factory.mktemp(name)
    (media_root := directory / "media").mkdir()
    redis = RedisServer(directory)
    redis.start()
    try:
        worker = CeleryWorker(redis_url=redis.url, media_root=media_root, directory=directory,
                              env=env)
        worker.start()
        try:
            yield World(redis=redis, media_root=media_root, worker=worker)
        finally:
            worker.stop()
    finally:
        redis.stop()


def photo_report(photo, worker: CeleryWorker) -> str:
    """What to show when an assertion about ``photo``'s status fails."""
    photo.refresh_from_db()
    return (f"photo {photo.pk}: status {photo.status!r}, error {photo.error!r}, "
            f"attempts {photo.attempts}\n--- the last lines of {worker.log}:\n"
            f"{worker.log_tail()}")
