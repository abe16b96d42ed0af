"""Fixtures for the API tests (on top of tests/recognition/conftest.py).

- ``user``, ``other_user``, ``staff``: accounts; ``api(who)`` an APIClient signed in with
  that account's token (``who`` None: anonymous).
- Throttle counts are cleared before each test (they live in the process's cache).
- ``api_worker``: a real Celery worker process on the test Redis, shared by this session's
  API tests that need one. It uses its own Redis database (``/1``), so it never takes jobs
  meant for tests/recognition/test_end_to_end.py's worker, and a MEDIA_ROOT of its own:
  tests using it must use ``api_media_root`` too (``use_api_worker``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.recognition.conftest import CeleryWorker


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Accounts are made in every test: the production hasher is slow on purpose."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("ursula", password="secret-ursula")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user("otto", password="secret-otto")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("stella", password="secret-stella", is_staff=True)


@pytest.fixture
def api():
    """``api(user)``: a client sending that user's API token; ``api(None)``: anonymous."""

    def client(who=None) -> APIClient:
        result = APIClient()
        if who is not None:
            token, _ = Token.objects.get_or_create(user=who)
            result.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return result

    return client


@pytest.fixture(scope="session")
def api_media_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("api-media")


@pytest.fixture(scope="session")
def api_redis_url(redis_server) -> str:
    return redis_server.url.rsplit("/", 1)[0] + "/1"


@pytest.fixture(scope="session")
def api_worker(django_db_setup, api_redis_url, api_media_root, tmp_path_factory):
    """A real worker (prefork, one child) on the test database, Redis db 1 and api_media_root."""
    worker = CeleryWorker(
        redis_url=api_redis_url, media_root=api_media_root,
        directory=tmp_path_factory.mktemp("api-worker"),
    )
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def use_api_worker(api_worker, api_redis_url, api_media_root, settings, celery_broker):
    """Publish jobs to ``api_worker``, and share its MEDIA_ROOT and Redis (health)."""
    settings.MEDIA_ROOT = api_media_root
    settings.REDIS_URL = api_redis_url
    celery_broker(api_redis_url)
    return api_worker
