"""Fixtures for the API tests (on top of tests/recognition/conftest.py).

- ``user``, ``other_user``, ``staff``: accounts; ``api(who)`` an APIClient signed in with
  that account's token (``who`` None: anonymous).
- Throttle counts are cleared before each test (they live in the process's cache).
- ``use_api_worker``: a real Celery worker process, Redis and media folder for the test: the
  module's world (tests/worlds.py), torn down when the module ends.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.worlds import open_world


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


@pytest.fixture(scope="module")
def api_world(django_db_setup, tmp_path_factory):
    """A real Redis and worker (tests/worlds.py) for the module's tests that need one."""
    with open_world(tmp_path_factory, "api") as world:
        yield world


@pytest.fixture
def use_api_worker(api_world, enter):
    """The module's worker, with this test publishing to it and sharing its files."""
    return enter(api_world)
