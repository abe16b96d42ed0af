"""Probes of a running deployment: database, media storage, Redis, workers, the sweep, the
models and the settings. ``/health/``, the dashboard and ``manage.py doctor`` all ask here.

Each probe returns a dict with ``ok`` and, when something is wrong, ``error`` (a failure) or
``warning`` (works, but needs attention), in words that say what failed. None raises.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import redis
from django.conf import settings
from django.core import checks
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from recognition import selectors
from recognition.models import Heartbeat

# The parts whose failure makes the whole unhealthy; the sweep only warns.
VITAL = ("database", "media", "redis", "workers")
# The sweep runs every FACEWEB_SWEEP_INTERVAL_S; it waits its turn in the queue behind jobs
# already taken, so a few missed beats plus this margin mean beat or the workers are not running.
SWEEP_MISSED_BEATS = 3
SWEEP_MARGIN_S = 30
# faceweb/settings.py's key when DEBUG is on and SECRET_KEY is unset.
DEV_SECRET_KEY = "dev-insecure-key"


def system_health(*, timeout: float = 1.0) -> dict:
    """Every probe of a running deployment, and ``ok``: the database, media, Redis and at
    least one worker work (``VITAL``). Each probe gives up after about ``timeout`` seconds.

    ``queue.waiting`` is the jobs in Redis not yet taken by a worker, ``queue.reserved`` those
    taken but not finished (a job is acknowledged only when done); photo counts by status
    come from the database.
    """
    parts = {
        "database": database_check(timeout=timeout),
        "media": media_check(),
        "redis": redis_check(timeout=timeout),
    }
    parts["workers"] = workers_check(timeout=timeout, redis_ok=parts["redis"]["ok"])
    parts["sweep"] = sweep_check()
    queue: dict = {"waiting": None, "reserved": None}
    with contextlib.suppress(DatabaseError):
        queue.update(selectors.photo_status_counts())
    if parts["redis"]["ok"]:
        queue.update(queue_depth(timeout=timeout))
    return {"ok": all(parts[part]["ok"] for part in VITAL), **parts, "queue": queue}


def database_check(*, timeout: float) -> dict:
    """The database answers a read and commits a write (``Heartbeat`` "health"): one that
    answers reads may still refuse writes (full disk, read-only, locked). The write waits at
    most ``timeout`` seconds for a lock."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return {"ok": False, "error": f"not answering: {exc}"}
    try:
        with _lock_wait(timeout), transaction.atomic():
            if connection.vendor == "postgresql":
                # Holds until the outermost transaction ends (this one, from a view).
                with connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL lock_timeout = {int(timeout * 1000)}")
            Heartbeat.objects.update_or_create(name="health", defaults={"at": timezone.now()})
    except DatabaseError as exc:
        return {"ok": False, "error": f"not writable: {exc}"}
    return {"ok": True}


@contextlib.contextmanager
def _lock_wait(timeout: float) -> Iterator[None]:
    """On SQLite, wait at most ``timeout`` for the write lock instead of the busy timeout of
    the settings (20 s, right for real work, far too long for a probe), then restore it."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        saved = int(cursor.fetchone()[0])
        cursor.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {saved}")


def media_check() -> dict:
    """MEDIA_ROOT takes a new file: a uniquely named ``.health-*`` file is created, written,
    synced to disk and removed. Whichever step fails, no file is left behind. With photos in
    a bucket (FACEWEB_S3_BUCKET), the same through the storage."""
    if settings.FACEWEB_S3_BUCKET:
        return _bucket_check()
    root = Path(settings.MEDIA_ROOT)
    path = root / f".health-{secrets.token_hex(8)}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        return _media_failed(f"cannot create a file in {root}", exc)
    failed = None
    try:
        try:
            os.write(descriptor, b"faceweb health probe\n")
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    except OSError as exc:
        failed = _media_failed(f"cannot write to {root}", exc)
    try:
        path.unlink()
    except OSError as exc:
        failed = failed or _media_failed(f"cannot remove {path}", exc)
    return failed or {"ok": True}


def _bucket_check() -> dict:
    from botocore.exceptions import BotoCoreError, ClientError
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    failures = (BotoCoreError, ClientError, OSError)  # no such bucket, refused, unreachable
    try:
        name = default_storage.save(f".health-{secrets.token_hex(8)}",
                                    ContentFile(b"faceweb health probe\n"))
    except failures as exc:
        return {"ok": False, "error": f"cannot store a file in bucket "
                f"{settings.FACEWEB_S3_BUCKET}: {exc}"}
    try:
        default_storage.delete(name)
    except failures as exc:
        return {"ok": False, "error": f"cannot remove {name} from the bucket: {exc}"}
    return {"ok": True}


def _media_failed(step: str, exc: OSError) -> dict:
    return {"ok": False, "error": f"{step}: {exc.strerror or exc}"}


def _redis(timeout: float) -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout
    )


def redis_check(*, timeout: float) -> dict:
    """Redis answers, and ``persistent``: whether it keeps its data across a restart (an
    append-only file or snapshots), left out when it will not say (a managed Redis may refuse
    CONFIG). Not persistent, or unknown, is a warning: a restart loses the queue, which the
    sweep rebuilds."""
    try:
        with _redis(timeout) as client:
            client.ping()
            persistent: bool | None = bool(client.info("persistence").get("aof_enabled"))
            if not persistent:
                try:
                    persistent = bool(client.config_get("save").get("save", "").strip())
                except redis.ResponseError:
                    persistent = None
    except redis.RedisError as exc:
        return {"ok": False, "error": f"unreachable: {exc}"}
    if persistent is None:
        return {"ok": True, "warning": "persistence unknown (CONFIG refused): a restart may "
                                       "lose the queue"}
    report: dict = {"ok": True, "persistent": persistent}
    if not persistent:
        report["warning"] = "not persistent (no append-only file, no snapshots): a restart " \
                            "loses the queued jobs until the sweep queues them again"
    return report


def queue_depth(*, timeout: float) -> dict:
    """``waiting``: jobs in Redis not yet taken; ``reserved``: taken, not finished (None when
    Redis does not answer)."""
    from faceweb.celery import app

    try:
        with _redis(timeout) as client:
            return {
                "waiting": client.llen(app.conf.task_default_queue),
                "reserved": client.hlen("unacked"),  # kombu's Redis transport
            }
    except redis.RedisError:
        return {"waiting": None, "reserved": None}


def workers_check(*, timeout: float, redis_ok: bool = True) -> dict:
    """At least one Celery worker answers a ping within ``timeout`` (which it always waits:
    every worker that answers in time is listed in ``names``). Not asked when Redis is down
    (``redis_ok`` False): the ping would wait on the broker's reconnections instead."""
    from faceweb.celery import app

    if not redis_ok:
        return {"ok": False, "names": [], "error": "Redis is unreachable, so workers cannot be "
                                                    "asked."}
    try:
        replies = app.control.ping(timeout=timeout)
    except (redis.RedisError, BrokerError) as exc:
        return {"ok": False, "names": [], "error": f"cannot ask them: {exc}"}
    names = sorted(name for reply in replies for name in reply)
    if not names:
        return {"ok": False, "names": [], "error": f"no worker answered within {timeout:g} s"}
    return {"ok": True, "names": names}


def sweep_check(*, now: datetime | None = None) -> dict:
    """The sweep (Celery beat, every FACEWEB_SWEEP_INTERVAL_S) ran lately: ``age_s`` since
    its last run (absent if it never ran); stale after ``SWEEP_MISSED_BEATS`` intervals plus ``SWEEP_MARGIN_S``. A
    warning, not a failure: photos still get analysed, lost jobs are not found again."""
    limit = SWEEP_MISSED_BEATS * settings.FACEWEB_SWEEP_INTERVAL_S + SWEEP_MARGIN_S
    try:
        at = Heartbeat.objects.filter(name="sweep").values_list("at", flat=True).first()
    except DatabaseError as exc:
        return {"ok": False, "warning": f"unknown (database: {exc})"}
    if at is None:
        return {"ok": False, "warning": "the sweep has never run"}
    age = round(((now or timezone.now()) - at).total_seconds(), 1)
    if age > limit:
        return {"ok": False, "age_s": age, "warning": f"last ran {age:.0f} s ago (expected "
                                                      f"within {limit} s)"}
    return {"ok": True, "age_s": age}


def models_check(*, directory: Path) -> dict:
    """Every model file is installed in ``directory`` with the checksum that its
    ``installed.json`` records and FACEWEB_DETECTOR names a registered detector: the loader's
    own checks, without loading a network."""
    from recognition.pipeline import detectors, loader  # numpy and OpenCV, not TensorFlow

    problems = loader.installed_problems(directory)
    try:
        detectors.default_name()
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        return {"ok": False, "error": "; ".join(problems)}
    return {"ok": True, "installed": [*loader.CONVERTED, *loader.PACKAGED]}


def settings_check() -> dict:
    """Settings fit for a deployment: with DEBUG off, a real SECRET_KEY and ALLOWED_HOSTS set
    (failures); DEBUG on, any host allowed or FACEWEB_HTTPS off (warnings)."""
    errors, warnings = [], []
    if settings.DEBUG:
        warnings.append("DEBUG is on (a development set-up)")
    elif settings.SECRET_KEY == DEV_SECRET_KEY:
        errors.append("SECRET_KEY is the development key")
    if not settings.ALLOWED_HOSTS and not settings.DEBUG:
        errors.append("ALLOWED_HOSTS is empty, so every request is refused")
    if "*" in settings.ALLOWED_HOSTS:
        warnings.append("ALLOWED_HOSTS allows any host")
    if not settings.FACEWEB_HTTPS:
        warnings.append("FACEWEB_HTTPS is off (cookies may travel unencrypted)")
    report: dict = {"ok": not errors}
    if errors:
        report["error"] = "; ".join(errors)
    if warnings:
        report["warning"] = "; ".join(warnings)
    return report


def deploy_checks() -> dict:
    """Django's system checks with the deployment ones (``manage.py check --deploy``),
    silenced ones left out: ``errors`` and ``warnings`` list their ids."""
    found = [m for m in checks.run_checks(include_deployment_checks=True) if not m.is_silenced()]
    errors = sorted(m.id or "?" for m in found if m.is_serious())
    warnings = sorted(m.id or "?" for m in found if not m.is_serious()
                      and m.level >= checks.WARNING)
    return {"ok": not errors, "errors": errors, "warnings": warnings}
