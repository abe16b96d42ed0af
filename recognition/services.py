"""Every change to people, photos and faces goes through these functions.

Views, API views, admin actions and tasks only translate to and from them. Nothing here
imports TensorFlow at module level: the Celery parent process imports this module, and
TensorFlow initialised there hangs in the forked children. The pipeline is imported inside
``photo_analyse``, which only runs in a worker child.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import logging
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import kombu.exceptions
import numpy as np
import redis
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone
from PIL import Image
from rest_framework.authtoken.models import Token

from recognition import files, jobs, selectors
from recognition.models import (
    EMBEDDING_DTYPE,
    EMBEDDING_SIZE,
    AuditEvent,
    Face,
    Heartbeat,
    Person,
    Photo,
)
from recognition.pipeline import image as images
from recognition.pipeline import matching, spec
from recognition.pipeline.types import FaceResult

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


# --- People ------------------------------------------------------------------------------------


def person_create(*, name: str, notes: str = "") -> Person:
    """Create a person with no reference faces yet."""
    person = Person(name=name.strip(), notes=notes)
    person.full_clean()
    person.save()
    return person


def person_enrol(*, person: Person, photo: Photo, face: Face | None = None) -> Face:
    """Make a face of an analysed ``photo`` a reference of ``person``.

    Without ``face``, the photo must show exactly one face; a photo with none or several is
    refused (ValidationError) with a reason a person can act on.
    """
    if photo.status != Photo.Status.DONE:
        if photo.status == Photo.Status.FAILED:
            raise ValidationError(f"This photo could not be analysed: {photo.error}")
        raise ValidationError("This photo has not been analysed yet; try again in a moment.")
    if face is None:
        faces = list(photo.faces.all())
        if not faces:
            raise ValidationError(
                "No face was found in this photo. Use a photo where the face is clearly "
                "visible, facing the camera."
            )
        if len(faces) > 1:
            raise ValidationError(
                f"This photo shows {len(faces)} faces; choose which one is {person.name}."
            )
        face = faces[0]
    elif face.photo_id != photo.pk:
        raise ValidationError("That face is not in this photo.")
    return face_assign(face=face, person=person)


def person_delete(*, person: Person, actor: AbstractBaseUser | None = None) -> None:
    """Delete a person and their biometric data: reference faces, enrolment photos, crops.

    Faces in other photos that were matched to them become unknown faces.
    """
    with transaction.atomic():
        audit(actor=actor, action=AuditEvent.Action.DELETE_PERSON, target=f"person {person.pk}",
              detail=person.name)
        references = Face.objects.filter(person=person, is_reference=True)
        photos = Photo.objects.filter(person=person)
        stored = [f.crop for f in references] + _photo_files(photos)
        references.delete()
        photos.delete()
        Face.objects.filter(person=person).update(
            person=None, decision=Face.Decision.UNKNOWN, updated_at=timezone.now()
        )
        person.delete()
    transaction.on_commit(lambda: files.delete(stored))


# --- Faces -------------------------------------------------------------------------------------


def face_assign(
    *, face: Face, person: Person | None = None, new_person_name: str = "",
    actor: AbstractBaseUser | None = None,
) -> Face:
    """Say who a face is: an existing ``person``, or a new person called ``new_person_name``.

    The face becomes one of that person's references, so later photos match against it.
    """
    if (person is None) == (not new_person_name.strip()):
        raise ValidationError("Choose an existing person or give a new name (not both).")
    with transaction.atomic():
        if person is None:
            person = person_create(name=new_person_name)
        face.person = person
        face.decision = Face.Decision.ASSIGNED
        face.is_reference = True
        face.save()  # also moves updated_at, which tells every worker's gallery cache
        audit(actor=actor, action=AuditEvent.Action.ASSIGN, target=f"face {face.pk}",
              detail=f"to {person.name} (person {person.pk})")
    return face


def faces_assign(
    *, faces: list[Face], person: Person | None = None, new_person_name: str = "",
    actor: AbstractBaseUser | None = None,
) -> Person:
    """Say that all ``faces`` (e.g. a group of similar unknown faces) are one person, existing
    or new, in one transaction; each becomes a reference. Returns the person."""
    if not faces:
        raise ValidationError("Choose at least one face.")
    with transaction.atomic():
        first = face_assign(face=faces[0], person=person, new_person_name=new_person_name,
                            actor=actor)
        for face in faces[1:]:
            face_assign(face=face, person=first.person, actor=actor)
    return first.person


# --- Photos ------------------------------------------------------------------------------------


def photo_create(
    *,
    file: File,
    uploaded_by: AbstractBaseUser | None = None,
    source: str = Photo.Source.UPLOAD,
    purpose: str = Photo.Purpose.RECOGNISE,
    person: Person | None = None,
) -> Photo:
    """Store an uploaded image and queue its analysis once the transaction commits.

    The row is saved first with status pending, so the photo survives a broker outage (the
    sweep queues it later). The image is not decoded here: a damaged file is accepted and
    ends failed with a readable error; a file that is not an accepted image raises the
    pipeline's ImageError. ``person`` is required for, and only for, enrolment.
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
    photo = Photo(
        content_hash=digest.hexdigest(), size_bytes=file.size, uploaded_by=uploaded_by,
        source=source, purpose=purpose, person=person,
    )
    files.store(photo.file, files.stored_name(image_format), file)
    try:
        with transaction.atomic():
            photo.save()
    except BaseException:
        files.delete([photo.file])
        raise
    transaction.on_commit(lambda: photo_queue(photo_id=photo.pk))
    return photo


def photo_queue(*, photo_id: int) -> bool:
    """Publish an analysis job for a photo (and ``photo_queued``). Returns False, and logs,
    when Redis is down: the photo stays pending and the sweep publishes it again."""
    from recognition.tasks import analyse_photo  # tasks imports this module

    at = timezone.now()  # before the publish: the job's claim is always later
    try:
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


def photo_analyse(*, photo: Photo) -> Photo:
    """Run the pipeline on a claimed photo, identify its faces, and store the outcome.

    The photo ends done (its faces replaced in one transaction) or failed with an error a
    person can read. Database hiccups (TRANSIENT_ERRORS) propagate for the task to retry.
    Results are dropped if another claim took the photo over meanwhile (``attempts``).
    """
    # Imported here, not at the top: this is what loads TensorFlow (see module docstring).
    from recognition.pipeline import image, loader

    pipeline = spec.current()
    try:
        with photo.file.open("rb") as f:
            result = pipeline.analyse_file(f)
    except image.ImageError as exc:
        return _photo_fail(photo, str(exc))
    except loader.ModelNotInstalled as exc:
        return _photo_fail(photo, f"The face models are not installed on the server: {exc}")
    except FileNotFoundError:
        return _photo_fail(photo, "The uploaded file is missing from storage.")
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:  # a bug or a broken model: fail this photo, keep the worker going
        logger.exception("Analysing photo %s crashed", photo.pk)
        return _photo_fail(photo, f"Analysis crashed ({type(exc).__name__}); see the worker log.")

    matches = matching.identify(
        _embeddings(result.faces),
        selectors.gallery_get(model_version=pipeline.spec.version),
        threshold=match_threshold(),
        margin=settings.FACEWEB_MATCH_MARGIN,
    )
    written: list = []  # new crops: removed again if the transaction does not commit
    try:
        with transaction.atomic():
            if not _photo_finish(
                photo, status=Photo.Status.DONE, width=result.width, height=result.height,
                model_version=pipeline.spec.version, timings_ms=result.timings_ms,
            ):
                return photo
            old_faces = list(photo.faces.all())
            photo.faces.all().delete()
            for face_result, match in zip(result.faces, matches, strict=True):
                _face_create(photo, face_result, match, previous=old_faces, written=written)
            if photo.purpose == Photo.Purpose.ENROL and not photo.faces.filter(
                person=photo.person_id, is_reference=True
            ).exists():
                try:
                    person_enrol(person=photo.person, photo=photo)
                except ValidationError as exc:
                    photo.error = " ".join(exc.messages)
                    photo.save(update_fields=["error"])
            transaction.on_commit(lambda: files.delete(f.crop for f in old_faces))
    except BaseException:
        files.delete(written)
        raise
    return photo


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
    for photo_id in sorted(due):
        if not photo_queue(photo_id=photo_id):
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


def is_transient(exc: BaseException) -> bool:
    """Whether a job that failed with ``exc`` may succeed if retried later: the database is
    locked or away, or storage is full or read-only. A folder the worker may not write, or a
    failing disk, is not: retrying would not help."""
    return isinstance(exc, TRANSIENT_ERRORS) or (
        isinstance(exc, OSError) and exc.errno in {errno.ENOSPC, errno.EDQUOT, errno.EROFS}
    )


def model_version() -> str:
    """The version of the current pipeline's descriptors (spec.PipelineSpec.version): a face
    of another version is never compared with the gallery."""
    return spec.current().spec.version


def match_threshold() -> float:
    """FACEWEB_MATCH_THRESHOLD, or the pipeline's calibrated default when unset."""
    if settings.FACEWEB_MATCH_THRESHOLD is not None:
        return settings.FACEWEB_MATCH_THRESHOLD
    return spec.current().spec.threshold


# --- People: rename, merge, reference faces ------------------------------------------------------


def person_rename(*, person: Person, name: str) -> Person:
    """Give ``person`` a new name."""
    person.name = name.strip()
    person.full_clean()
    person.save(update_fields=["name", "updated_at"])
    return person


def person_merge(
    *, into: Person, other: Person, actor: AbstractBaseUser | None = None
) -> Person:
    """Fold ``other`` into ``into``: its faces, references and enrolment photos become
    ``into``'s, its notes are appended, and ``other`` is deleted. Returns ``into``."""
    if into.pk == other.pk:
        raise ValidationError("A person cannot be merged with themselves.")
    with transaction.atomic():
        # updated_at moves with the faces: it tells every gallery cache that references changed.
        Face.objects.filter(person=other).update(person=into, updated_at=timezone.now())
        Photo.objects.filter(person=other).update(person=into)
        if other.notes.strip():
            into.notes = "\n\n".join(n for n in (into.notes.strip(), other.notes.strip()) if n)
        into.save()
        audit(actor=actor, action=AuditEvent.Action.MERGE, target=f"person {into.pk}",
              detail=f"{other.name} (person {other.pk}) into {into.name}")
        other.delete()
    return into


def person_reference_add(
    *,
    person: Person,
    face: Face | None = None,
    file: File | None = None,
    uploaded_by: AbstractBaseUser | None = None,
    source: str = Photo.Source.UPLOAD,
) -> Face | Photo:
    """Add a reference face to ``person``, from an existing ``face`` or an image ``file``.

    From a face: it becomes the person's reference now, and is returned. From a file: an
    enrolment Photo is stored and queued, and returned pending; once analysed, its one face
    becomes the reference (or the photo's ``error`` says why not: no face, several faces).
    """
    if (face is None) == (file is None):
        raise ValidationError("Give either an existing face or an image (one of them).")
    if face is not None:
        if face.model_version != model_version():
            raise ValidationError(
                "This face was analysed by an older model; analyse its photo again first."
            )
        return face_assign(face=face, person=person)
    return photo_create(
        file=file, uploaded_by=uploaded_by, source=source, purpose=Photo.Purpose.ENROL,
        person=person,
    )


def person_reference_remove(*, person: Person, face: Face) -> Face:
    """Stop using ``face`` as a reference of ``person``; it stays assigned to them."""
    if face.person_id != person.pk or not face.is_reference:
        raise ValidationError(f"That face is not a reference of {person.name}.")
    face.is_reference = False
    face.save()  # the gallery's count drops, so caches re-read it
    return face


# --- Faces: corrections -------------------------------------------------------------------------


def face_mark_not_a_face(*, face: Face, actor: AbstractBaseUser | None = None) -> None:
    """Delete a false detection (and its crop). Analysing the photo again may find it again."""
    audit(actor=actor, action=AuditEvent.Action.NOT_A_FACE, target=f"face {face.pk}",
          detail=f"in photo {face.photo_id}")
    crop = face.crop
    face.delete()
    transaction.on_commit(lambda: files.delete([crop]))


def face_mark_not_this_person(*, face: Face) -> Face:
    """Undo a face's match or assignment: it becomes unknown, and stops being a reference."""
    if face.person_id is None:
        raise ValidationError("This face is not matched to anyone.")
    face.person, face.decision, face.is_reference = None, Face.Decision.UNKNOWN, False
    face.save()
    return face


# --- Synchronous recognition: verify (1:1) and identify (1:N) ----------------------------------


class AnalysisBusy(RuntimeError):
    """This process's analysis thread stayed busy for FACEWEB_SYNC_WAIT_S."""


class NoFaceFound(ValueError):
    """An image given for verification shows no face."""


# One in-process analysis at a time, always on the same thread: TensorFlow already spreads one
# analysis over every core (two in parallel would each take twice as long), and the large
# buffers of decoding are reused by that one thread instead of piling up in the allocator's
# pool of each request thread.
_analysis_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faceweb-analysis")


@dataclass(frozen=True)
class Candidate:
    person: Person
    distance: float


@dataclass(frozen=True)
class IdentifiedFace:
    """One face of an identified image: ``person`` None is unknown (same rule as photos)."""

    face: FaceResult
    person: Person | None
    distance: float | None
    candidates: list[Candidate]  # nearest people, nearest first


@dataclass(frozen=True)
class Identification:
    width: int
    height: int
    threshold: float
    faces: list[IdentifiedFace]
    timings_ms: dict[str, float]


@dataclass(frozen=True)
class VerifiedFace:
    """A face a verification used: from ``image``, ``other_image``, or a ``reference``."""

    source: str
    box: list[float]
    detection_score: float
    faces_found: int | None = None  # faces in that image (the largest one is used)
    face_id: int | None = None  # the stored reference face


@dataclass(frozen=True)
class Verification:
    same: bool
    distance: float
    threshold: float
    faces: list[VerifiedFace]
    person: Person | None


def image_analyse_now(*, file: File):
    """Run the pipeline on an image in this process, now, storing nothing; returns the
    pipeline's ``ImageAnalysis``. For callers that cannot poll (the synchronous API).

    The models load on the first call, once per process (seconds). Time and memory are
    bounded: the header is checked before anything waits (not an image, or too many pixels:
    ImageError at once); the image is decoded only on this process's one analysis thread,
    so however many requests wait, one decoded image exists at a time; a call waits at most
    FACEWEB_SYNC_WAIT_S for its turn, else raises AnalysisBusy; the pipeline downscales large
    images before detection. Raises ModelNotInstalled when models are missing.
    """

    if file.size > settings.FACEWEB_MAX_UPLOAD_BYTES:
        limit_mb = settings.FACEWEB_MAX_UPLOAD_BYTES / 1024 / 1024
        raise ValidationError(f"This file is larger than the {limit_mb:.0f} MB limit.")
    images.identify(file)
    started = threading.Event()

    def analyse_now():
        started.set()
        return spec.current().analyse_file(file)

    job = _analysis_thread.submit(analyse_now)
    if not started.wait(timeout=settings.FACEWEB_SYNC_WAIT_S) and job.cancel():
        raise AnalysisBusy("The server is busy with other analyses; try again in a few seconds.")
    return job.result()


def analysis_warm_up() -> None:
    """Load and warm up the models on this process's analysis thread, in the background: the
    web server calls it on each process's first request (faceweb/gunicorn.py), so a verify or
    identify after it waits only for what is left of the warm-up, if anything."""
    from recognition.pipeline import spec

    _analysis_thread.submit(spec.warm_up)


def image_identify(*, file: File, top_k: int = 3) -> Identification:
    """Every face in an image with who it is (or unknown) and its ``top_k`` nearest people."""
    analysis = image_analyse_now(file=file)
    embeddings = _embeddings(analysis.faces)
    gallery = selectors.gallery_get(model_version=model_version())
    threshold = match_threshold()
    matches = matching.identify(
        embeddings, gallery, threshold=threshold, margin=settings.FACEWEB_MATCH_MARGIN
    )
    nearest = matching.nearest_people(embeddings, gallery, k=top_k)
    people = Person.objects.in_bulk(
        {pid for row in nearest for pid, _ in row} | {m.person_id for m in matches if m.person_id}
    )
    faces = [
        IdentifiedFace(
            face=result, person=people.get(match.person_id), distance=match.distance,
            candidates=[Candidate(people[pid], d) for pid, d in row if pid in people],
        )
        for result, match, row in zip(analysis.faces, matches, nearest, strict=True)
    ]
    return Identification(analysis.width, analysis.height, threshold, faces, analysis.timings_ms)


def image_verify(
    *, file: File, other_file: File | None = None, person: Person | None = None
) -> Verification:
    """Is the face in ``file`` the same person as the one in ``other_file``, or as ``person``?

    An image's largest face is used. Against a person, the distance is to their nearest
    reference face. Same when the distance is at most the match threshold. Raises
    NoFaceFound when an image shows no face.
    """
    if (other_file is None) == (person is None):
        raise ValidationError("Compare with another image or with a person (one of them).")
    references = []
    if person is not None:
        references = list(
            Face.objects.filter(person=person, is_reference=True, model_version=model_version())
            .only("id", "box", "detection_score", "embedding")
        )
        if not references:
            raise ValidationError(f"{person.name} has no reference faces to compare with yet.")
    first, used = _largest_face(image_analyse_now(file=file), source="image")
    threshold = match_threshold()
    if other_file is not None:
        second, used_other = _largest_face(image_analyse_now(file=other_file), source="other_image")
        verdict = matching.verify(first.embedding, second.embedding, threshold=threshold)
    else:
        vectors = np.stack([f.embedding_array() for f in references])
        verdict = matching.verify(first.embedding, vectors, threshold=threshold)
        nearest = references[verdict.nearest]
        used_other = VerifiedFace(
            source="reference", box=[float(v) for v in nearest.box],
            detection_score=nearest.detection_score, face_id=nearest.pk,
        )
    return Verification(verdict.same, verdict.distance, threshold, [used, used_other], person)


def _embeddings(faces: list[FaceResult]) -> np.ndarray:
    """(F, 128) float32 descriptors of pipeline results."""
    return np.array([f.embedding for f in faces], dtype=np.float32).reshape(-1, EMBEDDING_SIZE)


def _largest_face(analysis, *, source: str) -> tuple[FaceResult, VerifiedFace]:
    if not analysis.faces:
        label = "the first image" if source == "image" else "the second image"
        raise NoFaceFound(f"No face was found in {label}.")

    def area(f: FaceResult) -> float:
        x1, y1, x2, y2 = f.detection.box
        return (x2 - x1) * (y2 - y1)

    face = max(analysis.faces, key=area)
    return face, VerifiedFace(
        source=source, box=[float(v) for v in face.detection.box],
        detection_score=float(face.detection.score), faces_found=len(analysis.faces),
    )


# --- API tokens --------------------------------------------------------------------------------


def token_issue(*, user: AbstractBaseUser) -> Token:
    """The user's API token, created on first use (one per user)."""
    return Token.objects.get_or_create(user=user)[0]


def token_revoke(*, user: AbstractBaseUser) -> None:
    """Delete the user's API token: requests with it are refused from now on."""
    Token.objects.filter(user=user).delete()


# --- Helpers -----------------------------------------------------------------------------------


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


def _face_create(
    photo: Photo, result, match: matching.Match, *, previous: list[Face], written: list
) -> Face:
    """Store one FaceResult; keep a person's earlier assignment of a face in the same place.
    Its crop is added to ``written`` (removed by the caller if the transaction fails)."""
    box = [float(v) for v in result.detection.box]
    face = Face(
        photo=photo, box=box, landmarks=np.asarray(result.detection.landmarks).tolist(),
        detection_score=float(result.detection.score),
        embedding=np.asarray(result.embedding, dtype=EMBEDDING_DTYPE).tobytes(),
        model_version=model_version(), expression=result.expression,
        expression_scores={k: float(v) for k, v in result.expression_scores.items()},
        distance=match.distance,
    )
    assigned = [f for f in previous if f.decision == Face.Decision.ASSIGNED]
    earlier = next((f for f in assigned if _iou(f.box, box) >= 0.5), None)
    if earlier is not None:
        face.person_id, face.decision = earlier.person_id, Face.Decision.ASSIGNED
        face.is_reference = earlier.is_reference
    elif match.person_id is not None:
        face.person_id, face.decision = match.person_id, Face.Decision.AUTO
    buffer = io.BytesIO()
    Image.fromarray(result.chip).save(buffer, format="JPEG", quality=90)
    files.store(face.crop, files.stored_name("JPEG"), ContentFile(buffer.getvalue()))
    written.append(face.crop)
    face.save()
    return face


def _iou(a: list[float], b: list[float]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def person_export(*, person: Person, actor: AbstractBaseUser | None = None) -> bytes:
    """Everything stored about a person, as a zip (for a request to see one's data): person.json
    (the person; every face of theirs with its box, landmarks, decision, distance, expression,
    descriptor and model version), each face's crop, and the photos holding their reference
    faces or enrolling them. Audited."""
    faces = list(Face.objects.filter(person=person).select_related("photo").order_by("pk"))
    photos = {f.photo_id: f.photo for f in faces if f.is_reference}
    photos |= {p.pk: p for p in Photo.objects.filter(person=person)}
    record = {
        "person": {"id": person.pk, "name": person.name, "notes": person.notes,
                   "created_at": person.created_at.isoformat()},
        "faces": [{
            "id": f.pk, "photo_id": f.photo_id, "box": f.box, "landmarks": f.landmarks,
            "decision": f.decision, "is_reference": f.is_reference, "distance": f.distance,
            "expression": f.expression, "expression_scores": f.expression_scores,
            "descriptor": f.embedding_array().tolist(), "model_version": f.model_version,
            "crop": f"crops/face-{f.pk}.jpg" if f.crop else None,
        } for f in faces],
        "photos": [{"id": p.pk, "created_at": p.created_at.isoformat(),
                    "file": f"photos/photo-{p.pk}{Path(p.file.name).suffix}" if p.file else None}
                   for p in photos.values()],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("person.json", json.dumps(record, indent=2))
        stored = [(f.crop, f"crops/face-{f.pk}.jpg") for f in faces]
        stored += [(p.file, f"photos/photo-{p.pk}{Path(p.file.name).suffix}")
                   for p in photos.values()]
        for file, name in stored:
            if file and file.storage.exists(file.name):
                with file.storage.open(file.name, "rb") as f:
                    archive.writestr(name, f.read())
    audit(actor=actor, action=AuditEvent.Action.EXPORT, target=f"person {person.pk}",
          detail=person.name)
    return buffer.getvalue()


def audit(
    *, actor: AbstractBaseUser | None, action: str, target: str, detail: str = ""
) -> None:
    """Record who did what to which biometric record (``AuditEvent``, append-only); no actor:
    the system (retention, a shell)."""
    signed_in = actor is not None and actor.is_authenticated
    AuditEvent.objects.create(
        actor=actor if signed_in else None, actor_name=actor.get_username() if signed_in
        else "system", action=action, target=target[:100], detail=detail[:300],
    )


def file_viewed(*, user: AbstractBaseUser, photo: Photo, face: Face | None = None) -> None:
    """Audit staff opening a photo, or a face, that someone else uploaded."""
    if photo.uploaded_by_id != user.pk:
        if face is None:
            audit(actor=user, action=AuditEvent.Action.VIEW_PHOTO, target=f"photo {photo.pk}")
        else:
            audit(actor=user, action=AuditEvent.Action.VIEW_CROP, target=f"face {face.pk}",
                  detail=f"in photo {photo.pk}")


def _photo_files(photos) -> list:
    """The stored files of ``photos`` and of their faces' crops."""
    return [p.file for p in photos] + [f.crop for f in Face.objects.filter(photo__in=photos)]
