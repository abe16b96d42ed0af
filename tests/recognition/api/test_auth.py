"""Tokens, sessions and throttling."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

pytestmark = pytest.mark.django_db


def test_a_username_and_password_get_a_token_that_then_authenticates(user):
    client = APIClient()
    response = client.post("/api/v1/auth/token/",
                           {"username": "ursula", "password": "secret-ursula"})
    assert response.status_code == 200
    token = response.json()["token"]
    assert token == Token.objects.get(user=user).key
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/photos/").status_code == 200


def test_a_wrong_password_gets_no_token(user):
    response = APIClient().post("/api/v1/auth/token/",
                                {"username": "ursula", "password": "guess"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert not Token.objects.exists()


def test_a_revoked_token_no_longer_works(api, user):
    client = api(user)
    assert client.delete("/api/v1/auth/token/").status_code == 204
    response = client.get("/api/v1/photos/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_the_browser_session_works_too(client, user):
    client.force_login(user)
    assert client.get("/api/v1/photos/").status_code == 200


def test_a_session_post_without_the_csrf_token_is_refused(user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/v1/people/", {"name": "Ada"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_requests_beyond_the_rate_are_throttled_per_user(api, user, other_user, monkeypatch):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "user", "3/min")
    client = api(user)
    codes = [client.get("/api/v1/photos/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = client.get("/api/v1/photos/")
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    assert api(other_user).get("/api/v1/photos/").status_code == 200


def test_staff_manage_tokens_in_the_admin(admin_client, user):
    Token.objects.create(user=user)
    listed = admin_client.get("/admin/authtoken/tokenproxy/")
    assert listed.status_code == 200 and b"ursula" in listed.content
    assert admin_client.get("/admin/authtoken/tokenproxy/add/").status_code == 200
