"""API tokens: one per user, issued on first use, refused once revoked."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from rest_framework.authtoken.models import Token


def token_issue(*, user: AbstractBaseUser) -> Token:
    """The user's API token, created on first use (one per user)."""
    return Token.objects.get_or_create(user=user)[0]


def token_revoke(*, user: AbstractBaseUser) -> None:
    """Delete the user's API token: requests with it are refused from now on."""
    Token.objects.filter(user=user).delete()
