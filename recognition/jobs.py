"""What the database cannot know about jobs: whether a published job still exists, and whether
the worker process holding a claim is alive.

- **Job markers.** Publishing a photo's job also sets ``faceweb:job:<photo id>`` in the broker's
  Redis, after the message itself; the job deletes it when it starts. A marker lives and dies
  with the queue it sits beside: a Redis that comes back empty (no persistence, a lost disk,
  the last second an append-only file had not written) has lost the jobs *and* their markers.
  So a pending photo that was queued and has no marker lost its job, and the sweep queues it
  again at once instead of after a timeout. Written after the message, a marker never
  outlives a lost message; one left behind by a job that started first expires within a day.
- **Claim holders.** A claim records the worker process (``machine:pid``, the machine named
  so that two hosts or containers sharing a host name never pass for one); on the same
  machine a dead pid means the claim is stale however recent it is.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

import redis

MARKER_TTL_S = 24 * 3600
TIMEOUT_S = 2.0

_clients: dict[str, redis.Redis] = {}


def _client() -> redis.Redis:
    """A client of the broker's Redis (Celery's own URL, so tests that move the broker move
    this too)."""
    from faceweb.celery import app

    url = app.conf.broker_url
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(
            url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S
        )
    return _clients[url]


def claim_once(key: str, *, ttl_s: int) -> bool:
    """Claim ``key`` for ``ttl_s`` seconds: True the first time, False while it lasts (every
    process sees the same Redis). Raises redis.RedisError when Redis is down."""
    return bool(_client().set(key, b"1", nx=True, ex=ttl_s))


def _key(photo_id: int) -> str:
    return f"faceweb:job:{photo_id}"


def marker_set(photo_id: int) -> None:
    """Record that a job for ``photo_id`` was published. Raises redis.RedisError when Redis is
    unreachable."""
    _client().set(_key(photo_id), 1, ex=MARKER_TTL_S)


def marker_clear(photo_id: int) -> None:
    """The job started: best effort, a marker left behind only delays nothing and expires."""
    with contextlib.suppress(redis.RedisError):
        _client().delete(_key(photo_id))


def markers_missing(photo_ids: list[int]) -> set[int]:
    """Those of ``photo_ids`` without a marker. Raises redis.RedisError when Redis is down."""
    if not photo_ids:
        return set()
    pipe = _client().pipeline(transaction=False)
    for photo_id in photo_ids:
        pipe.exists(_key(photo_id))
    return {pid for pid, found in zip(photo_ids, pipe.execute(), strict=True) if not found}


def _machine() -> str:
    """This machine as a claim names it: the host name, and what tells apart machines that
    share one (the boot) and containers that share a machine (the pid namespace)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()}#{boot}-{namespace}"


def this_process() -> str:
    """``machine:pid`` of this process, as a claim records it."""
    return f"{_machine()}:{os.getpid()}"


def holder_is_gone(claimed_by: str) -> bool:
    """Whether the process that wrote ``claimed_by`` is known to have exited: a process of this
    machine that is no more. One elsewhere cannot be checked: False."""
    machine, _, pid = claimed_by.rpartition(":")
    if machine != _machine() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False
