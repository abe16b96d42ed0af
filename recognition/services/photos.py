"""A photo's life: stored and queued on upload, claimed by a worker's job, handed back or
given up; queued again, deleted, purged by retention; and the sweeps that queue again what an
outage left behind and remove stored files no row points at. The analysis itself, run under a
claim, is ``analysis.photo_analyse``."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import kombu.exceptions
import redis
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone

from recognition import files, jobs
from recognition.models import AuditEvent, Batch, Face, Heartbeat, Person, Photo
from recognition.pipeline import image as images
from recognition.services.audit import audit

logger = logging.getLogger(__name__)


# Failures worth retrying: the database went away or is locked for a moment (and storage
# faults, see is_transient).
TRANSIENT_ERRORS = (OperationalError, InterfaceError)

# Raised by a publish when Redis cannot be reached (kombu wraps the client's errors).
BROKER_ERRORS = (kombu.exceptions.OperationalError, redis.RedisError, OSError)

# A photo younger than this is left alone by the sweep: its first publish may be under way.
JOB_GRACE_S = 5

GAVE_UP = ("Analysis was started several times and never finished; the worker stopped each "
           "time (perhaps out of memory). Try a smaller photo.")
IMPORT_QUEUE = "import"  # manage.py import_photos (settings.CELERY_TASK_QUEUES)


def photo_create(
    *,
    file: File,
    uploaded_by: AbstractBaseUser | None = None,
    source: str = Photo.Source.UPLOAD,
    purpose: str = Photo.Purpose.RECOGNISE,
    person: Person | None = None,
    original_name: str | None = None,
    original_head: File | None = None,
    batch: Batch | None = None,
) -> Photo:
    """Store an uploaded image and queue its analysis once the transaction commits.

    The row is saved first with status pending, so the photo survives a broker outage (the
    sweep queues it later). The image is not decoded here: a damaged file is accepted and
    ends failed with a readable error; a file that is not an accepted image raises the
    pipeline's ImageError. ``person`` is required for, and only for, enrolment.

    The same file sent again by the same uploader, for the same purpose (and person), is not
    stored twice: the photo already there is returned, with ``duplicate`` True (and queued
    again if it had failed; moved into ``batch``, the Recognise page's batch, if given). ``original_name``: the file's name on the uploader's device
    (default: the upload's name). The capture time comes from the file's EXIF, or from
    ``original_head``, the beginning of the original file when the browser sent a smaller
    copy (which has no EXIF).
    """
    if file.size > settings.FACEWEB_MAX_UPLOAD_BYTES:
        limit_mb = settings.FACEWEB_MAX_UPLOAD_BYTES / 1024 / 1024
        raise ValidationError(f"This file is larger than the {limit_mb:.0f} MB limit.")
    if not file.size:
        raise ValidationError("This file is empty.")
    if (purpose == Photo.Purpose.ENROL) != (person is not None):
        raise ValidationError("An enrolment photo needs the person it enrols (and only it).")
    # Only images are kept, named by their format read from the header (a client's file name
    # may be anything, steal.html included); a damaged photo passes and fails in the worker.
    image_format = images.identify(file)
    digest = hashlib.sha256()
    for chunk in file.chunks():
        digest.update(chunk)
    earlier = Photo.objects.filter(
        uploaded_by=uploaded_by, content_hash=digest.hexdigest(), purpose=purpose, person=person,
    ).exclude(uploaded_by=None).first()
    if earlier is not None:
        if earlier.status == Photo.Status.FAILED:
            photo_reanalyse(photo=earlier)
        if batch is not None:
            Photo.objects.filter(pk=earlier.pk).update(batch=batch)
        earlier.refresh_from_db()
        earlier.duplicate = True
        return earlier
    photo = Photo(
        content_hash=digest.hexdigest(), size_bytes=file.size, uploaded_by=uploaded_by,
        source=source, purpose=purpose, person=person, batch=batch,
        original_name=Path(original_name or file.name or "").name[-255:],
        taken_at=_capture_time(original_head or file),
    )
    files.store(photo.file, files.stored_name(image_format), file)
    try:
        with transaction.atomic():
            photo.save()
    except BaseException:
        files.delete([photo.file])
        raise
    photo.duplicate = False
    bulk = source == Photo.Source.IMPORT
    transaction.on_commit(lambda: photo_queue(photo_id=photo.pk, bulk=bulk))
    return photo


def _capture_time(file: File) -> datetime | None:
    """The EXIF capture time as an aware datetime; a time without an offset is read in the
    app's time zone (settings.TIME_ZONE, FACEWEB_TIME_ZONE)."""
    file.seek(0)
    found = images.capture_time(file)
    file.seek(0)
    if found is None:
        return None
    taken, zone = found
    if zone is not None:
        return taken.replace(tzinfo=zone)
    try:
        return timezone.make_aware(taken)
    except (ValueError, OverflowError):  # a time that does not exist there (a DST gap)
        return None


def batch_create(*, user: AbstractBaseUser) -> Batch:
    """A new batch for the Recognise page's uploads."""
    return Batch.objects.create(user=user)


def photo_queue(*, photo_id: int, bulk: bool = False) -> bool:
    """Publish an analysis job for a photo (and ``photo_queued``). Returns False, and logs,
    when Redis is down: the photo stays pending and the sweep publishes it again. ``bulk``
    (an imported photo): on the ``import`` queue, which workers take from in turn with the
    others, so that an upload waits for at most one import job, not for the whole import."""
    from recognition.tasks import analyse_photo  # tasks imports the services

    at = timezone.now()  # before the publish: the job's claim is always later
    try:
        if bulk:
            analyse_photo.apply_async((photo_id,), queue=IMPORT_QUEUE)
        else:
            analyse_photo.delay(photo_id)
    except BROKER_ERRORS as exc:
        logger.warning("Could not queue photo %s (%s); the sweep will retry", photo_id, exc)
        return False
    photo_queued(photo_id=photo_id, at=at)
    return True


def photo_queued(*, photo_id: int, at: datetime) -> None:
    """Record a job published ``at`` for a photo (by ``photo_queue``, or a task's retry): its
    time, and its marker in Redis (see ``jobs``). Without Redis the marker is missing, and the
    sweep publishes one more job, which does nothing twice."""
    Photo.objects.filter(pk=photo_id).update(queued_at=at)
    with contextlib.suppress(*BROKER_ERRORS):
        jobs.marker_set(photo_id)


def photo_claim(
    *, photo_id: int, abandoned: int | None = None, now: datetime | None = None
) -> Photo | None:
    """Mark a photo processing by this process and return it; None if it is gone, finished,
    or held by a live claim (so a job delivered twice does the work once).

    A pending photo is claimed. So is a processing one whose claim is stale (``claim_is_stale``):
    the job that Celery delivers again after a worker process died takes its photo over at
    once, counting a crash; after FACEWEB_MAX_ATTEMPTS crashes the photo is failed instead (it
    is probably what kills the worker). So is one still held by the claim numbered
    ``abandoned`` (its ``attempts``), which the caller's earlier run could not hand back.
    """
    now = now or timezone.now()
    photo = Photo.objects.filter(pk=photo_id).first()
    if photo is None or photo.status not in (Photo.Status.PENDING, Photo.Status.PROCESSING):
        return None
    crashed = 0
    if photo.status == Photo.Status.PROCESSING and photo.attempts != abandoned:
        if not claim_is_stale(photo, now=now):
            return None
        if photo.crashes + 1 >= settings.FACEWEB_MAX_ATTEMPTS:
            _photo_fail(photo, GAVE_UP)
            return None
        crashed = 1
    claimed = Photo.objects.filter(
        pk=photo_id, status=photo.status, attempts=photo.attempts
    ).update(status=Photo.Status.PROCESSING, started_at=now, attempts=F("attempts") + 1,
             crashes=F("crashes") + crashed, claimed_by=jobs.this_process())
    return Photo.objects.get(pk=photo_id) if claimed else None


def claim_is_stale(photo: Photo, *, now: datetime) -> bool:
    """Whether a processing photo's claim holds nothing: its worker process is gone, or it
    started longer ago than any analysis may run (FACEWEB_STUCK_AFTER_S, past the task time
    limit)."""
    expired = photo.started_at is None or (
        photo.started_at < now - timedelta(seconds=settings.FACEWEB_STUCK_AFTER_S)
    )
    return expired or jobs.holder_is_gone(photo.claimed_by)


def photo_release(*, photo: Photo, crashed: bool = False) -> bool:
    """Hand a claimed photo back to pending, counting a crash if ``crashed``; the caller sees
    to its next job. False if the claim was no longer the latest."""
    return bool(Photo.objects.filter(
        pk=photo.pk, status=Photo.Status.PROCESSING, attempts=photo.attempts
    ).update(status=Photo.Status.PENDING, crashes=F("crashes") + int(crashed)))


def photo_give_up(*, photo: Photo, exc: Exception) -> None:
    """Fail a photo whose claim (``photo.attempts``) ended in ``exc`` and that no retry will
    finish, with a message its uploader can read (no paths, no internals)."""
    from recognition import faults

    fault = faults.describe(exc)
    if fault is None:
        error = f"Storing the results failed ({type(exc).__name__}); see the worker log."
    else:
        tries = ", after several tries" if is_transient(exc) else ""
        error = f"The results could not be saved{tries}: {fault.message}"
    Photo.objects.filter(
        pk=photo.pk, attempts=photo.attempts,
        status__in=(Photo.Status.PENDING, Photo.Status.PROCESSING),
    ).update(status=Photo.Status.FAILED, error=error, finished_at=timezone.now())


def is_transient(exc: BaseException) -> bool:
    """Whether a job that failed with ``exc`` may succeed if retried later: the database is
    locked or away, or storage is full or read-only. A folder the worker may not write, or a
    failing disk, is not: retrying would not help."""
    return isinstance(exc, TRANSIENT_ERRORS) or (
        isinstance(exc, OSError) and exc.errno in {errno.ENOSPC, errno.EDQUOT, errno.EROFS}
    )


def photo_reanalyse(*, photo: Photo) -> None:
    """Queue a photo for analysis again (e.g. after installing models, or a model update).

    Assignments made by people survive on faces found again in the same place."""
    Photo.objects.filter(pk=photo.pk).update(
        status=Photo.Status.PENDING, error="", queued_at=None, finished_at=None, crashes=0
    )
    transaction.on_commit(lambda: photo_queue(photo_id=photo.pk))


def photo_delete(*, photo: Photo, actor: AbstractBaseUser | None = None) -> None:
    """Delete a photo, its faces, and their files."""
    audit(actor=actor, action=AuditEvent.Action.DELETE_PHOTO, target=f"photo {photo.pk}")
    stored = _photo_files(Photo.objects.filter(pk=photo.pk))
    photo.delete()
    transaction.on_commit(lambda: files.delete(stored))


@dataclass(frozen=True)
class Purge:
    photos: int  # photos deleted with their files
    faces: int  # faces deleted with their crops, those of the deleted photos included


def photos_purge_expired(
    *, days: int, dry_run: bool = False, now: datetime | None = None
) -> Purge:
    """Retention: delete what is older than ``days`` days, photos and their non-reference faces
    with their files. A photo holding a person's reference face keeps it (and itself): it is
    part of their gallery until someone removes it. ``dry_run`` only counts."""
    cutoff = (now or timezone.now()) - timedelta(days=days)
    old = Photo.objects.filter(created_at__lt=cutoff)
    faces = Face.objects.filter(photo__in=old, is_reference=False)
    photos = old.exclude(faces__is_reference=True)
    result = Purge(photos=photos.count(), faces=faces.count())
    if dry_run:
        return result
    with transaction.atomic():
        stored = [f.crop for f in faces] + [p.file for p in photos]  # their faces are in faces
        faces.delete()
        photos.delete()
        transaction.on_commit(lambda: files.delete(stored))
    return result


def user_photos_delete(*, user: AbstractBaseUser) -> int:
    """Erase what a user uploaded (before the user is deleted): their photos, faces and files.
    Reference faces in them go too, so people may lose references. Returns the photo count."""
    photos = Photo.objects.filter(uploaded_by=user)
    with transaction.atomic():
        stored = _photo_files(photos)
        _, deleted = photos.delete()
        transaction.on_commit(lambda: files.delete(stored))
    return deleted.get(Photo._meta.label, 0)


def photos_requeue_stuck(*, now: datetime | None = None) -> int:
    """The sweep: queue again every photo that should be moving and is not. Returns how many.

    - A processing photo whose claim is stale (``claim_is_stale``) is queued again, counting a
      crash, or failed after FACEWEB_MAX_ATTEMPTS crashes.
    - A pending photo is queued when it was never queued (Redis was down), or when its job is
      lost: its marker is gone (Redis came back empty, see ``jobs``), or the marker is one a
      job that has since started left behind (claimed after it was queued).
    Photos newer than JOB_GRACE_S are left to the publish under way.
    """
    now = now or timezone.now()
    due = set()
    for photo in Photo.objects.filter(status=Photo.Status.PROCESSING):
        if claim_is_stale(photo, now=now):
            if photo.crashes + 1 >= settings.FACEWEB_MAX_ATTEMPTS:
                _photo_fail(photo, GAVE_UP)
            elif photo_release(photo=photo, crashed=True):
                due.add(photo.pk)
    settled = now - timedelta(seconds=JOB_GRACE_S)
    pending = Photo.objects.filter(status=Photo.Status.PENDING, created_at__lt=settled)
    due |= set(pending.filter(
        Q(queued_at__isnull=True) | Q(started_at__gte=F("queued_at"))
    ).values_list("pk", flat=True))
    try:
        queued = list(pending.filter(queued_at__lt=settled).values_list("pk", flat=True))
        due |= jobs.markers_missing(queued)
    except BROKER_ERRORS:
        return 0  # Redis is down: nothing can be published; the next sweep tries again
    count = 0
    imported = set(Photo.objects.filter(pk__in=due, source=Photo.Source.IMPORT)
                   .values_list("pk", flat=True))
    for photo_id in sorted(due):
        if not photo_queue(photo_id=photo_id, bulk=photo_id in imported):
            break  # Redis is down: the next sweep tries again
        count += 1
    Heartbeat.objects.update_or_create(name="sweep", defaults={"at": timezone.now()})
    return count


def files_remove_orphans(*, dry_run: bool = False) -> list[str]:
    """The orphan sweep (Celery beat, hourly): remove stored files no row points at, older
    than FACEWEB_ORPHAN_AFTER_S (see files.orphans_remove). Returns their names."""
    known = set(Photo.objects.exclude(file="").values_list("file", flat=True))
    known |= set(Face.objects.exclude(crop="").values_list("crop", flat=True))
    return files.orphans_remove(known=known, older_than_s=settings.FACEWEB_ORPHAN_AFTER_S,
                                dry_run=dry_run)


def _photo_finish(photo: Photo, *, status: str, **fields) -> bool:
    """Store the outcome if ``photo``'s claim is still the latest; update ``photo`` in place."""
    fields.update(status=status, finished_at=timezone.now())
    fields.setdefault("error", "")
    updated = Photo.objects.filter(
        pk=photo.pk, status=Photo.Status.PROCESSING, attempts=photo.attempts
    ).update(**fields)
    if updated:
        for name, value in fields.items():
            setattr(photo, name, value)
    else:
        logger.info("Photo %s was claimed again meanwhile; dropping this result", photo.pk)
    return bool(updated)


def _photo_fail(photo: Photo, error: str) -> Photo:
    _photo_finish(photo, status=Photo.Status.FAILED, error=error)
    return photo


def _photo_files(photos) -> list:
    """The stored files of ``photos`` and of their faces' crops."""
    return [p.file for p in photos] + [f.crop for f in Face.objects.filter(photo__in=photos)]
