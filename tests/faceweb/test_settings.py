"""Settings come from the environment and refuse bad values at start-up."""

import os
import subprocess
import sys

import pytest

from faceweb.settings import database_from_url


def settings_in(env: dict[str, str]) -> subprocess.CompletedProcess:
    """Import the settings module in a fresh interpreter with ``env`` added."""
    code = "import faceweb.settings as s; print(s.DATABASES['default']['ENGINE'], s.DEBUG)"
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


def test_production_mode_without_a_secret_key_fails_loudly():
    result = settings_in({"DEBUG": "0", "SECRET_KEY": ""})
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def test_database_url_switches_to_postgres_and_bad_numbers_name_their_variable():
    assert settings_in({"DATABASE_URL": "postgres://u@h/d"}).stdout.split() == [
        "django.db.backends.postgresql", "True"
    ]
    result = settings_in({"FACEWEB_MATCH_THRESHOLD": "six"})
    assert result.returncode != 0 and "FACEWEB_MATCH_THRESHOLD must be a number" in result.stderr
