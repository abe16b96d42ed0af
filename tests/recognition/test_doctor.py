"""``manage.py doctor``: one line per check, exit status 1 when any fails, and --json."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from recognition import health
from recognition.management.processes import REDIS_SERVER, RedisServer, free_port
from recognition.models import Heartbeat
from tests.recognition.test_health import install_fake_models

pytestmark = pytest.mark.django_db

CHECKS = ["models", "database", "migrations", "media", "redis", "workers", "sweep", "settings",
          "deploy"]


@pytest.fixture
def broken(settings, tmp_path, celery_broker):
    """No model installed, nothing listening at REDIS_URL, and the development key with
    DEBUG off (pytest turns DEBUG off)."""
    settings.DEBUG, settings.SECRET_KEY = False, health.DEV_SECRET_KEY
    settings.FACEWEB_MODEL_DIR = tmp_path / "no-models"
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    celery_broker(settings.REDIS_URL)


def doctor(*args: str) -> tuple[str, CommandError | None]:
    """The command's output, and the error it exited with (None: status 0)."""
    out = io.StringIO()
    try:
        call_command("doctor", *args, "--timeout", "0.5", stdout=out, no_color=True)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def test_doctor_fails_naming_what_is_broken_and_what_to_do(broken, tmp_path):
    out, error = doctor()
    assert error is not None and error.returncode == 1
    lines = {line.split()[1]: line for line in out.splitlines()}
    assert list(lines) == CHECKS
    assert lines["models"].startswith(f"FAIL    models     embedder is not installed in "
                                      f"{tmp_path / 'no-models'}")
    assert "python manage.py install_models" in lines["models"]
    assert lines["redis"].startswith("FAIL    redis      unreachable: Error 111")
    assert "Start redis-server" in lines["redis"]
    assert lines["workers"].startswith("FAIL    workers    Redis is unreachable")
    assert lines["database"] == "ok      database   reads and writes"
    assert lines["media"].startswith("ok      media")
    assert lines["sweep"].startswith("warning sweep      the sweep has never run. Run exactly "
                                     "one `celery -A faceweb beat`")
    assert lines["settings"].startswith("FAIL    settings   SECRET_KEY is the development key")
    assert str(error) == "4 check(s) failed: models, redis, workers, settings"


def test_doctor_json_parses_and_says_the_same(broken):
    out, error = doctor("--json")
    assert error is not None and error.returncode == 1
    report = json.loads(out)
    assert report["ok"] is False
    assert [check["name"] for check in report["checks"]] == CHECKS
    statuses = {check["name"]: check["status"] for check in report["checks"]}
    assert {name for name, status in statuses.items() if status == "fail"} == {
        "models", "redis", "workers", "settings"}
    assert statuses["database"] == statuses["media"] == "ok"
    assert all(set(check) == {"name", "status", "reason", "fix"} for check in report["checks"])


def test_doctor_exits_0_when_only_warnings_remain(settings, tmp_path, celery_broker,
                                                  monkeypatch):
    """A deployment that works, on a Redis without persistence and behind plain HTTP."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (make test installs it)")
    settings.FACEWEB_MODEL_DIR = tmp_path / "models"
    install_fake_models(settings.FACEWEB_MODEL_DIR)
    settings.DEBUG, settings.SECRET_KEY = False, "k" * 50
    settings.ALLOWED_HOSTS, settings.FACEWEB_HTTPS = ["faces.example.org"], False
    monkeypatch.setattr(health, "workers_check",  # a real worker: tests/recognition/api
                        lambda **_: {"ok": True, "names": ["celery@host"]})
    Heartbeat.objects.create(name="sweep", at=timezone.now())
    (directory := tmp_path / "redis").mkdir()
    server = RedisServer(directory)
    server.start()
    try:
        settings.REDIS_URL = server.url
        celery_broker(server.url)
        out, error = doctor()
    finally:
        server.stop()
    assert error is None, out
    lines = {line.split()[1]: line for line in out.splitlines()}
    assert lines["redis"].startswith("warning redis      not persistent")
    assert lines["workers"] == "ok      workers    1 answered: celery@host"
    assert lines["settings"].startswith("warning settings   FACEWEB_HTTPS is off")
    assert lines["models"] == ("ok      models     embedder, expression, age_gender, "
                               "landmarks68, retinaface, mini_xception, fer_resnet, liveness, "
                               "mtcnn_pnet, mtcnn_rnet, mtcnn_onet installed, checksums match; "
                               "detector setting valid")
