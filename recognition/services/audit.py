"""Audit: who did what to which biometric record (``AuditEvent``, append-only)."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser

from recognition.models import AuditEvent, Face, Photo


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


def face_searched(*, user: AbstractBaseUser, face: Face, found: int) -> None:
    """Audit a search of every photo for a face (it shows other users' photos)."""
    audit(actor=user, action=AuditEvent.Action.SEARCH_FACE, target=f"face {face.pk}",
          detail=f"in photo {face.photo_id}; {found} photo{'s' if found != 1 else ''} found")


def file_viewed(*, user: AbstractBaseUser, photo: Photo, face: Face | None = None) -> None:
    """Audit staff opening a photo, or a face, that someone else uploaded."""
    if photo.uploaded_by_id != user.pk:
        if face is None:
            audit(actor=user, action=AuditEvent.Action.VIEW_PHOTO, target=f"photo {photo.pk}")
        else:
            audit(actor=user, action=AuditEvent.Action.VIEW_CROP, target=f"face {face.pk}",
                  detail=f"in photo {photo.pk}")
