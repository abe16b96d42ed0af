"""Photos: submit one for recognition (answered at once, analysed by a worker), poll its
status and results, list with filters, delete. Users see their own photos; staff see all."""

from __future__ import annotations

import time

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from recognition import files, selectors, services
from recognition.api.common import (
    UPLOAD_PARSERS,
    FileUrlField,
    ImageInputSerializer,
    PersonRefSerializer,
    QuerySerializer,
    id_field,
    paginate,
    paginated,
)
from recognition.api.faces import FaceSerializer
from recognition.api.files import FileApi
from recognition.models import Batch, Photo
from recognition.pipeline.types import EXPRESSIONS

POLL_INTERVAL_S = 0.25


class PhotoSerializer(serializers.Serializer):
    """A photo with its analysis: ``status`` pending or processing until a worker is done,
    then done (``faces`` filled) or failed (``error`` says why)."""

    id = serializers.IntegerField()
    url = serializers.HyperlinkedIdentityField(
        view_name="api:photo-detail", lookup_url_kwarg="photo_id",
        help_text="Poll this for the status and results.",
    )
    status = serializers.ChoiceField(choices=Photo.Status.values)
    error = serializers.CharField(help_text="Why analysis failed (or enrolled nobody).")
    source = serializers.ChoiceField(choices=Photo.Source.values)
    purpose = serializers.ChoiceField(choices=Photo.Purpose.values)
    person = PersonRefSerializer(allow_null=True, help_text="The person an enrolment photo enrols.")
    uploaded_by = serializers.CharField(source="uploaded_by.username", allow_null=True)
    image_url = FileUrlField(file="file", view_name="api:photo-image", lookup="photo_id")
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    original_name = serializers.CharField(help_text="The file's name when it was sent.")
    taken_at = serializers.DateTimeField(
        allow_null=True, help_text="When it was taken, from its EXIF; null when it does not say."
    )
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    model_version = serializers.CharField()
    timings_ms = serializers.DictField(
        child=serializers.FloatField(), help_text="Milliseconds per pipeline stage."
    )
    faces = FaceSerializer(many=True)

    class Meta:
        ref_name = "Photo"


class WaitSerializer(QuerySerializer):
    wait = serializers.IntegerField(
        min_value=0, max_value=settings.FACEWEB_API_MAX_WAIT_S, default=0,
        help_text="Seconds to hold the request for the result (query parameter). Answered "
        "201 with the result when analysis finished in time, else 202 to poll.",
    )


def photo_response(request, photo: Photo, *, wait: int) -> Response:
    """The answer to an upload: 201 with the result when the photo finished within ``wait``
    seconds, else 202 with the photo pending; 200 with the photo stored before when its
    uploader sent the same file already. ``Location`` is its status URL in every case."""
    duplicate = getattr(photo, "duplicate", False)
    deadline = time.monotonic() + wait
    while not (finished := selectors.photo_is_finished(photo_id=photo.pk)):
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL_INTERVAL_S)
    photo = selectors.photo_list(user=request.user).get(pk=photo.pk)
    data = PhotoSerializer(photo, context={"request": request}).data
    code = status.HTTP_201_CREATED if finished else status.HTTP_202_ACCEPTED
    if duplicate:
        code = status.HTTP_200_OK
    location = reverse("api:photo-detail", kwargs={"photo_id": photo.pk})
    return Response(data, status=code, headers={"Location": request.build_absolute_uri(location)})


UPLOAD_RESPONSES = {
    200: OpenApiResponse(
        PhotoSerializer, description="You sent this same file before: the photo stored then."
    ),
    201: OpenApiResponse(PhotoSerializer, description="Analysed within `wait` seconds."),
    202: OpenApiResponse(PhotoSerializer, description="Accepted; poll `url` for the result."),
}


class PhotoCollectionApi(APIView):
    """``GET``: list your photos; ``POST``: submit one."""

    parser_classes = UPLOAD_PARSERS

    class FilterSerializer(QuerySerializer):
        person = id_field(required=False, help_text="Photos showing this person.")
        expression = serializers.ChoiceField(
            choices=EXPRESSIONS, required=False, help_text="Photos with a face showing it."
        )
        date_from = serializers.DateField(required=False, help_text="Uploaded on or after.")
        date_to = serializers.DateField(required=False, help_text="Uploaded on or before.")
        unknown_only = serializers.BooleanField(
            default=False, help_text="Only photos with an unknown face."
        )
        age_from = serializers.IntegerField(
            min_value=0, max_value=120, required=False,
            help_text="A face estimated at least this old (with age_to, gender: the same face; "
            "ignored when age and gender are off).")
        age_to = serializers.IntegerField(min_value=0, max_value=120, required=False,
                                          help_text="A face estimated at most this old.")
        gender = serializers.ChoiceField(choices=["male", "female"], required=False,
                                         help_text="A face estimated of this gender.")
        page = id_field(required=False)
        page_size = serializers.IntegerField(min_value=1, max_value=100, required=False)

    class SubmitSerializer(ImageInputSerializer):
        batch = id_field(
            required=False, help_text="A batch of yours to add it to (`POST /batches/`)."
        )

        class Meta:
            ref_name = "PhotoSubmitInput"

    @extend_schema(
        operation_id="photo_list", parameters=[FilterSerializer],
        responses=paginated(PhotoSerializer, "PhotoPage"),
    )
    def get(self, request) -> Response:
        """Your photos (staff: everyone's), newest first, with their faces."""
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        f = filters.validated_data
        photos = selectors.photo_list(
            user=request.user, person_id=f.get("person"), expression=f.get("expression"),
            date_from=f.get("date_from"), date_to=f.get("date_to"), unknown_only=f["unknown_only"],
            **({"age_from": f.get("age_from"), "age_to": f.get("age_to"),
                "gender": f.get("gender")} if settings.FACEWEB_AGE_GENDER else {}),
        )
        return paginate(request, self, photos, PhotoSerializer)

    @extend_schema(
        operation_id="photo_submit", parameters=[WaitSerializer], request=SubmitSerializer,
        responses=UPLOAD_RESPONSES,
    )
    def post(self, request) -> Response:
        """Submit an image for recognition. A worker analyses it; poll the photo's `url`, or
        pass `?wait=N` to get the result in this response when it is ready in time."""
        query = WaitSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = self.SubmitSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        batch = None
        if "batch" in data.validated_data:
            batch = Batch.objects.filter(pk=data.validated_data["batch"], user=request.user).first()
            if batch is None:
                raise serializers.ValidationError({"batch": ["No batch of yours with this id."]})
        photo = services.photo_create(
            file=data.validated_data["image"], uploaded_by=request.user, source=Photo.Source.API,
            batch=batch,
        )
        return photo_response(request, photo, wait=query.validated_data["wait"])


class PhotoDetailApi(APIView):
    """``GET``: a photo's status and results; ``DELETE``: delete it."""

    @extend_schema(operation_id="photo_get", responses=PhotoSerializer)
    def get(self, request, photo_id: int) -> Response:
        """A photo's status and, once done, its faces."""
        photo = get_object_or_404(selectors.photo_list(user=request.user), pk=photo_id)
        return Response(PhotoSerializer(photo, context={"request": request}).data)

    @extend_schema(operation_id="photo_delete", responses={204: None})
    def delete(self, request, photo_id: int) -> Response:
        """Delete a photo with its faces and files."""
        photo = get_object_or_404(selectors.photos_visible_to(user=request.user), pk=photo_id)
        services.photo_delete(photo=photo, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PhotoImageApi(FileApi):
    """``GET``: the photo's image file, for its uploader or staff."""

    @extend_schema(operation_id="photo_image", responses={
        (200, "image/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The image file."),
    })
    def get(self, request, photo_id: int) -> HttpResponse:
        """The photo's image, as uploaded (its type read from the image itself)."""
        photo = get_object_or_404(selectors.photos_visible_to(user=request.user), pk=photo_id)
        services.file_viewed(user=request.user, photo=photo)
        return files.file_response(photo.file, download_name=f"photo-{photo.pk}")


class BatchSummarySerializer(serializers.Serializer):
    photos = serializers.IntegerField()
    waiting = serializers.IntegerField(help_text="Not analysed yet.")
    failed = serializers.IntegerField()
    no_face = serializers.IntegerField()
    unknown = serializers.IntegerField(help_text="Photos with at least one unknown face.")
    known = serializers.IntegerField(help_text="Photos whose every face has a name.")

    class Meta:
        ref_name = "BatchSummary"


class BatchSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.HyperlinkedIdentityField(
        view_name="api:batch-detail", lookup_url_kwarg="batch_id"
    )
    created_at = serializers.DateTimeField()
    summary = BatchSummarySerializer(help_text="What became of its photos.")
    photos = PhotoSerializer(source="shown_photos", many=True, help_text="Newest first.")

    class Meta:
        ref_name = "Batch"


def _batch_response(request, batch: Batch, code: int = status.HTTP_200_OK) -> Response:
    batch.shown_photos = list(selectors.batch_photos(user=request.user, batch=batch))
    batch.summary = selectors.batch_summary(batch.shown_photos)
    return Response(BatchSerializer(batch, context={"request": request}).data, status=code)


class BatchCollectionApi(APIView):
    """``POST``: start a batch, to submit photos into and follow together."""

    @extend_schema(operation_id="batch_create", request=None, responses={201: BatchSerializer})
    def post(self, request) -> Response:
        return _batch_response(request, services.batch_create(user=request.user),
                               status.HTTP_201_CREATED)


class BatchDetailApi(APIView):
    @extend_schema(operation_id="batch_get", responses=BatchSerializer)
    def get(self, request, batch_id: int) -> Response:
        """A batch of yours (staff: anyone's), its photos, and what became of them."""
        batch = selectors.batch_get(user=request.user, batch_id=batch_id)
        if batch is None:
            raise Http404
        return _batch_response(request, batch)
