"""Create the admin account on first setup (``make run``); leave an existing one alone.

The user name is FACEWEB_ADMIN_USER (default ``admin``), the password FACEWEB_ADMIN_PASSWORD
or, when unset, a random one that is printed and saved to ``var/admin-password.txt``
(readable by you only). Change it any time with ``python manage.py changepassword admin``.
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
        saved = REPO / "var" / "admin-password.txt"
        hint = f" (first password in {saved.relative_to(REPO)})" if saved.exists() else ""
        print(f"admin: an admin account exists{hint}")
        return
    name = os.environ.get("FACEWEB_ADMIN_USER", "admin")
    password = os.environ.get("FACEWEB_ADMIN_PASSWORD")
    generated = not password
    if generated:
        password = secrets.token_urlsafe(12)
    users.objects.create_superuser(name, email="", password=password)
    if generated:
        saved = REPO / "var" / "admin-password.txt"
        saved.parent.mkdir(exist_ok=True)
        saved.touch(mode=0o600)
        saved.write_text(f"{name} {password}\n")
        print(f"admin: created user {name!r} with password {password} "
              f"(saved in {saved.relative_to(REPO)})")
    else:
        print(f"admin: created user {name!r} with the password in FACEWEB_ADMIN_PASSWORD")


if __name__ == "__main__":
    main()
