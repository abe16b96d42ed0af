"""Health reports the database, Redis, the workers and the queue, for monitoring."""

import time

import pytest

from tests.worlds import free_port

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
    assert body["ok"] and body["database"]["ok"] and body["redis"]["ok"]
    assert body["workers"]["names"] and body["workers"]["names"][0].startswith("e2e-")
    assert body["queue"] == {"waiting": 0, "reserved": 0, "pending": 0, "processing": 0,
                             "done": 0, "failed": 0}
    # Without credentials: only whether each part is up (no host names, no counts).
    assert api().get("/api/v1/health/").json() == {
        "ok": True, "database": {"ok": True}, "redis": {"ok": True}, "workers": {"ok": True}
    }


def test_health_is_503_naming_redis_when_it_is_down(api, staff, settings, celery_broker):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    celery_broker(settings.REDIS_URL)
    started = time.monotonic()
    response = api(staff).get("/api/v1/health/")
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False and body["database"] == {"ok": True}
    assert body["redis"]["ok"] is False and "error" in body["redis"]
    assert body["workers"]["ok"] is False and body["queue"]["waiting"] is None


def test_health_ignores_a_bad_token(api, settings, celery_broker):
    """A monitor with a stale token still gets the health report, not a 401."""
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    celery_broker(settings.REDIS_URL)
    client = api()
    client.credentials(HTTP_AUTHORIZATION="Token stale")
    assert client.get("/api/v1/health/").json() == {
        "ok": False, "database": {"ok": True}, "redis": {"ok": False}, "workers": {"ok": False}
    }
