"""Active liveness: ask for a challenge, then send the burst of frames that answers it
(``services.liveness``). Synchronous like verify: the frames are analysed in the web process."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from recognition.api.common import UPLOAD_PARSERS, PersonRefSerializer
from recognition.api.verify import SYNC_ERRORS
from recognition.services import liveness


class ChallengeApi(APIView):
    throttle_scope = "analyse"

    class OutputSerializer(serializers.Serializer):
        challenge = serializers.ChoiceField(source="name", choices=sorted(liveness.CHALLENGES))
        prompt = serializers.CharField(help_text="What to ask the person, in words.")
        token = serializers.CharField(help_text="Send it back with the frames, once.")
        expires_in_s = serializers.IntegerField()

        class Meta:
            ref_name = "LivenessChallenge"

    @extend_schema(operation_id="liveness_challenge", request=None,
                   responses={200: OutputSerializer})
    def post(self, request) -> Response:
        """A random challenge (blink, turn left, turn right or smile) for the person in front
        of the camera, with the token to answer it with."""
        return Response(self.OutputSerializer(liveness.challenge_issue(user=request.user)).data)


class LivenessApi(APIView):
    parser_classes = UPLOAD_PARSERS
    throttle_scope = "analyse"

    class InputSerializer(serializers.Serializer):
        token = serializers.CharField(help_text="The challenge's token.")
        frames = serializers.ListField(
            child=serializers.FileField(), min_length=liveness.MIN_FRAMES,
            max_length=liveness.MAX_FRAMES,
            help_text="The burst, in order: camera frames (JPEG) taken while the person did "
            "the challenge, a few per second (multipart/form-data, one `frames` part each).")

        class Meta:
            ref_name = "LivenessInput"

    class OutputSerializer(serializers.Serializer):
        passed = serializers.BooleanField()
        challenge = serializers.CharField()
        reason = serializers.CharField(help_text="Why it failed, in words (\"Passed.\" if not).")
        frames = serializers.IntegerField()
        measures = serializers.DictField(
            child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
            help_text="Per frame: yaw (degrees, > 0 towards the picture's right), eye_openness, "
            "happy, distance (descriptor) and change (grey levels) from the frame before.")
        liveness_score = serializers.FloatField(
            allow_null=True, help_text="The burst's median passive liveness score.")
        person = PersonRefSerializer(allow_null=True, help_text="Who it is, if enrolled.")
        liveness_token = serializers.CharField(
            allow_null=True, help_text="When passed: vouches for a webcam enrolment snapshot "
            "taken right after (FACEWEB_LIVENESS_TOKEN_S).")

        class Meta:
            ref_name = "LivenessDecision"

    @extend_schema(operation_id="liveness", request=InputSerializer,
                   responses={200: OutputSerializer, **SYNC_ERRORS})
    def post(self, request) -> Response:
        """Did the person do the challenge? Decided from the frames: the same live face
        throughout, frames that move, and the movement asked for (eyes that close and open,
        a head that turns the asked way, a smile that appears)."""
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decision = liveness.challenge_decide(user=request.user, **data.validated_data)
        return Response(self.OutputSerializer(decision).data)
