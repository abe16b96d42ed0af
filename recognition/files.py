"""Stored files (photos and face crops): their names, and the one way they leave the server.

Photos and crops are biometric data. No URL maps onto MEDIA_ROOT; a file is sent only by a
view that has checked that the caller uploaded it or is staff, through ``file_response``.

- Names are random (``stored_name``): they say nothing of the content, the uploader or the
  order, so they can be neither guessed nor enumerated, nor matched against a known photo.
- The content type comes from the image's own header, never from a name a client chose, and
  only image types are ever sent; with ``nosniff`` and a sandboxing CSP, an uploaded file can
  never run as a page of this site.
- ``FACEWEB_FILE_SENDER`` hands the sending to a front web server once the check is done:
  ``x-accel-redirect`` (nginx: ``FACEWEB_FILE_SENDER_PREFIX`` + the stored name, an
  ``internal`` location aliased to MEDIA_ROOT) or ``x-sendfile`` (Apache, lighttpd: the path).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpResponse
from PIL import Image

from recognition.pipeline import image as images

# The suffix a stored image gets, by its format as read from its header.
SUFFIXES = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "GIF": ".gif",
            "TIFF": ".tiff"}
# A file response is an image and nothing else: no script, no plugin, no frame, no form.
FILE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
MAX_AGE_S = 3600


def stored_name(image_format: str) -> str:
    """A new random file name for an image of ``image_format`` (a key of ``SUFFIXES``)."""
    return f"{secrets.token_urlsafe(18)}{SUFFIXES[image_format]}"


def open_stored(file: FieldFile):
    """The stored file, open for reading; 404 when there is none or it has gone."""
    if not file:
        raise Http404("No file.")
    try:
        return file.open("rb")
    except FileNotFoundError:
        raise Http404("The file is missing from storage.") from None


def file_response(file: FieldFile, *, download_name: str) -> HttpResponse:
    """Send a stored image to a caller already allowed to see it; 404 if it is not an image.

    ``download_name`` (no suffix) is what a browser saves it as.
    """
    handle = open_stored(file)
    try:
        image_format = images.identify(handle, max_pixels=2**62)  # stored: checked on upload
    except images.ImageError:
        handle.close()
        raise Http404("This file cannot be shown.") from None
    content_type = Image.MIME[image_format]
    sender = settings.FACEWEB_FILE_SENDER
    if sender:
        handle.close()
        response = HttpResponse(content_type=content_type)
        if sender == "x-accel-redirect":
            response["X-Accel-Redirect"] = settings.FACEWEB_FILE_SENDER_PREFIX + file.name
        else:
            response["X-Sendfile"] = str(Path(settings.MEDIA_ROOT) / file.name)
    else:
        response = FileResponse(handle, content_type=content_type)
    return protect(response, filename=f"{download_name}{SUFFIXES[image_format]}")


def attachment(content: bytes, *, filename: str, content_type: str) -> HttpResponse:
    """A download of biometric data made for the caller (an export): never cached."""
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


def protect(response: HttpResponse, *, filename: str) -> HttpResponse:
    """The headers of every response that carries a stored image (or a thumbnail of one)."""
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Content-Security-Policy"] = FILE_CSP
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = f"private, max-age={MAX_AGE_S}"
    return response
