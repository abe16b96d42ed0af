"""Recognise (upload, webcam), a photo's result, its status for polling, its image, and the
history of photos."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from PIL import Image, ImageOps

from recognition import files, selectors, services
from recognition.forms import HistoryFilterForm, UploadForm
from recognition.models import Face, Person, Photo
from recognition.pipeline import image as images
from recognition.pipeline import matching
from recognition.views.access import visible_face, visible_photo

THUMBNAIL_SIDE = 320
DISPLAY_SIDE = 2560  # a JPEG for a photo in a format browsers cannot show
HISTORY_PAGE_SIZE = 24
# The session's last face deleted as "not a face" (services.face_mark_not_a_face), to undo
# within UNDO_S seconds; it holds the face's descriptor and crop, so it is dropped from the
# session at the first page view after that.
UNDO_KEY = "undo_not_a_face"
UNDO_S = 600


def undo_snapshot(request) -> dict | None:
    """The face this session may still bring back, or None (an older one is dropped)."""
    snapshot = request.session.get(UNDO_KEY)
    if snapshot is not None and time.time() - snapshot["deleted_at"] > UNDO_S:
        del request.session[UNDO_KEY]
        return None
    return snapshot
# The session's batch: the Recognise page's uploads until "New batch".
BATCH_KEY = "batch"


@dataclass(frozen=True)
class FaceBox:
    """A face as the result page shows it: its box over the photo, in % of the photo's size,
    and how sure the app is of who it is."""

    face: Face
    number: int
    left: float
    top: float
    width: float
    height: float
    threshold: float = 0.0

    @property
    def name(self) -> str:
        if self.face.person_id:
            return self.face.person.name
        return f"{self.face.candidate.name}?" if self.face.candidate_id else "Unknown"

    @property
    def band(self) -> str:
        return self.face.band

    @property
    def tag_side(self) -> str:
        """Where its name tag goes so that it stays on the photo: CSS classes."""
        sides = ["tag-left"] if self.left + self.width > 60 else []
        return " ".join(sides + (["tag-above"] if self.top + self.height > 90 else []))

    @property
    def words(self) -> str:
        """How sure, in words: see matching.confidence."""
        return face_words(self.face, self.threshold)

    @property
    def expression_score(self) -> float:
        return self.face.expression_scores.get(self.face.expression, 0.0)


def face_words(face: Face, threshold: float) -> str:
    """How sure, in words for a page (``Face.band``; recognised: matching.confidence)."""
    band = face.band
    if band == "confirmed":
        return "confirmed by a person"
    if band == "recognised":
        return matching.confidence(face.distance, threshold)
    if band == "possible":
        return "possibly: not sure enough to name"
    return "no one enrolled yet" if face.distance is None else "like no one enrolled"


def face_boxes(photo: Photo) -> list[FaceBox]:
    """The photo's faces with their boxes; boxes are in pixels of the upright photo."""
    if not (photo.width and photo.height):
        return []
    threshold = services.match_threshold()
    boxes = []
    for number, face in enumerate(photo.faces.all(), start=1):
        x1, y1, x2, y2 = face.box
        boxes.append(FaceBox(
            face, number, left=100 * x1 / photo.width, top=100 * y1 / photo.height,
            width=100 * (x2 - x1) / photo.width, height=100 * (y2 - y1) / photo.height,
            threshold=threshold,
        ))
    return boxes


def _result_context(photo: Photo) -> dict:
    return {"photo": photo, "boxes": face_boxes(photo), "finished": photo.status in FINISHED}


FINISHED = (Photo.Status.DONE, Photo.Status.FAILED)


@never_cache  # Back asks the server again, which knows the batch's photos by then
@login_required
def recognise(request):
    """Upload photos and see them recognised. The photos of this session's batch come back
    with the page (after Back, or a reload), still followed until they are done."""
    undo_snapshot(request)  # drops an old one
    batch = _current_batch(request)
    photos = list(selectors.batch_photos(user=request.user, batch=batch)) if batch else []
    return render(request, "recognition/recognise.html", {
        "form": UploadForm(), "batch": batch,
        "cards": [_result_context(photo) for photo in photos],
        "summary": selectors.batch_summary(photos) if batch else None,
    })


@login_required
def live(request):
    """The camera, live: faces found and followed in the browser, named by the identify API;
    nothing stored unless "keep sightings" is on (README "Live camera")."""
    return render(request, "recognition/live.html", {
        "identify_every_ms": settings.FACEWEB_LIVE_IDENTIFY_EVERY_MS,
        "model_files": [f"{net}_model{suffix}" for net in ("tiny_face_detector",
                                                           "face_landmark_68_tiny")
                        for suffix in ("-weights_manifest.json", ".bin")],
    })


def _current_batch(request):
    return selectors.batch_get(user=request.user, batch_id=request.session.get(BATCH_KEY))


@login_required
@require_POST
def batch_new(request):
    """Put this batch away: the Recognise page starts empty (the batch keeps its page)."""
    request.session.pop(BATCH_KEY, None)
    return redirect("recognition:recognise")


@login_required
def batch_detail(request, pk: int):
    batch = selectors.batch_get(user=request.user, batch_id=pk)
    if batch is None:
        raise Http404("No such batch.")
    photos = list(selectors.batch_photos(user=request.user, batch=batch))
    return render(request, "recognition/batch.html", {
        "batch": batch, "photos": photos, "summary": selectors.batch_summary(photos),
    })


@login_required
@require_POST
def photo_upload(request):
    """Store the uploaded photos and queue them. Answers JSON to the page's script (one file
    per request, so each has its own progress) and redirects a plain form post."""
    wants_json = "application/json" in request.headers.get("Accept", "")
    form = UploadForm(request.POST, request.FILES)
    photos, errors = [], []
    if form.is_valid():
        batch = _current_batch(request)
        if form.cleaned_data["source"] == Photo.Source.LIVE:
            batch = None  # sightings go to the history, not into the Recognise page's batch
        elif batch is None:
            batch = services.batch_create(user=request.user)
            request.session[BATCH_KEY] = batch.pk
        head = form.cleaned_data["original_head"] if len(form.cleaned_data["file"]) == 1 else None
        for file in form.cleaned_data["file"]:
            try:
                photos.append(services.photo_create(
                    file=file, uploaded_by=request.user, source=form.cleaned_data["source"],
                    original_head=head, batch=batch,
                ))
            except ValidationError as exc:
                errors.append(f"{file.name}: {' '.join(exc.messages)}")
    else:
        errors = [message for field in form.errors.values() for message in field]
    if wants_json:
        return JsonResponse(
            {"photos": [_status(photo) for photo in photos], "errors": errors},
            status=202 if photos else 400,
        )
    for error in errors:
        messages.error(request, error)
    if len(photos) == 1:
        return redirect("recognition:photo_detail", pk=photos[0].pk)
    if photos:
        messages.success(request, f"{len(photos)} photos uploaded; results appear below.")
        return redirect("recognition:history")
    return redirect("recognition:recognise")


def _status(photo: Photo) -> dict:
    return {
        "id": photo.pk,
        "status": photo.status,
        "finished": photo.status in FINISHED,
        "error": photo.error,
        "status_url": reverse("recognition:photo_status", args=[photo.pk]),
        "result_url": reverse("recognition:photo_result", args=[photo.pk]),
        "url": reverse("recognition:photo_detail", args=[photo.pk]),
        "duplicate": getattr(photo, "duplicate", False),  # sent before: the photo from then
    }


@login_required
def photo_status(request, pk: int):
    """What the pages poll while a photo is analysed: a few fields, one query."""
    photos = selectors.photos_visible_to(user=request.user).only("pk", "status", "error")
    photo = get_object_or_404(photos, pk=pk)
    return JsonResponse(_status(photo))


@login_required
def photo_detail(request, pk: int):
    photo = visible_photo(request, pk)
    undo = undo_snapshot(request)
    return render(request, "recognition/photo_detail.html", _result_context(photo) | {
        "undo": undo is not None and undo["photo_id"] == photo.pk,
    })


@login_required
def photo_delete(request, pk: int):
    """A confirmation page (GET), then the deletion of the photo, its faces and files (POST):
    for its uploader and staff."""
    photo = get_object_or_404(selectors.photos_visible_to(user=request.user), pk=pk)
    if request.method == "POST":
        services.photo_delete(photo=photo, actor=request.user)
        messages.success(request, f"Photo {pk} and its faces were deleted.")
        return redirect("recognition:history")
    references = photo.faces.filter(is_reference=True).select_related("person")
    return render(request, "recognition/photo_delete.html", {
        "photo": photo, "references": references,
    })


@login_required
def photo_result(request, pk: int):
    """The result alone (the photo with its boxes, and its faces), for the Recognise page to
    insert when an upload finishes."""
    photo = visible_photo(request, pk)
    return render(request, "recognition/_photo_result.html", _result_context(photo))


# The two file views answer 404 to anyone else, signed in or not: a file URL is no page to
# sign in to, and a redirect would say that the file exists.
def photo_image(request, pk: int):
    """The photo's file, or with ``?thumb`` a small JPEG of it, for its uploader or staff. A
    format browsers cannot show (HEIC, TIFF) is sent as a JPEG of up to DISPLAY_SIDE."""
    photo = visible_photo(request, pk)
    side, name = THUMBNAIL_SIDE, f"photo-{photo.pk}-thumbnail.jpg"
    if "thumb" not in request.GET:
        services.file_viewed(user=request.user, photo=photo)
        if files.stored_format(photo.file) not in images.NOT_FOR_BROWSERS:
            return files.file_response(photo.file, download_name=f"photo-{photo.pk}")
        side, name = DISPLAY_SIDE, f"photo-{photo.pk}.jpg"
    try:
        jpeg = _jpeg(photo.file, side)
    except (OSError, ValueError, Image.DecompressionBombError):
        raise Http404("This photo cannot be shown.") from None  # e.g. a damaged upload
    return files.protect(HttpResponse(jpeg, content_type="image/jpeg"), filename=name)


def face_crop(request, pk: int):
    face = visible_face(request, pk)
    return files.file_response(face.crop, download_name=f"face-{face.pk}")


def _jpeg(file, side: int) -> bytes:
    """An upright JPEG of the image at most ``side`` pixels on its longer side."""
    with files.open_stored(file) as f, Image.open(f) as image:
        image.draft("RGB", (side, side))  # JPEG: decode at 1/2..1/8 size
        image = ImageOps.exif_transpose(image).convert("RGB")
        image.thumbnail((side, side))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


@login_required
def history(request):
    user = request.user
    people = Person.objects.all() if user.is_staff else Person.objects.filter(
        Exists(Face.objects.filter(person=OuterRef("pk"), photo__uploaded_by=user)))
    form = HistoryFilterForm(request.GET or None, people=people,
                             age_gender=settings.FACEWEB_AGE_GENDER)
    filters = form.cleaned_data if form.is_valid() else {}
    person = filters.get("person")
    photos = selectors.photo_list(
        user=user, person_id=person.pk if person else None,
        expression=filters.get("expression") or None,
        date_from=filters.get("date_from"), date_to=filters.get("date_to"),
        unknown_only=filters.get("unknown", False),
        age_from=filters.get("age_from"), age_to=filters.get("age_to"),
        gender=filters.get("gender") or None,
    )
    page = Paginator(photos, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "recognition/history.html", {
        "form": form, "page": page, "person": person, "query": query.urlencode(),
    })


@login_required
def person_timeline(request, pk: int):
    """Where and when one person was seen, in the photos this user may see, by day."""
    person = get_object_or_404(Person, pk=pk)
    faces = selectors.person_timeline(user=request.user, person_id=person.pk)
    if not request.user.is_staff and not faces.exists():
        raise Http404("No such person in your photos.")  # nor reveal who else is enrolled
    page = Paginator(faces, 60).get_page(request.GET.get("page"))
    return render(request, "recognition/person_timeline.html", {"person": person, "page": page})
