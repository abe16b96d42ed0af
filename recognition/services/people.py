"""People: create, rename, merge, delete (with their biometric data), export. Which faces
are theirs, and their reference faces, are in ``faces``."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from recognition import files
from recognition.models import AuditEvent, Face, Person, Photo
from recognition.services.audit import audit
from recognition.services.photos import _photo_files


class PersonExists(ValidationError):
    """The name is taken (names are unique ignoring case and surrounding spaces); ``person``
    is who has it."""

    def __init__(self, person: Person):
        super().__init__(f"There is already a person called {person.name}.", code="exists")
        self.person = person


def person_create(*, name: str, notes: str = "") -> Person:
    """Create a person with no reference faces yet. Raises PersonExists for a name taken."""
    person = Person(name=name.strip(), notes=notes)
    _refuse_taken(person)
    person.full_clean()
    person.save()
    return person


def person_rename(*, person: Person, name: str) -> Person:
    """Give ``person`` a new name (a change of case or spacing only is fine). Raises
    PersonExists for a name someone else has."""
    person.name = name.strip()
    _refuse_taken(person)
    person.full_clean()
    person.save(update_fields=["name", "updated_at"])
    return person


def _refuse_taken(person: Person) -> None:
    other = Person.objects.filter(name__iexact=person.name).exclude(pk=person.pk).first()
    if other is not None:
        raise PersonExists(other)


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
            person=None, decision=Face.Decision.UNKNOWN, cluster=None, updated_at=timezone.now()
        )
        person.delete()
    transaction.on_commit(lambda: files.delete(stored))


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
