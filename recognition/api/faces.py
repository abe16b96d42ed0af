"""Faces: read one; staff correct them (assign to a person, not a face, not this person)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from recognition import files, selectors, services
from recognition.api.common import (
    FileUrlField,
    PersonIdField,
    PersonRefSerializer,
    TextField,
    id_field,
    paginate,
    paginated,
)
from recognition.api.files import FileApi
from recognition.models import Face
from recognition.pipeline import matching
from recognition.pipeline.types import EXPRESSIONS


class PoseSerializer(serializers.Serializer):
    yaw = serializers.FloatField(allow_null=True, help_text="> 0: looks towards the right of "
                                 "the picture.")
    pitch = serializers.FloatField(allow_null=True, help_text="> 0: looks up (coarse).")
    roll = serializers.FloatField(allow_null=True, help_text="> 0: tilted clockwise.")

    class Meta:
        ref_name = "Pose"


class FaceSerializer(serializers.Serializer):
    """A face as every endpoint shows it."""

    id = serializers.IntegerField()
    url = serializers.HyperlinkedIdentityField(
        view_name="api:face-detail", lookup_url_kwarg="face_id"
    )
    photo_id = serializers.IntegerField()
    box = serializers.ListField(
        child=serializers.FloatField(), min_length=4, max_length=4,
        help_text="[x1, y1, x2, y2] in pixels of the upright photo.",
    )
    landmarks = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
        help_text="[x, y] of: left eye, right eye, nose, mouth left, mouth right.",
    )
    detection_score = serializers.FloatField()
    person = PersonRefSerializer(allow_null=True, help_text="Who it is; null when unknown.")
    decision = serializers.ChoiceField(
        choices=Face.Decision.values,
        help_text="auto: matched by the system; assigned: by a person; unknown.",
    )
    distance = serializers.FloatField(
        allow_null=True,
        help_text="Descriptor distance to the nearest known person when analysed (lower is "
        "closer; same person at most the match threshold). Null with no people known.",
    )
    possibly = PersonRefSerializer(
        source="candidate", allow_null=True,
        help_text="For an unknown face: who it looks somewhat like, not enough to name them "
        "(confirm with assign, turn down with not-this-person).",
    )
    confidence = serializers.SerializerMethodField(
        help_text="In words: confirmed (by a person), very likely, likely, possibly, unknown."
    )
    is_reference = serializers.BooleanField(help_text="Part of its person's gallery.")
    expression = serializers.ChoiceField(choices=EXPRESSIONS)
    expression_scores = serializers.DictField(child=serializers.FloatField())
    age = serializers.FloatField(
        allow_null=True, help_text="Estimated age in years; null when age and gender are "
        "turned off (FACEWEB_AGE_GENDER) or the photo was analysed before they existed.",
    )
    gender = serializers.ChoiceField(choices=["male", "female"], allow_null=True,
                                     help_text="Estimated gender; null as for age.")
    gender_probability = serializers.FloatField(
        allow_null=True, help_text="How sure the gender estimate is, 0.5-1.")
    pose = PoseSerializer(source="*", help_text="Which way the head looks, in degrees.")
    sharpness = serializers.FloatField(allow_null=True, help_text="Focus of the face's crop.")
    quality = serializers.FloatField(
        allow_null=True, help_text="0-1: size, focus, pose and detection score together.")
    liveness_score = serializers.FloatField(
        allow_null=True, help_text="Camera photos (webcam, live) only: the probability that the "
        "face is a live person's, not a print; null for other photos.")
    crop_url = FileUrlField(file="crop", view_name="api:face-crop", lookup="face_id")

    class Meta:
        ref_name = "Face"

    def to_representation(self, face: Face) -> dict:
        data = super().to_representation(face)
        if not settings.FACEWEB_AGE_GENDER:
            data.update(age=None, gender=None, gender_probability=None)
        else:
            data["gender"] = data["gender"] or None
        return data

    def get_confidence(self, face: Face) -> str:
        if face.band == "recognised":
            return matching.confidence(face.distance, services.match_threshold())
        return {"possible": "possibly"}.get(face.band, face.band)


class CandidateSerializer(serializers.Serializer):
    person = PersonRefSerializer()
    distance = serializers.FloatField()

    class Meta:
        ref_name = "Candidate"


def _face(request, face_id: int) -> Face:
    return get_object_or_404(selectors.faces_visible_to(user=request.user), pk=face_id)


def _face_response(request, face: Face) -> Response:
    return Response(FaceSerializer(face, context={"request": request}).data)


class FaceDetailApi(APIView):
    class OutputSerializer(FaceSerializer):
        candidates = CandidateSerializer(
            many=True, help_text="The nearest people, nearest first (staff only; else empty)."
        )

        class Meta:
            ref_name = "FaceDetail"

    @extend_schema(operation_id="face_get", responses=OutputSerializer)
    def get(self, request, face_id: int) -> Response:
        """A face in one of your photos (staff: any), with, for staff, the people nearest to
        it."""
        face = _face(request, face_id)
        face.candidates = [
            {"person": person, "distance": distance}
            for person, distance in selectors.face_nearest_people(face=face, limit=3)
        ] if request.user.is_staff else []
        return Response(self.OutputSerializer(face, context={"request": request}).data)


class SightingSerializer(serializers.Serializer):
    face = FaceSerializer(help_text="The photo's face nearest to the one searched for.")
    distance = serializers.FloatField(help_text="Descriptor distance to the face searched for.")
    confidence = serializers.CharField(
        help_text="That distance in words: very likely, likely or possibly the same person.")

    class Meta:
        ref_name = "Sighting"


class FaceEverywhereApi(APIView):
    permission_classes = (IsAdminUser,)

    @extend_schema(operation_id="face_everywhere",
                   responses=paginated(SightingSerializer, "SightingPage"))
    def get(self, request, face_id: int) -> Response:
        """Staff: every other photo with a face like this one, nearest first, one per photo
        (its nearest face), down to "possibly" the same person; every face is searched, not
        only references. At most 1,000 photos, paginated."""
        face = get_object_or_404(Face, pk=face_id)
        sightings = selectors.face_everywhere(face=face, threshold=services.match_threshold())
        if request.query_params.get("page") in (None, "1"):  # once per search
            services.face_searched(user=request.user, face=face, found=len(sightings))
        return paginate(request, self, sightings, SightingSerializer)


class FaceAssignApi(APIView):
    permission_classes = (IsAdminUser,)

    class InputSerializer(serializers.Serializer):
        person_id = PersonIdField(required=False, help_text="An existing person.")
        new_person_name = TextField(
            required=False, max_length=200, help_text="Or: create a person with this name."
        )

        class Meta:
            ref_name = "FaceAssignInput"

        def validate(self, attrs: dict) -> dict:
            if ("person_id" in attrs) == ("new_person_name" in attrs):
                raise serializers.ValidationError("Give person_id or new_person_name (one).")
            return attrs

    @extend_schema(operation_id="face_assign", request=InputSerializer, responses=FaceSerializer)
    def post(self, request, face_id: int) -> Response:
        """Staff: say who this face is; it becomes one of that person's reference faces."""
        face = _face(request, face_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        person = data.validated_data.get("person_id")
        face = services.face_assign(
            face=face, person=person,
            new_person_name=data.validated_data.get("new_person_name", ""), actor=request.user,
        )
        return _face_response(request, face)


class FaceNotAFaceApi(APIView):
    permission_classes = (IsAdminUser,)

    @extend_schema(operation_id="face_mark_not_a_face", request=None, responses={204: None})
    def post(self, request, face_id: int) -> Response:
        """Staff: this detection is not a face; it is deleted."""
        services.face_mark_not_a_face(face=_face(request, face_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FaceNotThisPersonApi(APIView):
    @extend_schema(operation_id="face_mark_not_this_person", request=None, responses=FaceSerializer)
    def post(self, request, face_id: int) -> Response:
        """Staff, or the uploader of its photo: this face is not the person it was matched or
        assigned to (or is possibly); it becomes unknown (and leaves that person's references),
        and is never matched to or offered as them again."""
        face = _face(request, face_id)
        if not (request.user.is_staff or face.photo.uploaded_by_id == request.user.pk):
            raise PermissionDenied
        face = services.face_mark_not_this_person(face=face)
        return _face_response(request, face)


class FaceCropApi(FileApi):
    """``GET``: the face's crop (an aligned JPEG), for the photo's uploader or staff."""

    @extend_schema(operation_id="face_crop", responses={
        (200, "image/jpeg"): OpenApiResponse(OpenApiTypes.BINARY, description="The crop."),
    })
    def get(self, request, face_id: int) -> HttpResponse:
        """The face's crop."""
        face = get_object_or_404(
            Face.objects.filter(photo__in=selectors.photos_visible_to(user=request.user)),
            pk=face_id,
        )
        services.file_viewed(user=request.user, photo=face.photo, face=face)
        return files.file_response(face.crop, download_name=f"face-{face.pk}")


class UnknownGroupSerializer(serializers.Serializer):
    faces = FaceSerializer(many=True, help_text="Newest first.")
    looks_like = PersonRefSerializer(
        allow_null=True, help_text="Who the group as a whole possibly is, or null."
    )

    class Meta:
        ref_name = "UnknownGroup"


class UnknownFacesSerializer(serializers.Serializer):
    possible = FaceSerializer(many=True, help_text="Unknown faces that are possibly someone.")
    groups = UnknownGroupSerializer(many=True, help_text="Largest first (at most 60).")
    total_groups = serializers.IntegerField()
    alone = FaceSerializer(many=True, help_text="Newest unknown faces in no group.")
    waiting = serializers.IntegerField(help_text="Unknown faces not grouped yet.")

    class Meta:
        ref_name = "UnknownFaces"


class UnknownFacesApi(APIView):
    """Staff: the unknown faces, as the Unknown faces page shows them."""

    permission_classes = (IsAdminUser,)

    @extend_schema(operation_id="unknown_faces", responses=UnknownFacesSerializer)
    def get(self, request) -> Response:
        """Possibly-someone faces, groups of faces that probably show one person (grouped in
        the background), and faces in no group. Name a group by assigning its faces."""
        unknown = selectors.unknown_faces(
            model_version=services.model_version(), threshold=services.match_threshold(),
            min_size=settings.FACEWEB_GROUP_MIN_SIZE,
        )
        return Response(UnknownFacesSerializer(unknown, context={"request": request}).data)


class UnknownHideApi(APIView):
    permission_classes = (IsAdminUser,)

    class InputSerializer(serializers.Serializer):
        faces = serializers.ListField(
            child=id_field(), min_length=1, max_length=5000,
            help_text="Ids of unknown faces to keep out of groups.",
        )

        class Meta:
            ref_name = "UnknownHideInput"

    class OutputSerializer(serializers.Serializer):
        hidden = serializers.IntegerField(help_text="Unknown faces hidden (others are skipped).")

        class Meta:
            ref_name = "UnknownHideResult"

    @extend_schema(operation_id="unknown_hide", request=InputSerializer,
                   responses=OutputSerializer)
    def post(self, request) -> Response:
        """Staff: keep these unknown faces out of every group from now on (strangers)."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        hidden = services.unknown_faces_hide(face_ids=data.validated_data["faces"])
        return Response({"hidden": hidden})
