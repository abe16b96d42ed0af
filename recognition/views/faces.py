"""One face: its crop, scores and closest people, and what staff can say about it."""

from __future__ import annotations

import time

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from recognition import selectors, services
from recognition.forms import FaceAssignForm
from recognition.models import Face
from recognition.pipeline import matching
from recognition.views.access import staff_required, visible_face
from recognition.views.photos import UNDO_KEY, face_words, undo_snapshot


@login_required
def face_detail(request, pk: int):
    """The face page; with ``?panel`` only its panel, for the photo page to show beside the
    photo."""
    face = visible_face(request, pk)
    if "panel" not in request.GET:  # the panel comes with the photo page, audited there
        services.file_viewed(user=request.user, photo=face.photo, face=face)
    threshold = services.match_threshold()
    # Who else is enrolled, and how close, is for staff only.
    nearest = [
        (person, distance, matching.is_match(distance, threshold))
        for person, distance in selectors.face_nearest_people(face=face)
    ] if request.user.is_staff else None
    scores = sorted(face.expression_scores.items(), key=lambda item: -item[1])
    panel = "panel" in request.GET
    return render(request, f"recognition/{'_face_panel' if panel else 'face_detail'}.html", {
        "face": face, "nearest": nearest, "threshold": threshold, "scores": scores,
        "band": face.band, "words": face_words(face, threshold),
        # Who the face is said, or possibly, to be: its uploader may say it is not them.
        "said": face.person or face.candidate,
        "may_reject": request.user.is_staff or face.photo.uploaded_by_id == request.user.pk,
        "assign_form": FaceAssignForm(
            prefix=f"face{face.pk}", initial={"person": _enrolling(face)}
        ) if request.user.is_staff else None,
        # Where the actions lead back to: the page that shows the panel, else the photo.
        "next": request.GET.get("next") or reverse("recognition:photo_detail", args=[face.photo_id]),
    })


@staff_required
def face_everywhere(request, pk: int):
    """Staff: every photo with a face like this one, across all faces, nearest first."""
    face = get_object_or_404(Face.objects.select_related("photo", "person"), pk=pk)
    threshold = services.match_threshold()
    started = time.perf_counter()
    sightings = selectors.face_everywhere(face=face, threshold=threshold)
    took_ms = (time.perf_counter() - started) * 1000
    if request.GET.get("page") in (None, "1"):  # once per search, not per page
        services.face_searched(user=request.user, face=face, found=len(sightings))
    page = Paginator(sightings, 48).get_page(request.GET.get("page"))
    return render(request, "recognition/face_everywhere.html", {
        "face": face, "page": page, "took_ms": took_ms,
        "limit": selectors.EVERYWHERE_MOST, "threshold": threshold,
    })


def _enrolling(face: Face) -> int | None:
    """The person an enrolment photo is for, when this face of it is not theirs yet: the
    choice the form starts with."""
    photo = face.photo
    if photo.purpose == photo.Purpose.ENROL and face.person_id != photo.person_id:
        return photo.person_id
    return None


def _back(request, face: Face):
    """To the page the action came from (``next``), else the face's photo."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect("recognition:photo_detail", pk=face.photo_id)


@staff_required
@require_POST
def face_assign(request, pk: int):
    face = get_object_or_404(Face.objects.select_related("person"), pk=pk)
    form = FaceAssignForm(request.POST, prefix=f"face{face.pk}")
    if form.is_valid():
        try:
            face = services.face_assign(
                face=face, person=form.cleaned_data["person"],
                new_person_name=form.cleaned_data["new_name"], actor=request.user,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"This face is {face.person.name}; it is now one of "
                             "their reference faces.")
    else:
        messages.error(request, " ".join(form.non_field_errors() or ["Check the form."]))
    return _back(request, face)


@staff_required
@require_POST
def face_not_a_face(request, pk: int):
    """Delete a false detection; the photo page offers to undo it (from this session)."""
    face = get_object_or_404(Face, pk=pk)
    snapshot = services.face_mark_not_a_face(face=face, actor=request.user)
    request.session[UNDO_KEY] = snapshot | {"deleted_at": time.time()}
    messages.success(request, "Marked as not a face; it is gone from the results.")
    return _back(request, face)


@staff_required
@require_POST
def face_restore(request):
    """Undo the last "not a face" of this session."""
    snapshot = undo_snapshot(request)
    request.session.pop(UNDO_KEY, None)
    if snapshot is None:
        messages.error(request, "There is nothing to undo.")
        return redirect("recognition:recognise")
    try:
        services.face_restore(snapshot=snapshot, actor=request.user)
    except ValidationError as exc:
        messages.error(request, "The face cannot be brought back: " + " ".join(exc.messages))
        return redirect("recognition:recognise")
    messages.success(request, "The face is back.")
    return redirect("recognition:photo_detail", pk=snapshot["photo_id"])


@login_required
@require_POST
def face_not_this_person(request, pk: int):
    """Staff, or the uploader of the photo: "this is not X" (a match, an assignment, or a
    possibly)."""
    face = visible_face(request, pk)
    if not (request.user.is_staff or face.photo.uploaded_by_id == request.user.pk):
        raise PermissionDenied
    said = face.person or face.candidate
    name = said.name if said else "this person"
    try:
        services.face_mark_not_this_person(face=face)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"This face is no longer {name}; it is unknown now.")
    return _back(request, face)
