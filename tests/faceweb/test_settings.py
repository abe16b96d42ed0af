"""Settings come from the environment and refuse bad values at start-up."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from faceweb.settings import database_from_url

REPO = Path(__file__).resolve().parents[2]


def settings_in(
    env: dict[str, str], show: str = "s.DATABASES['default']['ENGINE'], s.DEBUG"
) -> subprocess.CompletedProcess:
    """Import the settings module in a fresh interpreter with ``env`` added; print ``show``
    (an expression on ``s``, the settings module)."""
    code = f"import faceweb.settings as s; print({show})"
    return subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True,
        check=False,
    )


def test_a_postgres_url_becomes_a_psycopg_database():
    db = database_from_url("postgres://face%40web:p%2Fss@db.internal:5433/faces?sslmode=require")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["PASSWORD"]) == ("faces", "face@web", "p/ss")
    assert (db["HOST"], db["PORT"]) == ("db.internal", "5433")
    assert db["OPTIONS"] == {"sslmode": "require"}


def test_a_sqlite_url_names_a_file():
    assert database_from_url("sqlite:////tmp/x.sqlite3") == {
        "ENGINE": "django.db.backends.sqlite3", "NAME": "/tmp/x.sqlite3"
    }


def test_an_unknown_database_scheme_is_refused():
    with pytest.raises(ValueError, match="DATABASE_URL"):
        database_from_url("mysql://localhost/faces")


def test_production_mode_without_a_secret_key_makes_one_once_and_keeps_it(tmp_path):
    key_file = tmp_path / "var" / "secret-key"
    env = {"DEBUG": "0", "SECRET_KEY": "", "FACEWEB_SECRET_KEY_FILE": str(key_file)}
    # The web server, the worker and beat of `make run` start together: they all get one key.
    starting = [
        subprocess.Popen([sys.executable, "-c", "import faceweb.settings as s; print(s.SECRET_KEY)"],
                         env={**os.environ, **env}, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    keys = {process.communicate(timeout=60)[0].strip() for process in starting}
    assert len(keys) == 1 and len(key := keys.pop()) >= 50
    assert key_file.read_text().strip() == key
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert [path.name for path in key_file.parent.iterdir()] == ["secret-key"]  # no drafts left
    assert settings_in(env, show="s.SECRET_KEY").stdout.strip() == key


def test_production_mode_without_a_key_file_it_can_make_fails_loudly(tmp_path):
    (tmp_path / "a-file").touch()
    result = settings_in({"DEBUG": "0", "SECRET_KEY": "",
                          "FACEWEB_SECRET_KEY_FILE": str(tmp_path / "a-file" / "secret-key")})
    assert result.returncode != 0
    assert f"the key file {tmp_path}/a-file/secret-key cannot be read or created" in result.stderr
    assert "Set SECRET_KEY, or FACEWEB_SECRET_KEY_FILE" in result.stderr


def test_https_turns_on_secure_cookies_and_hsts_and_believes_only_trusted_proxies(tmp_path):
    show = ("s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
            "s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
            "getattr(s, 'SECURE_PROXY_SSL_HEADER', None)")
    assert settings_in({}, show).stdout.split() == ["False"] * 3 + ["0", "False", "None"]
    https = settings_in({"FACEWEB_HTTPS": "1"}, show).stdout.split()
    assert https == ["True"] * 3 + [str(365 * 24 * 3600), "True", "None"]
    behind_proxy = settings_in({"FACEWEB_HTTPS": "1", "FACEWEB_TRUSTED_PROXIES": "1",
                                "FACEWEB_HSTS_SECONDS": "3600"}, show).stdout
    assert behind_proxy.split()[3:5] == ["3600", "True"]
    assert "('HTTP_X_FORWARDED_PROTO', 'https')" in behind_proxy


def test_https_behind_a_trusted_proxy_passes_djangos_deployment_checks(tmp_path):
    env = {"DEBUG": "0", "SECRET_KEY": "", "FACEWEB_SECRET_KEY_FILE": str(tmp_path / "key"),
           "FACEWEB_HTTPS": "1", "FACEWEB_TRUSTED_PROXIES": "1", "MEDIA_ROOT": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=REPO,
        env={**os.environ, **env}, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_database_url_switches_to_postgres_and_bad_numbers_name_their_variable():
    assert settings_in({"DATABASE_URL": "postgres://u@h/d"}).stdout.split() == [
        "django.db.backends.postgresql", "True"
    ]
    result = settings_in({"FACEWEB_MATCH_THRESHOLD": "six"})
    assert result.returncode != 0 and "FACEWEB_MATCH_THRESHOLD must be a number" in result.stderr
