"""Who may see what: every page needs a signed-in user, managing people needs staff, and a
user sees only the photos (and faces) they uploaded unless they are staff."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from recognition import selectors
from recognition.models import Face, Photo


def staff_required(view: Callable) -> Callable:
    """Sign-in first (a redirect to the login page), then staff only (403 for others)."""

    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("Only staff can manage people.")
        return view(request, *args, **kwargs)

    return wrapper


def visible_photo(request, pk: int) -> Photo:
    """The photo, with its faces, if this user may see it; 404 otherwise (not 403, which would
    tell them it exists)."""
    return get_object_or_404(selectors.photo_list(user=request.user), pk=pk)


def visible_face(request, pk: int) -> Face:
    photos = selectors.photos_visible_to(user=request.user)
    return get_object_or_404(
        Face.objects.select_related("photo", "person", "candidate"), pk=pk, photo__in=photos
    )
