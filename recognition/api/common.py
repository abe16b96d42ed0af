"""Pieces every API module shares: body size limits, image input, ids, file URLs, pagination."""

from __future__ import annotations

import base64
import binascii
import math

from django.conf import settings
from django.core.files.base import ContentFile
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import parsers, serializers
from rest_framework.exceptions import ParseError
from rest_framework.pagination import PageNumberPagination

from recognition.api.errors import TooLarge
from recognition.models import Person

# Primary keys are 64-bit: larger numbers would overflow the database driver (a 500).
MAX_ID = 2**63 - 1


def max_body_bytes() -> int:
    """The largest request body: two images (verify) in base64, plus the other fields."""
    return 2 * math.ceil(settings.FACEWEB_MAX_UPLOAD_BYTES * 4 / 3) + 64 * 1024


class _BodyLimit:
    """Refuse a body above ``max_body_bytes`` from its Content-Length, before reading it.

    REST framework reads JSON bodies without Django's DATA_UPLOAD_MAX_MEMORY_SIZE check, and
    Django spools multipart files of any size to disk; this stops both early.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        length = request.META.get("CONTENT_LENGTH") if request is not None else None
        if length and length.isdigit() and int(length) > max_body_bytes():
            raise TooLarge(f"The request body is larger than {max_body_bytes()} bytes.")
        return super().parse(stream, media_type, parser_context)


class JSONParser(_BodyLimit, parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:  # REST framework catches only ValueError
            raise ParseError("JSON parse error - nested too deeply.") from None


class MultiPartParser(_BodyLimit, parsers.MultiPartParser):
    pass


UPLOAD_PARSERS = (JSONParser, MultiPartParser)


class QuerySerializer(serializers.Serializer):
    """Query parameters: an unknown or empty one is a 400, so that a mistyped or blank filter
    is not silently ignored (and everything listed)."""

    def to_internal_value(self, data):
        errors = {name: ["Unknown query parameter."] for name in set(data) - set(self.fields)}
        errors |= {name: ["Give a value, or leave the parameter out."]
                   for name in data if name in self.fields and data.get(name) == ""}
        if errors:
            raise serializers.ValidationError(dict(sorted(errors.items())))
        return super().to_internal_value(data)


class TextField(serializers.CharField):
    """A string, and only a string: a JSON number or boolean is refused, not turned into
    text."""

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def id_field(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class PersonIdField(serializers.IntegerField):
    """An existing person's id in the request; validates to the Person itself."""

    def to_internal_value(self, data) -> Person:
        person = Person.objects.filter(pk=id_field().run_validation(data)).first()
        if person is None:
            raise serializers.ValidationError("No person with this id.")
        return person


class Pagination(PageNumberPagination):
    """``?page=N&page_size=M`` (at most 100); answers count, next, previous and results."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


def check_size(size: int) -> None:
    """413 for an image above FACEWEB_MAX_UPLOAD_BYTES."""
    limit = settings.FACEWEB_MAX_UPLOAD_BYTES
    if size > limit:
        text = f"{limit / 2**20:g} MB" if limit >= 2**20 else f"{limit} bytes"
        raise TooLarge(f"This image is larger than the {text} limit.")


class Base64ImageField(serializers.CharField):
    """An image file sent inside JSON, base64-encoded; a ``data:...;base64,`` prefix and line
    breaks are fine. Validates to a ContentFile (not yet decoded as an image: the pipeline
    does that)."""

    def to_internal_value(self, data) -> ContentFile:
        text = super().to_internal_value(data)
        if text.startswith("data:") and "," in text:
            text = text.split(",", 1)[1]
        text = "".join(text.split())  # encoders often wrap lines at 76 characters
        check_size(len(text) * 3 // 4)  # before decoding it into memory
        try:
            content = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise serializers.ValidationError("This is not valid base64.") from None
        if not content:
            raise serializers.ValidationError("The image is empty.")
        return ContentFile(content, name="upload")


def pick_image(
    attrs: dict, data, prefix: str = "", *, required: bool = True
) -> dict:
    """Replace ``<prefix>image`` / ``<prefix>image_base64`` of validated ``attrs`` by one
    ``<prefix>image`` file (None when absent and not ``required``); returns ``attrs``. Both
    sent is a 400 even when one is empty (``data``: the request's fields as sent)."""
    upload, encoded = attrs.pop(f"{prefix}image", None), attrs.pop(f"{prefix}image_base64", None)
    if f"{prefix}image" in data and f"{prefix}image_base64" in data:
        raise serializers.ValidationError(
            {f"{prefix}image": f"Send {prefix}image or {prefix}image_base64, not both."}
        )
    file = upload if upload is not None else encoded
    if file is None and required:
        raise serializers.ValidationError(
            {f"{prefix}image": f"Send {prefix}image (multipart) or {prefix}image_base64 (JSON)."}
        )
    if file is not None:
        check_size(file.size)
    attrs[f"{prefix}image"] = file
    return attrs


class ImageInputSerializer(serializers.Serializer):
    """One image: the file as ``image`` (multipart/form-data), or its bytes in base64 as
    ``image_base64`` (application/json)."""

    image = serializers.FileField(
        required=False, help_text="The image file (multipart/form-data)."
    )
    image_base64 = Base64ImageField(
        required=False, help_text="The image file, base64-encoded (application/json)."
    )

    def validate(self, attrs: dict) -> dict:
        return pick_image(attrs, self.initial_data)


@extend_schema_field({"type": "string", "format": "uri", "nullable": True})
class FileUrlField(serializers.Field):
    """Where the object's stored file is sent to those allowed to see it (an API view named
    ``view_name``, which checks), or null when it has no file."""

    def __init__(self, *, file: str, view_name: str, lookup: str, **kwargs):
        super().__init__(read_only=True, source="*", **kwargs)
        self.file, self.view_name, self.lookup = file, view_name, lookup

    def to_representation(self, obj) -> str | None:
        if not getattr(obj, self.file):
            return None
        url = reverse(self.view_name, kwargs={self.lookup: obj.pk})
        return self.context["request"].build_absolute_uri(url)


class PersonRefSerializer(serializers.Serializer):
    """A person as other objects mention them."""

    id = serializers.IntegerField()
    name = serializers.CharField()

    class Meta:
        ref_name = "PersonRef"


def paginated(item: type[serializers.Serializer], name: str) -> type[serializers.Serializer]:
    """The documented shape of a Pagination page of ``item``s (component ``name``)."""
    fields = {
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": item(many=True),
        "Meta": type("Meta", (), {"ref_name": name}),
    }
    return type(f"{name}Serializer", (serializers.Serializer,), fields)


def paginate(request, view, queryset, serializer: type[serializers.Serializer]):
    """One page of ``queryset`` as a Pagination response."""
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    data = serializer(page, many=True, context={"request": request}).data
    return paginator.get_paginated_response(data)
