"""The probes behind /health/, the dashboard and ``manage.py doctor``, against real things: a
tmpfs that is read-only or full, a locked SQLite file, throwaway redis-servers."""

import hashlib
import json
import os
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from recognition import health
from recognition.management.processes import REDIS_SERVER, RedisServer, free_port
from recognition.models import Heartbeat
from tests.worlds import fill, read_only, tmpfs

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_server(tmp_path, settings):
    """``redis_server(*args)``: a throwaway redis-server started with those options, and
    REDIS_URL pointing at it, for the rest of the test."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (make test installs it)")
    servers = []

    def start(*args: str) -> RedisServer:
        (directory := tmp_path / f"redis-{len(servers)}").mkdir()
        server = RedisServer(directory, list(args))
        server.start()
        servers.append(server)
        settings.REDIS_URL = server.url
        return server

    yield start
    for server in servers:
        server.stop()


def test_media_is_ok_when_a_file_can_be_written_and_leaves_nothing(settings):
    assert health.media_check() == {"ok": True}
    assert list(Path(settings.MEDIA_ROOT).iterdir()) == [Path(settings.MEDIA_ROOT) / "uploading"]


def test_media_fails_naming_the_folder_when_it_cannot_be_made(settings, tmp_path):
    (tmp_path / "a-file").write_text("")
    settings.MEDIA_ROOT = tmp_path / "a-file" / "media"
    report = health.media_check()
    assert report == {"ok": False,
                      "error": f"cannot create a file in {settings.MEDIA_ROOT}: Not a directory"}


def test_media_fails_on_a_read_only_disk_and_leaves_nothing(settings, tmp_path):
    with tmpfs(tmp_path / "media-ro", size="1m") as mounted:
        read_only(mounted)
        settings.MEDIA_ROOT = mounted
        report = health.media_check()
        assert report == {"ok": False,
                          "error": f"cannot create a file in {mounted}: Read-only file system"}
        assert list(mounted.iterdir()) == []


def test_media_fails_on_a_full_disk_and_leaves_nothing(settings, tmp_path):
    with tmpfs(tmp_path / "media-full", size="64k") as mounted:
        fill(mounted)
        settings.MEDIA_ROOT = mounted
        report = health.media_check()
        assert report == {"ok": False,
                          "error": f"cannot write to {mounted}: No space left on device"}
        assert [p.name for p in mounted.iterdir()] == ["filler"]


def test_the_database_probe_commits_a_heartbeat():
    before = timezone.now()
    assert health.database_check(timeout=1) == {"ok": True}
    assert Heartbeat.objects.get(name="health").at >= before
    assert health.database_check(timeout=1) == {"ok": True}  # again: an update, not a clash


def test_a_database_that_answers_reads_but_refuses_writes_is_not_ok():
    if connection.vendor != "sqlite":
        pytest.skip("query_only is SQLite's")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA query_only = ON")
    try:
        report = health.database_check(timeout=1)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA query_only = OFF")
    assert report == {"ok": False, "error": "not writable: attempt to write a readonly database"}


@pytest.mark.django_db(transaction=True)
def test_a_locked_database_fails_within_the_timeout_not_the_busy_timeout():
    if connection.vendor != "sqlite":
        pytest.skip("the busy timeout is SQLite's")
    holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # the write lock, as a long job would hold it
        started = time.monotonic()
        report = health.database_check(timeout=0.3)
        elapsed = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert report == {"ok": False, "error": "not writable: database is locked"}
    assert 0.25 < elapsed < 3  # the settings' busy timeout is 20 s
    with connection.cursor() as cursor:  # and the connection waits as long as before again
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] == connection.settings_dict["OPTIONS"]["timeout"] * 1000


def test_redis_without_persistence_is_ok_with_a_warning(redis_server):
    redis_server()
    report = health.redis_check(timeout=1)
    assert report["ok"] is True and report["persistent"] is False
    assert report["warning"].startswith("not persistent")


def test_redis_with_an_append_only_file_is_persistent(redis_server):
    redis_server("--appendonly", "yes")
    assert health.redis_check(timeout=1) == {"ok": True, "persistent": True}


def test_redis_with_snapshots_is_persistent(redis_server):
    redis_server("--save", "3600 1")
    assert health.redis_check(timeout=1) == {"ok": True, "persistent": True}


def test_redis_that_refuses_config_has_unknown_persistence(redis_server):
    redis_server("--rename-command", "CONFIG", "")  # as some managed services do
    report = health.redis_check(timeout=1)
    assert report["ok"] is True and "persistent" not in report
    assert report["warning"].startswith("persistence unknown")


def test_redis_on_a_closed_port_is_unreachable_at_once(settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    started = time.monotonic()
    report = health.redis_check(timeout=1)
    assert time.monotonic() - started < 2
    assert report["ok"] is False and report["error"].startswith("unreachable: Error 111")


def test_workers_are_not_asked_when_redis_is_down():
    assert health.workers_check(timeout=1, redis_ok=False) == {
        "ok": False, "names": [], "error": "Redis is unreachable, so workers cannot be asked."}


def test_workers_fail_when_none_answers_the_ping(redis_server, celery_broker):
    celery_broker(redis_server().url)
    assert health.workers_check(timeout=0.2) == {
        "ok": False, "names": [], "error": "no worker answered within 0.2 s"}


def test_the_sweep_warns_when_it_never_ran_or_ran_too_long_ago(settings):
    settings.FACEWEB_SWEEP_INTERVAL_S = 10
    limit = 3 * 10 + health.SWEEP_MARGIN_S
    assert health.sweep_check() == {"ok": False, "warning": "the sweep has never run"}
    now = timezone.now()
    Heartbeat.objects.create(name="sweep", at=now - timedelta(seconds=12))
    assert health.sweep_check(now=now) == {"ok": True, "age_s": 12.0}
    Heartbeat.objects.filter(name="sweep").update(at=now - timedelta(seconds=limit + 1))
    assert health.sweep_check(now=now) == {
        "ok": False, "age_s": limit + 1.0,
        "warning": f"last ran {limit + 1} s ago (expected within {limit} s)"}


MODELS = ["embedder", "expression", "age_gender", "landmarks68", "retinaface", "mini_xception",
          "fer_resnet", "liveness", "mtcnn_pnet", "mtcnn_rnet", "mtcnn_onet"]


def install_fake_models(directory: Path) -> None:
    """Weight files of a few bytes each, recorded in installed.json as the loader does."""
    directory.mkdir(parents=True, exist_ok=True)
    record = {}
    for name in MODELS:
        content = f"{name} weights".encode()
        (directory / f"{name}.tflite").write_bytes(content)
        record[name] = {"file": f"{name}.tflite", "sha256": hashlib.sha256(content).hexdigest()}
    (directory / "installed.json").write_text(json.dumps(record))


def test_models_are_ok_when_every_file_matches_its_checksum(tmp_path):
    install_fake_models(tmp_path)
    assert health.models_check(directory=tmp_path) == {"ok": True, "installed": MODELS}


def test_models_fail_when_missing_or_corrupt(tmp_path):
    assert health.models_check(directory=tmp_path) == {
        "ok": False, "error": "; ".join(f"{name} is not installed in {tmp_path}"
                                        for name in MODELS)}
    install_fake_models(tmp_path)
    (tmp_path / "expression.tflite").write_bytes(b"flipped bits")
    assert health.models_check(directory=tmp_path) == {
        "ok": False,
        "error": f"{tmp_path / 'expression.tflite'} is corrupt (checksum mismatch)"}


def test_models_fail_when_the_detector_setting_names_no_detector(tmp_path, monkeypatch):
    install_fake_models(tmp_path)
    monkeypatch.setenv("FACEWEB_DETECTOR", "hog")
    check = health.models_check(directory=tmp_path)
    assert not check["ok"] and "FACEWEB_DETECTOR value 'hog'" in check["error"]


def test_checking_the_models_does_not_import_tensorflow(tmp_path):
    import subprocess
    import sys

    code = ("import django, os, sys; os.environ['DJANGO_SETTINGS_MODULE'] = 'faceweb.settings';"
            "django.setup(); from pathlib import Path; from recognition import health;"
            f"health.models_check(directory=Path({str(tmp_path)!r}));"
            "print('tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[2], env=os.environ, check=True)
    assert result.stdout.strip() == "False"


def test_settings_fail_with_debug_off_and_the_development_key(settings):
    settings.DEBUG, settings.SECRET_KEY = False, health.DEV_SECRET_KEY
    settings.ALLOWED_HOSTS, settings.FACEWEB_HTTPS = [], True
    assert health.settings_check() == {
        "ok": False,
        "error": "SECRET_KEY is the development key; ALLOWED_HOSTS is empty, so every request "
                 "is refused"}


def test_debug_on_and_plain_http_are_only_warnings(settings):
    settings.DEBUG, settings.FACEWEB_HTTPS, settings.ALLOWED_HOSTS = True, False, ["localhost"]
    report = health.settings_check()
    assert report["ok"] is True
    assert report["warning"] == ("DEBUG is on (a development set-up); FACEWEB_HTTPS is off "
                                 "(cookies may travel unencrypted)")


def test_health_is_ok_with_a_stale_sweep_and_a_redis_without_persistence(
    redis_server, monkeypatch
):
    """Both only warn: photos are still analysed."""
    redis_server()
    monkeypatch.setattr(health, "workers_check",
                        lambda **_: {"ok": True, "names": ["w@h"]})  # a real one: tests/api
    report = health.system_health(timeout=1)
    assert report["ok"] is True
    assert report["redis"]["persistent"] is False and report["sweep"]["ok"] is False
    assert report["queue"] == {"waiting": 0, "reserved": 0, "pending": 0, "processing": 0,
                               "done": 0, "failed": 0}
