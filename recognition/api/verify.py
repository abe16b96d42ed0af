"""Synchronous recognition for callers that cannot poll: verify (1:1) and identify (1:N).

The pipeline runs inside the web process (see ``services.image_analyse_now``): the first call
of a process loads the models (seconds, once), one analysis runs at a time, and a caller waits
at most FACEWEB_SYNC_WAIT_S for its turn (then 503 ``busy``). Nothing is stored.
"""

from __future__ import annotations

from collections.abc import Mapping

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from recognition import services
from recognition.api.common import (
    UPLOAD_PARSERS,
    Base64ImageField,
    ImageInputSerializer,
    PersonIdField,
    PersonRefSerializer,
    pick_image,
)
from recognition.api.faces import CandidateSerializer
from recognition.api.schema import ErrorSerializer
from recognition.pipeline import age_gender
from recognition.pipeline.types import EXPRESSIONS

SYNC_ERRORS = {
    422: OpenApiResponse(ErrorSerializer, description="No face in an image (`no_face`); with "
                         "`require_liveness`, a face that does not look live (`not_live`)."),
    503: OpenApiResponse(
        ErrorSerializer,
        description="`busy` (other analyses keep the process busy; see Retry-After) or "
        "`models_not_installed`.",
    ),
}
BOX = serializers.ListField(child=serializers.FloatField(), min_length=4, max_length=4,
                            help_text="[x1, y1, x2, y2] in pixels of the upright image.")


class VerifyApi(APIView):
    parser_classes = UPLOAD_PARSERS
    throttle_scope = "analyse"

    class InputSerializer(ImageInputSerializer):
        other_image = serializers.FileField(
            required=False, help_text="The image to compare with (multipart/form-data)."
        )
        other_image_base64 = Base64ImageField(
            required=False, help_text="The image to compare with, base64 (application/json)."
        )
        person_id = PersonIdField(required=False, help_text="Or: the person to compare with.")
        require_liveness = serializers.BooleanField(
            default=False, help_text="Refuse (422 `not_live`) when the face in `image` does "
            "not look live (passive liveness; README \"Liveness\").")

        class Meta:
            ref_name = "VerifyInput"

        def validate(self, attrs: dict) -> dict:
            attrs = pick_image(pick_image(attrs, self.initial_data), self.initial_data, "other_",
                               required=False)
            if (attrs["other_image"] is None) == ("person_id" not in attrs):
                raise serializers.ValidationError(
                    "Compare with other_image (or other_image_base64) or with person_id (one)."
                )
            return attrs

    class OutputSerializer(serializers.Serializer):
        class UsedFaceSerializer(serializers.Serializer):
            source = serializers.ChoiceField(choices=["image", "other_image", "reference"])
            box = BOX
            detection_score = serializers.FloatField()
            faces_found = serializers.IntegerField(
                allow_null=True, help_text="Faces in that image; its largest one was used."
            )
            face_id = serializers.IntegerField(
                allow_null=True, help_text="The person's reference face nearest to the image's."
            )

            class Meta:
                ref_name = "VerifiedFace"

        same = serializers.BooleanField(help_text="distance <= threshold")
        distance = serializers.FloatField(help_text="Euclidean descriptor distance.")
        threshold = serializers.FloatField()
        person = PersonRefSerializer(allow_null=True)
        faces = UsedFaceSerializer(many=True)

        class Meta:
            ref_name = "Verification"

    @extend_schema(
        operation_id="verify", request=InputSerializer,
        responses={200: OutputSerializer, **SYNC_ERRORS},
    )
    def post(self, request) -> Response:
        """Is it the same person? Compare the largest face of `image` with the largest face of
        `other_image`, or (staff only) with a person's reference faces."""
        asks_for_a_person = isinstance(request.data, Mapping) and "person_id" in request.data
        if asks_for_a_person and not request.user.is_staff:
            # Checked before the id is even looked at: who is enrolled is not for everyone.
            raise exceptions.PermissionDenied("Only staff can verify against enrolled people.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        person = data.validated_data.get("person_id")
        result = services.image_verify(
            file=data.validated_data["image"], other_file=data.validated_data["other_image"],
            person=person, require_liveness=data.validated_data["require_liveness"],
        )
        return Response(self.OutputSerializer(result).data)


class IdentifyApi(APIView):
    parser_classes = UPLOAD_PARSERS
    throttle_scope = "analyse"

    class InputSerializer(ImageInputSerializer):
        top_k = serializers.IntegerField(
            min_value=1, max_value=10, default=3, help_text="Nearest people listed per face."
        )
        require_liveness = serializers.BooleanField(
            default=False, help_text="Leave a face that does not look live unknown (passive "
            "liveness; README \"Liveness\").")

        class Meta:
            ref_name = "IdentifyInput"

    class OutputSerializer(serializers.Serializer):
        class IdentifiedFaceSerializer(serializers.Serializer):
            box = BOX
            landmarks = serializers.ListField(
                child=serializers.ListField(child=serializers.FloatField())
            )
            detection_score = serializers.FloatField()
            person = PersonRefSerializer(allow_null=True, help_text="Null: unknown.")
            distance = serializers.FloatField(allow_null=True)
            expression = serializers.ChoiceField(choices=EXPRESSIONS)
            expression_scores = serializers.DictField(child=serializers.FloatField())
            age = serializers.FloatField(allow_null=True, help_text="Estimated; null when off.")
            gender = serializers.ChoiceField(choices=["male", "female"], allow_null=True)
            gender_probability = serializers.FloatField(allow_null=True)
            liveness_score = serializers.FloatField(
                help_text="The probability that the face is a live person's, not a print.")
            live = serializers.BooleanField(
                help_text="liveness_score >= the server's threshold (FACEWEB_LIVENESS_THRESHOLD)")
            candidates = CandidateSerializer(many=True)

            class Meta:
                ref_name = "IdentifiedFace"

            def to_representation(self, identified: services.IdentifiedFace) -> dict:
                face = identified.face
                gender, gender_probability = age_gender.gender(face.male)
                return super().to_representation({
                    "box": [float(v) for v in face.detection.box],
                    "landmarks": [[float(x), float(y)] for x, y in face.detection.landmarks],
                    "detection_score": float(face.detection.score),
                    "person": identified.person, "distance": identified.distance,
                    "expression": face.expression,
                    "expression_scores": {k: float(v) for k, v in face.expression_scores.items()},
                    "age": face.age, "gender": gender, "gender_probability": gender_probability,
                    "liveness_score": face.liveness, "live": services.is_live(face),
                    "candidates": [vars(c) for c in identified.candidates],
                })

        width = serializers.IntegerField()
        height = serializers.IntegerField()
        threshold = serializers.FloatField()
        faces = IdentifiedFaceSerializer(many=True)
        timings_ms = serializers.DictField(child=serializers.FloatField())

        class Meta:
            ref_name = "Identification"

    @extend_schema(
        operation_id="identify", request=InputSerializer,
        responses={200: OutputSerializer, **SYNC_ERRORS},
    )
    def post(self, request) -> Response:
        """Who is in this image? Every face with its match (or unknown) and, for staff, the
        nearest people (others get an empty `candidates`: who else is enrolled is not theirs
        to know)."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.image_identify(
            file=data.validated_data["image"],
            top_k=data.validated_data["top_k"] if request.user.is_staff else 0,
            require_liveness=data.validated_data["require_liveness"],
        )
        return Response(self.OutputSerializer(result).data)
