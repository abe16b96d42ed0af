"""Who is signing in from where, and what a locked-out client is told (django-axes' hooks).

The client address is REMOTE_ADDR, unless FACEWEB_TRUSTED_PROXIES says how many proxies of
yours stand in front of the app: then it is the address the outermost of them saw, taken
from the right of X-Forwarded-For. A client can prepend anything to that header, so it is
never read further left (and not at all without the setting): rotating it buys no guesses.
REST framework's throttles count by the same address (``NUM_PROXIES``).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def client_ip(request: HttpRequest) -> str | None:
    proxies = settings.FACEWEB_TRUSTED_PROXIES
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if proxies and forwarded[0]:
        return forwarded[-min(proxies, len(forwarded))]
    return request.META.get("REMOTE_ADDR")


def locked_out(request: HttpRequest, credentials: dict | None = None, *args, **kwargs):
    """429 for an account or an address with too many wrong passwords: JSON for the API, a
    page for people."""
    minutes = settings.FACEWEB_LOGIN_LOCKOUT_MINUTES
    message = (f"Too many wrong passwords for this account or from this address. Try again "
               f"in {minutes} minutes, or ask an admin to unlock it.")
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {"error": {"code": "locked_out", "message": message}}, status=429)
    else:
        response = render(request, "registration/locked_out.html", {"message": message},
                          status=429)
    response["Retry-After"] = str(minutes * 60)
    return response
