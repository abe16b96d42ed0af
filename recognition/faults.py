"""Faults of the server's own storage, named: a full or read-only disk and an unavailable
database are answered 503 with what is wrong, never a generic 500, by pages and the API alike.

``describe`` names the fault behind an exception; the API's exception handler and
``server_error`` (Django's handler500, which sees every uncaught exception of a page, of a
middleware, of the sign-in) both answer with it. Nothing was saved when one of these is
raised: services write a file and its row so that a failure leaves neither (files.store).
"""

from __future__ import annotations

import errno
import logging
import sys
from dataclasses import dataclass

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views.defaults import server_error as django_server_error

logger = logging.getLogger(__name__)

STORAGE_FULL = {errno.ENOSPC, errno.EDQUOT}
STORAGE_UNWRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}
RETRY_AFTER_S = 30


@dataclass(frozen=True)
class Fault:
    code: str  # stable, for API clients
    message: str  # for people


def describe(exc: BaseException) -> Fault | None:
    """The storage or database fault behind ``exc``, or None when it is something else."""
    if isinstance(exc, OperationalError | InterfaceError):
        return Fault("database_unavailable", "The database is unavailable or busy right now, "
                     "so nothing was saved. Try again in a minute.")
    if isinstance(exc, OSError) and exc.errno in STORAGE_FULL:
        return Fault("storage_full", "The server's storage is full, so nothing was saved. "
                     "Try again later; an administrator has to free space.")
    if isinstance(exc, OSError) and exc.errno in STORAGE_UNWRITABLE:
        return Fault("storage_unavailable", "The server cannot write to its storage right "
                     "now, so nothing was saved. Try again later.")
    return None


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a named fault as 503 (JSON under /api/ and to pages' scripts that ask for
    JSON, else a page), anything else as Django's own 500. The page is rendered without the
    request: the session and the user may live in the database that failed."""
    fault = describe(sys.exc_info()[1]) if sys.exc_info()[1] else None
    if fault is None:
        return django_server_error(request)
    logger.error("503 %s: %s", fault.code, sys.exc_info()[1])
    if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
        response = JsonResponse({"error": {"code": fault.code, "message": fault.message}},
                                status=503)
    else:
        page = loader.render_to_string("503.html", {"fault": fault})
        response = HttpResponse(page, status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    return response
