"""Who a face is: faces assigned to a person (existing or new); a person's reference faces,
which later photos are matched against (enrolment, adding and removing one); corrections (not
a face, not this person); unknown faces grouped by who they probably are."""

from __future__ import annotations

import base64
import contextlib

import numpy as np
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from recognition import files, selectors
from recognition.models import EMBEDDING_DTYPE, AuditEvent, Face, Person, Photo
from recognition.pipeline import matching, quality
from recognition.services.audit import audit
from recognition.services.people import person_create
from recognition.services.photos import photo_create
from recognition.services.recognise import group_unknown, match_threshold, model_version


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
        face.candidate = None
        face.save()  # also moves updated_at, which tells every worker's gallery cache
        # An enrolment photo waiting for "choose which face" has its answer now.
        Photo.objects.filter(pk=face.photo_id, purpose=Photo.Purpose.ENROL, person=person).exclude(
            error=""
        ).update(error="")
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
                f"This photo shows {len(faces)} faces; open it and choose which one is "
                f"{person.name}."
            )
        face = faces[0]
        x1, y1, x2, y2 = face.box
        if min(x2 - x1, y2 - y1) < settings.FACEWEB_ENROL_MIN_FACE_PX:
            raise ValidationError(
                f"The face in this photo is too small to recognise {person.name} by "
                f"({min(x2 - x1, y2 - y1):.0f} pixels across; at least "
                f"{settings.FACEWEB_ENROL_MIN_FACE_PX} are needed). Use a closer photo."
            )
        if face.sharpness is not None and face.sharpness < settings.FACEWEB_MIN_SHARPNESS:
            raise ValidationError(
                f"The face in this photo is too blurred to recognise {person.name} by. Use a "
                "sharper photo."
            )
        yaw = quality.pose(np.asarray(face.landmarks))[0]
        if abs(yaw) > settings.FACEWEB_ENROL_MAX_YAW:
            raise ValidationError(
                f"The face in this photo is turned too far aside (about {abs(yaw):.0f} degrees) "
                f"to recognise {person.name} by. Use a photo where they face the camera."
            )
    elif face.photo_id != photo.pk:
        raise ValidationError("That face is not in this photo.")
    return face_assign(face=face, person=person)


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


# A face deleted as not a face, as face_restore needs it: every field but the id, the crop
# as base64 of its JPEG, the descriptor as base64.
RESTORED_FIELDS = (
    "photo_id", "box", "landmarks", "detection_score", "model_version", "expression",
    "expression_scores", "person_id", "decision", "distance", "is_reference", "candidate_id",
    "rejected_person_id",
)


def face_mark_not_a_face(*, face: Face, actor: AbstractBaseUser | None = None) -> dict:
    """Delete a false detection (and its crop). Analysing the photo again may find it again.
    Returns what ``face_restore`` needs to undo it (for the session of who did it: it holds
    the face's descriptor and crop)."""
    audit(actor=actor, action=AuditEvent.Action.NOT_A_FACE, target=f"face {face.pk}",
          detail=f"in photo {face.photo_id}")
    snapshot = {name: getattr(face, name) for name in RESTORED_FIELDS}
    snapshot["embedding"] = base64.b64encode(bytes(face.embedding)).decode()
    snapshot["crop"] = ""
    if face.crop:
        with contextlib.suppress(OSError), face.crop.open("rb") as f:
            snapshot["crop"] = base64.b64encode(f.read()).decode()
    crop = face.crop
    face.delete()
    transaction.on_commit(lambda: files.delete([crop]))
    return snapshot


def face_restore(*, snapshot: dict, actor: AbstractBaseUser | None = None) -> Face:
    """Undo ``face_mark_not_a_face``: the face again, as it was, under a new id. Raises
    ValidationError when its photo (or the person it was assigned to) is gone since."""
    if not Photo.objects.filter(pk=snapshot["photo_id"]).exists():
        raise ValidationError("Its photo has been deleted since.")
    if snapshot["person_id"] and not Person.objects.filter(pk=snapshot["person_id"]).exists():
        raise ValidationError("The person it showed has been deleted since.")
    face = Face(**{name: snapshot[name] for name in RESTORED_FIELDS},
                embedding=base64.b64decode(snapshot["embedding"]))
    for name in ("candidate_id", "rejected_person_id"):
        if getattr(face, name) and not Person.objects.filter(pk=getattr(face, name)).exists():
            setattr(face, name, None)
    written = []
    if snapshot["crop"]:
        files.store(face.crop, files.stored_name("JPEG"),
                    ContentFile(base64.b64decode(snapshot["crop"])))
        written.append(face.crop)
    try:
        with transaction.atomic():
            face.save()
            audit(actor=actor, action=AuditEvent.Action.RESTORE_FACE, target=f"face {face.pk}",
                  detail=f"in photo {face.photo_id}")
    except BaseException:
        files.delete(written)
        raise
    return face


def face_mark_not_this_person(*, face: Face) -> Face:
    """Undo a face's match or assignment, or turn down its "possibly" (``candidate``): it is
    unknown, not a reference, and never matched to or offered as that person again."""
    said = face.person_id or face.candidate_id
    if said is None:
        raise ValidationError("This face is not matched to anyone.")
    face.rejected_person_id = said
    face.person, face.decision, face.is_reference = None, Face.Decision.UNKNOWN, False
    face.candidate = None
    face.cluster = None  # to be grouped again
    face.save()
    return face


# Per process: model version -> the gallery fingerprint its faces were last re-identified
# against. A new worker process re-identifies once more, which changes nothing.
_reidentified: dict[str, tuple] = {}


def faces_reidentify(*, force: bool = False, batch_size: int = 2000) -> int | None:
    """Match every unknown and automatically matched face of the current model version against
    the gallery again (the re-identification task, run by Celery beat), when the references
    changed since the last time (or ``force``): earlier photos get the names of people enrolled
    since, and a face whose match rested on a reference that is gone becomes unknown. Assigned
    faces are never touched, and a face is never matched to the person someone said it is not
    (``rejected_person``). Returns the number of faces changed, or None when nothing was done.
    """
    version = model_version()
    fingerprint = selectors.gallery_fingerprint(model_version=version)
    if not force and _reidentified.get(version) == fingerprint:
        return None
    gallery = selectors.gallery_get(model_version=version)
    automatic = (Face.Decision.AUTO, Face.Decision.UNKNOWN)
    faces = Face.objects.filter(model_version=version, decision__in=automatic)
    changed, last = 0, 0
    while rows := list(
        faces.filter(pk__gt=last).order_by("pk")
        .values_list("pk", "embedding", "person_id", "distance", "rejected_person_id",
                     "candidate_id")
        [:batch_size]
    ):
        last = rows[-1][0]
        vectors = np.stack([np.frombuffer(bytes(row[1]), EMBEDDING_DTYPE) for row in rows])
        matches = matching.identify(vectors, gallery, threshold=match_threshold(),
                                    margin=settings.FACEWEB_MATCH_MARGIN)
        for (pk, _, person, distance, rejected, candidate), match in zip(
            rows, matches, strict=True
        ):
            now = match.person_id if match.person_id != rejected else None
            possible = match.candidate if match.candidate != rejected else None
            if (now, match.distance, possible) == (person, distance, candidate):
                continue
            update = {"person_id": now, "distance": match.distance, "updated_at": timezone.now(),
                      "decision": Face.Decision.AUTO if now else Face.Decision.UNKNOWN,
                      "candidate_id": possible}
            if now is None and person is not None:
                update["cluster"] = None  # unknown again: to be grouped
            # Only if nobody decided about the face meanwhile.
            changed += faces.filter(pk=pk, person_id=person).update(**update)
    _reidentified[version] = fingerprint
    return changed


def unknown_faces_regroup(*, force: bool = False) -> int | None:
    """Group the unknown faces (the grouping task, run by Celery beat): the newest
    FACEWEB_GROUP_MAX_FACES unknown faces of the current model version that are good enough
    (FACEWEB_GROUP_MIN_SCORE, FACEWEB_GROUP_MIN_FACE_PX, FACEWEB_MIN_SHARPNESS) and not hidden
    are clustered
    (``recognise.group_unknown``) and each face's ``cluster`` is written. Does nothing unless
    some unknown face is not grouped yet, or ``force``. Returns the number of groups, or None
    when nothing was done."""
    unknown = Face.objects.filter(decision=Face.Decision.UNKNOWN)
    if not force and not unknown.filter(cluster__isnull=True).exists():
        return None
    last = Face.objects.aggregate(last=Max("pk"))["last"] or 0  # faces added later wait
    rows = list(
        unknown.filter(model_version=model_version(), cluster_hidden=False)
        .order_by("-id")
        .values_list("id", "embedding", "box", "detection_score", "cluster", "sharpness")
        [: settings.FACEWEB_GROUP_MAX_FACES]
    )
    min_side = settings.FACEWEB_GROUP_MIN_FACE_PX
    blurred = settings.FACEWEB_MIN_SHARPNESS
    good = [
        (pk, vector) for pk, vector, (x1, y1, x2, y2), score, _, sharp in rows
        if score >= settings.FACEWEB_GROUP_MIN_SCORE and min(x2 - x1, y2 - y1) >= min_side
        and (sharp is None or sharp >= blurred)
    ]
    labels = dict.fromkeys((row[0] for row in rows), -1)
    if good:
        vectors = np.stack([np.frombuffer(bytes(vector), EMBEDDING_DTYPE) for _, vector in good])
        labels.update(zip((pk for pk, _ in good), group_unknown(vectors).tolist(), strict=True))
    changed = [Face(pk=pk, cluster=labels[pk]) for pk, *_, was, _ in rows if was != labels[pk]]
    with transaction.atomic():
        Face.objects.bulk_update(changed, ["cluster"], batch_size=500)
        # Older, of other versions, hidden: in no group.
        unknown.filter(cluster__isnull=True, pk__lte=last).exclude(pk__in=labels).update(
            cluster=-1
        )
    return max(labels.values(), default=-1) + 1


def unknown_faces_hide(*, face_ids: list[int]) -> int:
    """Keep these unknown faces out of every group from now on. Returns how many."""
    return Face.objects.filter(pk__in=face_ids, decision=Face.Decision.UNKNOWN).update(
        cluster_hidden=True, cluster=-1
    )


def faces_forget_age_gender() -> int:
    """Erase every face's estimated age and gender (FACEWEB_AGE_GENDER turned off). Returns
    how many faces had one."""
    return Face.objects.exclude(age=None, gender="").update(
        age=None, gender="", gender_probability=None
    )
