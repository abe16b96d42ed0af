"""Every change to people, photos and faces goes through these functions.

Views, API views, admin actions and tasks only translate to and from them. Nothing here
imports TensorFlow at module level: the Celery parent process imports this module, and
TensorFlow initialised there hangs in the forked children. The pipeline is imported inside
``photo_analyse``, which only runs in a worker child.
"""

from __future__ import annotations

import hashlib
import io
import logging
from datetime import datetime, timedelta
from pathlib import Path

import kombu.exceptions
import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone
from PIL import Image

from recognition import selectors
from recognition.models import EMBEDDING_DTYPE, EMBEDDING_SIZE, Face, Person, Photo

logger = logging.getLogger(__name__)

# Descriptors of different networks cannot be compared: faces record the version that made
# them and the gallery only uses references of the current one. Change it when the
# descriptor network changes, then re-analyse the reference photos.
MODEL_VERSION = "dlib-resnet-v1/face-api-1.7.15"

# Failures worth retrying: the database went away or is locked for a moment.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)

# Raised by a publish when Redis cannot be reached (kombu wraps the client's errors).
BROKER_ERRORS = (kombu.exceptions.OperationalError, OSError)


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


def person_delete(*, person: Person) -> None:
    """Delete a person and their biometric data: reference faces, enrolment photos, crops.

    Faces in other photos that were matched to them become unknown faces.
    """
    with transaction.atomic():
        references = Face.objects.filter(person=person, is_reference=True)
        photos = Photo.objects.filter(person=person)
        files = [f.crop for f in references] + _photo_files(photos)
        references.delete()
        photos.delete()
        Face.objects.filter(person=person).update(
            person=None, decision=Face.Decision.UNKNOWN, updated_at=timezone.now()
        )
        person.delete()
    transaction.on_commit(lambda: _delete_files(files))


# --- Faces -------------------------------------------------------------------------------------


def face_assign(*, face: Face, person: Person | None = None, new_person_name: str = "") -> Face:
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
    return face


def faces_assign(
    *, faces: list[Face], person: Person | None = None, new_person_name: str = ""
) -> Person:
    """Say that all ``faces`` (e.g. a group of similar unknown faces) are one person, existing
    or new, in one transaction; each becomes a reference. Returns the person."""
    if not faces:
        raise ValidationError("Choose at least one face.")
    with transaction.atomic():
        first = face_assign(face=faces[0], person=person, new_person_name=new_person_name)
        for face in faces[1:]:
            face_assign(face=face, person=first.person)
    return first.person


# --- Photos ------------------------------------------------------------------------------------


def photo_create(
    *,
    file: File,
    uploaded_by=None,
    source: str = Photo.Source.UPLOAD,
    purpose: str = Photo.Purpose.RECOGNISE,
    person: Person | None = None,
) -> Photo:
    """Store an uploaded image and queue its analysis once the transaction commits.

    The row is saved first with status pending, so the photo survives a broker outage (the
    sweep queues it later). The image is not decoded here: a damaged file is accepted and
    ends failed with a readable error. ``person`` is required for, and only for, enrolment.
    """
    if file.size > settings.FACEWEB_MAX_UPLOAD_BYTES:
        limit_mb = settings.FACEWEB_MAX_UPLOAD_BYTES / 1024 / 1024
        raise ValidationError(f"This file is larger than the {limit_mb:.0f} MB limit.")
    if not file.size:
        raise ValidationError("This file is empty.")
    if (purpose == Photo.Purpose.ENROL) != (person is not None):
        raise ValidationError("An enrolment photo needs the person it enrols (and only it).")
    digest = hashlib.sha256()
    for chunk in file.chunks():
        digest.update(chunk)
    photo = Photo(
        content_hash=digest.hexdigest(), size_bytes=file.size, uploaded_by=uploaded_by,
        source=source, purpose=purpose, person=person,
    )
    # Named by content rather than by the uploader's file name, which may be anything.
    suffix = Path(file.name or "").suffix.lower()[:8]
    photo.file.save(f"{photo.content_hash[:24]}{suffix}", file, save=False)
    photo.save()
    transaction.on_commit(lambda: photo_queue(photo_id=photo.pk))
    return photo


def photo_queue(*, photo_id: int) -> bool:
    """Publish an analysis job for a photo. Returns False, and logs, when Redis is down: the
    photo stays pending and the sweep publishes it again."""
    from recognition.tasks import analyse_photo  # tasks imports this module

    try:
        analyse_photo.delay(photo_id)
    except BROKER_ERRORS as exc:
        logger.warning("Could not queue photo %s (%s); the sweep will retry", photo_id, exc)
        return False
    Photo.objects.filter(pk=photo_id).update(queued_at=timezone.now())
    return True


def photo_claim(*, photo_id: int) -> Photo | None:
    """Mark a pending photo processing and return it; None if it is gone, finished, or
    already claimed (so a job delivered twice does the work once)."""
    claimed = Photo.objects.filter(pk=photo_id, status=Photo.Status.PENDING).update(
        status=Photo.Status.PROCESSING, started_at=timezone.now(), attempts=F("attempts") + 1
    )
    return Photo.objects.get(pk=photo_id) if claimed else None


def photo_release(*, photo: Photo) -> None:
    """Hand a claimed photo back to pending (its job will be retried)."""
    Photo.objects.filter(
        pk=photo.pk, status=Photo.Status.PROCESSING, attempts=photo.attempts
    ).update(status=Photo.Status.PENDING)


def photo_analyse(*, photo: Photo) -> Photo:
    """Run the pipeline on a claimed photo, identify its faces, and store the outcome.

    The photo ends done (its faces replaced in one transaction) or failed with an error a
    person can read. Database hiccups (TRANSIENT_ERRORS) propagate for the task to retry.
    Results are dropped if another claim took the photo over meanwhile (``attempts``).
    """
    # Imported here, not at the top: this is what loads TensorFlow (see module docstring).
    from recognition.pipeline import analyse, image, models

    try:
        with photo.file.open("rb") as f:
            result = analyse.analyse_image(image.load_image(f))
    except image.ImageError as exc:
        return _photo_fail(photo, str(exc))
    except models.ModelNotInstalled as exc:
        return _photo_fail(photo, f"The face models are not installed on the server: {exc}")
    except FileNotFoundError:
        return _photo_fail(photo, "The uploaded file is missing from storage.")
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:  # a bug or a broken model: fail this photo, keep the worker going
        logger.exception("Analysing photo %s crashed", photo.pk)
        return _photo_fail(photo, f"Analysis crashed ({type(exc).__name__}); see the worker log.")

    embeddings = np.array([f.embedding for f in result.faces], dtype=np.float32).reshape(-1, EMBEDDING_SIZE)
    matches = selectors.identify(
        embeddings=embeddings,
        gallery=selectors.gallery_get(model_version=MODEL_VERSION),
        threshold=match_threshold(),
        margin=settings.FACEWEB_MATCH_MARGIN,
    )
    old_files: list = []
    with transaction.atomic():
        if not _photo_finish(
            photo, status=Photo.Status.DONE, width=result.width, height=result.height,
            model_version=MODEL_VERSION, timings_ms=result.timings_ms,
        ):
            return photo
        old_faces = list(photo.faces.all())
        old_files = [f.crop for f in old_faces]
        photo.faces.all().delete()
        for face_result, match in zip(result.faces, matches, strict=True):
            _face_create(photo, face_result, match, previous=old_faces)
        if photo.purpose == Photo.Purpose.ENROL and not photo.faces.filter(
            person=photo.person_id, is_reference=True
        ).exists():
            try:
                person_enrol(person=photo.person, photo=photo)
            except ValidationError as exc:
                photo.error = " ".join(exc.messages)
                photo.save(update_fields=["error"])
    transaction.on_commit(lambda: _delete_files(old_files))
    return photo


def photo_reanalyse(*, photo: Photo) -> None:
    """Queue a photo for analysis again (e.g. after installing models, or a model update).

    Assignments made by people survive on faces found again in the same place."""
    Photo.objects.filter(pk=photo.pk).update(
        status=Photo.Status.PENDING, error="", queued_at=None, finished_at=None
    )
    transaction.on_commit(lambda: photo_queue(photo_id=photo.pk))


def photo_delete(*, photo: Photo) -> None:
    """Delete a photo, its faces, and their files."""
    files = _photo_files(Photo.objects.filter(pk=photo.pk))
    photo.delete()
    transaction.on_commit(lambda: _delete_files(files))


def photos_requeue_stuck(*, now: datetime | None = None) -> int:
    """The sweep: queue again every photo that should be moving and is not. Returns how many.

    A photo counts as stuck when it is pending and was never queued (Redis was down), or
    was queued or started longer than FACEWEB_STUCK_AFTER_S ago (the job was lost with Redis,
    or its worker died). A photo whose analysis started FACEWEB_MAX_ATTEMPTS times without
    finishing is marked failed instead: it is probably what kills the worker.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.FACEWEB_STUCK_AFTER_S)
    stale = Photo.objects.filter(status=Photo.Status.PROCESSING, started_at__lt=cutoff)
    stale.filter(attempts__gte=settings.FACEWEB_MAX_ATTEMPTS).update(
        status=Photo.Status.FAILED, finished_at=now,
        error="Analysis was started several times and never finished; the worker stopped "
        "each time (perhaps out of memory). Try a smaller photo.",
    )
    stale.update(status=Photo.Status.PENDING)
    due = Photo.objects.filter(status=Photo.Status.PENDING).filter(
        Q(queued_at__isnull=True) | Q(queued_at__lt=cutoff)
    )
    queued = 0
    for photo_id in due.order_by("created_at").values_list("pk", flat=True):
        if not photo_queue(photo_id=photo_id):
            break  # Redis is down: the next sweep tries again
        queued += 1
    return queued


def match_threshold() -> float:
    """FACEWEB_MATCH_THRESHOLD, or the pipeline's calibrated default when unset."""
    if settings.FACEWEB_MATCH_THRESHOLD is not None:
        return settings.FACEWEB_MATCH_THRESHOLD
    from recognition.pipeline.analyse import DEFAULT_THRESHOLD

    return DEFAULT_THRESHOLD


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


def _face_create(photo: Photo, result, match: selectors.Match, *, previous: list[Face]) -> Face:
    """Store one FaceResult; keep a person's earlier assignment of a face in the same place."""
    box = [float(v) for v in result.detection.box]
    face = Face(
        photo=photo, box=box, landmarks=np.asarray(result.detection.landmarks).tolist(),
        detection_score=float(result.detection.score),
        embedding=np.asarray(result.embedding, dtype=EMBEDDING_DTYPE).tobytes(),
        model_version=MODEL_VERSION, expression=result.expression,
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
    face.crop.save(f"p{photo.pk}.jpg", ContentFile(buffer.getvalue()), save=False)
    face.save()
    return face


def _iou(a: list[float], b: list[float]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def _photo_files(photos) -> list:
    """The stored files of ``photos`` and of their faces' crops."""
    files = [p.file for p in photos]
    files += [f.crop for f in Face.objects.filter(photo__in=photos)]
    return files


def _delete_files(files: list) -> None:
    """Remove stored files after the rows are gone; a missing file is not an error."""
    for file in files:
        if file:
            file.storage.delete(file.name)
