"""The base of the API views that send a stored file (apart from common.py, which REST
framework's settings import before its views exist)."""

from __future__ import annotations

from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.views import APIView


class AnyAccept(BaseContentNegotiation):
    """Whatever the client accepts (an <img> asks for image/*), answer with the first
    renderer: a file view sends its file itself, and its errors are JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class FileApi(APIView):
    """Base of the views that send a stored file (``recognition.files.file_response``)."""

    content_negotiation_class = AnyAccept
