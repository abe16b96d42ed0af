"""Create the admin account on first setup (``make run``); leave an existing one alone.

The user name is FACEWEB_ADMIN_USER (default ``admin``), the password FACEWEB_ADMIN_PASSWORD
or, when unset, a random one saved to ``var/admin-password.txt`` (readable by you only), which
``scripts/run.py`` prints in its banner. Change it any time with
``python manage.py changepassword admin``.
"""

import os
import secrets
import sys
from pathlib import Path

import django

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "faceweb.settings")
    django.setup()
    from django.contrib.auth import get_user_model

    users = get_user_model()
    if users.objects.filter(is_superuser=True).exists():
        return
    name = os.environ.get("FACEWEB_ADMIN_USER", "admin")
    password = os.environ.get("FACEWEB_ADMIN_PASSWORD")
    if not password:
        password = secrets.token_urlsafe(12)
        saved = REPO / "var" / "admin-password.txt"
        saved.parent.mkdir(exist_ok=True)
        saved.touch(mode=0o600)
        saved.write_text(f"{name} {password}\n")
    users.objects.create_superuser(name, email="", password=password)


if __name__ == "__main__":
    main()
