"""Health reports the database, media, Redis, the workers, the sweep and the queue, for
monitoring: staff get the details, anyone else only the flags."""

import time

import pytest
from django.utils import timezone

from recognition.management.processes import REDIS_SERVER, RedisServer, free_port
from recognition.models import Heartbeat

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.slow
def test_health_is_ok_when_the_database_redis_and_a_worker_answer(
    api, staff, use_api_worker
):
    deadline = time.monotonic() + 120  # the worker process may still be starting
    while (response := api(staff).get("/api/v1/health/")).status_code != 200:
        if time.monotonic() > deadline:
            pytest.fail(f"{response.json()}\n{use_api_worker.log_tail()}")
        time.sleep(1)
    body = response.json()
    assert body["ok"] and body["database"]["ok"] and body["media"]["ok"] and body["redis"]["ok"]
    assert body["workers"]["names"] and body["workers"]["names"][0].startswith("e2e-")
    assert body["queue"] == {"waiting": 0, "reserved": 0, "pending": 0, "processing": 0,
                             "done": 0, "failed": 0}
    # Without credentials: only whether each part is up (no host names, no counts). The
    # world's beat may not have run its first sweep yet.
    anonymous = api().get("/api/v1/health/").json()
    assert set(anonymous.pop("sweep")) == {"ok"}
    assert anonymous == {"ok": True, "database": {"ok": True}, "media": {"ok": True},
                         "redis": {"ok": True}, "workers": {"ok": True}}


def test_health_is_503_naming_redis_when_it_is_down(api, staff, settings, celery_broker):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    celery_broker(settings.REDIS_URL)
    started = time.monotonic()
    response = api(staff).get("/api/v1/health/")
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False and body["database"] == body["media"] == {"ok": True}
    assert body["redis"]["ok"] is False and "error" in body["redis"]
    assert body["workers"]["ok"] is False and body["queue"]["waiting"] is None
    assert body["sweep"] == {"ok": False, "warning": "the sweep has never run"}


def test_health_ignores_a_bad_token(api, settings, celery_broker):
    """A monitor with a stale token still gets the health report, not a 401."""
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    celery_broker(settings.REDIS_URL)
    client = api()
    client.credentials(HTTP_AUTHORIZATION="Token stale")
    assert client.get("/api/v1/health/").json() == {
        "ok": False, "database": {"ok": True}, "media": {"ok": True}, "redis": {"ok": False},
        "workers": {"ok": False}, "sweep": {"ok": False},
    }


def test_staff_see_why_media_fails_and_others_only_that_it_does(
    api, staff, settings, celery_broker, tmp_path
):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    celery_broker(settings.REDIS_URL)
    (tmp_path / "a-file").write_text("")
    settings.MEDIA_ROOT = tmp_path / "a-file" / "media"
    response = api(staff).get("/api/v1/health/")
    assert response.status_code == 503
    assert response.json()["media"] == {
        "ok": False, "error": f"cannot create a file in {settings.MEDIA_ROOT}: Not a directory"}
    assert api().get("/api/v1/health/").json()["media"] == {"ok": False}


def test_staff_see_redis_persistence_and_the_sweeps_age_and_others_only_flags(
    api, staff, settings, celery_broker, tmp_path
):
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (make test installs it)")
    Heartbeat.objects.create(name="sweep", at=timezone.now())
    server = RedisServer(tmp_path)  # without persistence
    server.start()
    try:
        settings.REDIS_URL = server.url
        celery_broker(server.url)
        staff_body = api(staff).get("/api/v1/health/").json()
        anonymous = api().get("/api/v1/health/").json()
    finally:
        server.stop()
    assert staff_body["redis"]["ok"] is True and staff_body["redis"]["persistent"] is False
    assert staff_body["redis"]["warning"].startswith("not persistent")
    assert staff_body["sweep"]["ok"] is True and 0 <= staff_body["sweep"]["age_s"] < 60
    assert staff_body["workers"] == {"ok": False, "names": [],
                                     "error": "no worker answered within 1 s"}
    assert anonymous == {"ok": False, "database": {"ok": True}, "media": {"ok": True},
                         "redis": {"ok": True}, "workers": {"ok": False}, "sweep": {"ok": True}}
