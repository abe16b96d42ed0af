"""Password guessing: the sign-in page, the admin's and the API token endpoint lock an account
and an address out after FACEWEB_LOGIN_FAILURE_LIMIT wrong passwords; a forged
X-Forwarded-For changes nothing unless proxies are configured; weak passwords are refused."""

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

RIGHT = "a long enough passphrase"
FORMS = {"login": reverse("login"), "admin": reverse("admin:login"),
         "token": reverse("api:token")}


@pytest.fixture(autouse=True)
def _fresh(settings):
    cache.clear()  # the API's throttle counts
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def victim(django_user_model):
    return django_user_model.objects.create_user("victim", password=RIGHT, is_staff=True)


def sign_in(client: Client, where: str, password: str, *, username: str = "victim",
            forwarded: str | None = None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    data = {"username": username, "password": password}
    if where == "token":
        return client.post(FORMS[where], data, content_type="application/json", headers=headers)
    return client.post(FORMS[where], data, headers=headers)


def accepted(where: str, response) -> bool:
    return response.status_code == (200 if where == "token" else 302)


@pytest.mark.parametrize("where", FORMS)
def test_an_account_is_locked_after_the_limit_even_with_a_forged_forwarded_for(
    where, victim, settings
):
    client = Client()
    for n in range(settings.FACEWEB_LOGIN_FAILURE_LIMIT):
        response = sign_in(client, where, f"guess {n}", forwarded=f"198.51.100.{n}")
        assert not accepted(where, response)
    response = sign_in(client, where, RIGHT, forwarded="203.0.113.9")
    assert response.status_code == 429
    assert "Too many wrong passwords" in response.content.decode()
    assert "Retry-After" in response


@pytest.mark.parametrize("where", FORMS)
def test_the_right_password_before_the_limit_signs_in(where, victim, settings):
    client = Client()
    for n in range(settings.FACEWEB_LOGIN_FAILURE_LIMIT - 1):
        sign_in(client, where, f"guess {n}")
    assert accepted(where, sign_in(client, where, RIGHT))


def test_an_address_guessing_many_accounts_is_locked_out_too(victim, django_user_model, settings):
    client = Client()
    for n in range(settings.FACEWEB_LOGIN_FAILURE_LIMIT):
        sign_in(client, "login", "guess", username=f"someone{n}")
    assert sign_in(client, "login", RIGHT).status_code == 429  # victim's right password
    # From elsewhere the account itself is fine: it had no failures.
    assert accepted("login", sign_in(Client(REMOTE_ADDR="192.0.2.7"), "login", RIGHT))


def test_behind_a_trusted_proxy_each_client_address_counts_on_its_own(victim, settings):
    settings.FACEWEB_TRUSTED_PROXIES = 1
    proxy = Client(REMOTE_ADDR="10.0.0.2")
    for n in range(settings.FACEWEB_LOGIN_FAILURE_LIMIT):
        sign_in(proxy, "login", "guess", username=f"someone{n}", forwarded="198.51.100.1")
    assert sign_in(proxy, "login", RIGHT, forwarded="198.51.100.1").status_code == 429
    # The guesser cannot step around the lock by prepending addresses of its own; another
    # client behind the same proxy is not locked out by the first one's guesses.
    spoofed = sign_in(proxy, "login", RIGHT, forwarded="192.0.2.99, 198.51.100.1")
    assert spoofed.status_code == 429
    assert accepted("login", sign_in(proxy, "login", RIGHT, forwarded="198.51.100.2"))


def test_the_token_throttle_ignores_a_forged_forwarded_for(victim, settings):
    client = Client()
    statuses = [sign_in(client, "token", "guess", username=f"u{n}", forwarded=f"192.0.2.{n}")
                .status_code for n in range(12)]
    assert 429 in statuses  # 10/min per address, whatever the header says


@pytest.mark.parametrize("password", ["1", "password", "12345678", "victim2026"])
def test_weak_passwords_are_refused(password, victim):
    with pytest.raises(ValidationError):
        validate_password(password, user=victim)
    validate_password(RIGHT, user=victim)


def test_staff_cannot_create_an_account_with_a_weak_password_in_the_admin(
    admin_client, django_user_model
):
    response = admin_client.post(reverse("admin:auth_user_add"), {
        "username": "newbie", "password1": "12345678", "password2": "12345678",
        "usable_password": "true",
    })
    assert response.status_code == 200  # the form again, with the validators' errors
    assert "This password is too common." in response.content.decode()
    assert not django_user_model.objects.filter(username="newbie").exists()
