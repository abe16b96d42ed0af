"""Every API error is ``{"error": {"code": ..., "message": ..., "fields"?: {...}}}``.

``code`` is stable (clients branch on it), ``message`` is for people, ``fields`` maps input
field names to their messages when the input did not validate. Errors raised below the API
(services' ValidationError, the pipeline's ImageError, missing models) are translated here,
so no view needs a try/except for them.
"""

from __future__ import annotations

import logging

from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.fields import get_error_detail
from rest_framework.response import Response

from recognition import faults
from recognition.pipeline.image import ImageError
from recognition.pipeline.loader import ModelNotInstalled
from recognition.services import AnalysisBusy, NoFaceFound, NotLive, PersonExists

logger = logging.getLogger(__name__)


class BadImage(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_image"
    default_detail = "This file is not an image that can be read."


class NoFace(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "no_face"
    default_detail = "No face was found in the image."


class NotLiveFace(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "not_live"
    default_detail = "The face does not look live."


class TooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"
    default_detail = "The request is too large."


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "This conflicts with what is stored."


class Unavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "unavailable"
    default_detail = "The service cannot answer right now; try again later."


def _translate(exc: Exception) -> Exception:
    """Errors from below the API as the API exception they mean."""
    if isinstance(exc, PersonExists):
        conflict = Conflict(exc.messages[0], code="person_exists")
        conflict.person = exc.person.pk  # answered beside the message
        return conflict
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(detail=get_error_detail(exc))
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, ImageError):
        return BadImage(str(exc))
    if isinstance(exc, RequestDataTooBig):
        return TooLarge("The request body is too large.")
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        # Django's parsing limits (DATA_UPLOAD_MAX_NUMBER_FIELDS / _FILES) hit in the view.
        part = "fields" if isinstance(exc, TooManyFieldsSent) else "files"
        return exceptions.ParseError(f"The request has more {part} than allowed.",
                                     code="too_many_parts")
    if isinstance(exc, NoFaceFound):
        return NoFace(str(exc))
    if isinstance(exc, NotLive):
        return NotLiveFace(str(exc))
    if isinstance(exc, ModelNotInstalled):
        return Unavailable(str(exc), code="models_not_installed")
    if (fault := faults.describe(exc)) is not None:
        unavailable = Unavailable(fault.message, code=fault.code)
        unavailable.wait = faults.RETRY_AFTER_S
        return unavailable
    if isinstance(exc, AnalysisBusy):
        busy = Unavailable(str(exc), code="busy")
        busy.wait = 5  # seconds, sent as Retry-After
        return busy
    return exc


def _body(exc: exceptions.APIException) -> dict:
    detail = exc.detail
    if isinstance(exc, exceptions.ValidationError):
        if isinstance(detail, dict):
            fields = {k: [str(m) for m in v] if isinstance(v, list) else [str(v)]
                      for k, v in detail.items() if k != "non_field_errors"}
            general = [str(m) for m in detail.get("non_field_errors", [])]
        else:
            messages = detail if isinstance(detail, list) else [detail]
            fields, general = {}, [str(m) for m in messages]
        message = " ".join(general) or "Some fields are not valid; see fields."
        body = {"code": "invalid", "message": message}
        if fields:
            body["fields"] = fields
        return body
    code = getattr(detail, "code", None) or exc.default_code
    body = {"code": str(code), "message": str(detail)}
    if hasattr(exc, "person"):
        body["person"] = exc.person  # the existing person a conflict is about
    return body


def exception_handler(exc: Exception, context: dict) -> Response:
    """REST framework's EXCEPTION_HANDLER: the error shape above for every failure.

    An unexpected exception is logged with its traceback and answered with a JSON 500, so a
    client never has to parse an HTML error page.
    """
    # Imported here: rest_framework.views reads the parser setting, which imports this module.
    from rest_framework.views import exception_handler as drf_exception_handler
    from rest_framework.views import set_rollback

    exc = _translate(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        view = context.get("view")
        name = type(view).__name__ if view else "the API"
        logger.error("Unhandled error in %s", name, exc_info=exc)
        set_rollback()
        body = {"code": "server_error", "message": "Something went wrong on the server."}
        return Response({"error": body}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    response.data = {"error": _body(exc)}
    return response


@csrf_exempt  # it changes nothing; without this a POST gets Django's HTML CSRF page
def not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Any URL under the API that no endpoint matches (e.g. a non-numeric id)."""
    body = {"code": "not_found", "message": "No API endpoint at this URL (paths end with a slash)."}
    return JsonResponse({"error": body}, status=404)
