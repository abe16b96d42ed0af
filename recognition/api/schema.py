"""OpenAPI generation (drf-spectacular): every operation also documents the error shape."""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, for programs: e.g. invalid, not_found.")
    message = serializers.CharField(help_text="Readable, for people.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False,
        help_text="Input field -> its problems, when the input did not validate.",
    )
    person = serializers.IntegerField(
        required=False, help_text="With code person_exists: the id of the person with that name.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()

    class Meta:
        ref_name = "Error"


# Statuses any operation may answer (see recognition.api.errors).
ERRORS = {
    "400": "Invalid input, or an image that cannot be read.",
    "401": "Not signed in: send `Authorization: Token <key>` or a session cookie.",
    "403": "Signed in, but not allowed (e.g. staff only).",
    "404": "No such object, or not yours.",
    "406": "Only application/json responses are available.",
    "413": "Image or request body too large.",
    "415": "Send application/json (or multipart/form-data where files are accepted).",
    "429": "Too many requests; see Retry-After.",
}


class AutoSchema(openapi.AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, description in ERRORS.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=description), code,
                    direction=direction,
                )
        return responses


NAME_TAKEN = OpenApiResponse(
    ErrorSerializer,
    description="The name is taken (names are unique ignoring case and surrounding spaces); "
    "`person` is who has it.",
)
