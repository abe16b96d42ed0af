"""Stored files (photos and face crops): their names, and the one way they leave the server.

Photos and crops are biometric data. No URL maps onto MEDIA_ROOT; a file is sent only by a
view that has checked that the caller uploaded it or is staff, through ``file_response``.

- Names are random (``stored_name``): they say nothing of the content, the uploader or the
  order, so they can be neither guessed nor enumerated, nor matched against a known photo.
- The content type comes from the image's own header, never from a name a client chose, and
  only image types are ever sent; with ``nosniff`` and a sandboxing CSP, an uploaded file can
  never run as a page of this site.
- A file is written whole or not at all (``store``), and a file no row points at is found and
  removed by ``orphans_remove`` (a process killed between writing a file and its row).
- ``FACEWEB_FILE_SENDER`` hands the sending to a front web server once the check is done:
  ``x-accel-redirect`` (nginx: ``FACEWEB_FILE_SENDER_PREFIX`` + the stored name, an
  ``internal`` location aliased to MEDIA_ROOT) or ``x-sendfile`` (Apache, lighttpd: the path).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpResponse
from PIL import Image

from recognition.pipeline import image as images

# The suffix a stored image gets, by its format as read from its header.
SUFFIXES = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "AVIF": ".avif", "HEIF": ".heic",
            "BMP": ".bmp", "GIF": ".gif", "TIFF": ".tiff"}
# A file response is an image and nothing else: no script, no plugin, no frame, no form.
FILE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
MAX_AGE_S = 3600
# Where Django writes uploads too big to hold in memory: inside MEDIA_ROOT, so storing one is a
# rename on the same filesystem and one killed mid-upload is found by ``orphans_remove``.
UPLOADING_DIR = "uploading"

logger = logging.getLogger(__name__)


def stored_name(image_format: str) -> str:
    """A new random file name for an image of ``image_format`` (a key of ``SUFFIXES``)."""
    return f"{secrets.token_urlsafe(18)}{SUFFIXES[image_format]}"


class SpoolingUploadHandler(TemporaryFileUploadHandler):
    """Django's handler for uploads too big for memory, which also removes its spool file when
    writing it fails (a full disk), instead of leaving that to the garbage collector."""

    def new_file(self, *args, **kwargs) -> None:
        # The spool folder may be missing (a fresh volume mounted after start-up).
        Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        try:
            return super().receive_data_chunk(raw_data, start)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(self.file.temporary_file_path())
            with contextlib.suppress(OSError):
                self.file.close()
            raise


def store(file: FieldFile, name: str, content: File) -> None:
    """``file.save(name, content)`` without saving its row, leaving nothing behind when the
    write fails (Django's storage leaves a partial or empty file, e.g. on a full disk)."""
    target = file.field.generate_filename(file.instance, name)
    try:
        file.save(name, content, save=False)
    except BaseException:
        with contextlib.suppress(OSError):
            file.storage.delete(target)
        raise


def delete(files: Iterable[FieldFile]) -> None:
    """Remove stored files; one that is missing, or cannot be removed now, is logged and left
    to ``orphans_remove``."""
    for file in files:
        if file:
            try:
                file.storage.delete(file.name)
            except OSError as exc:
                logger.warning("Could not delete %s (%s); the orphan sweep will", file.name, exc)


def orphans_remove(*, known: set[str], older_than_s: float, dry_run: bool = False) -> list[str]:
    """Remove the files in the app's own folders of the storage (``photos`` and ``faces``, the
    upload_to of Photo.file and Face.crop) and of the spool that are not in ``known`` (the
    names rows point at) and were last written more than ``older_than_s`` ago (younger ones
    may be waiting for their row). Returns their names, relative to MEDIA_ROOT (or the
    bucket); each is logged. The sweep looks nowhere else.

    Refuses (logs, removes nothing) when ``known`` is empty but stored files exist: that is a
    database that is new or not the one these files belong to, not a folder of orphans.
    """
    # The spool is a local folder even when the photos are in a bucket (FACEWEB_S3_BUCKET).
    spool = FileSystemStorage(location=Path(settings.FILE_UPLOAD_TEMP_DIR).parent)
    found = [(storage, name) for storage, folder in (
        (default_storage, "photos"), (default_storage, "faces"), (spool, UPLOADING_DIR))
        for name in _stored_files(storage, folder)]
    if not known and any(storage is default_storage for storage, _ in found):
        logger.error("Not removing orphan files: no row points at any of the %s stored files; "
                     "is this the right database?", len(found))
        return []
    cutoff = time.time() - older_than_s
    removed = []
    for storage, name in found:
        with contextlib.suppress(FileNotFoundError):
            if name in known or storage.get_modified_time(name).timestamp() >= cutoff:
                continue
            if not dry_run:
                storage.delete(name)
            logger.warning("Orphan file %s (no row points at it)%s", name,
                           "" if dry_run else ": removed")
            removed.append(name)
    return sorted(removed)


def _stored_files(storage, folder: str) -> list[str]:
    """Every file under ``folder`` of ``storage``, at any depth."""
    try:
        directories, files = storage.listdir(folder)
    except FileNotFoundError:
        return []
    return [f"{folder}/{name}" for name in files] + [
        name for directory in directories for name in _stored_files(storage, f"{folder}/{directory}")]


def open_stored(file: FieldFile):
    """The stored file, open for reading; 404 when there is none or it has gone."""
    if not file:
        raise Http404("No file.")
    try:
        return file.open("rb")
    except FileNotFoundError:
        raise Http404("The file is missing from storage.") from None


def stored_format(file: FieldFile) -> str | None:
    """The format a stored image is in (a key of ``SUFFIXES``), None if it is not one."""
    with open_stored(file) as handle:
        try:
            return images.identify(handle, max_pixels=2**62)  # stored: checked on upload
        except images.ImageError:
            return None


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
    content_type = Image.MIME.get(image_format) or f"image/{image_format.lower()}"  # AVIF
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
