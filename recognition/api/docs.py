"""The ReDoc page without web fonts from a CDN.

drf-spectacular's ReDoc template links Google Fonts in its ``<head>``; this page keeps the
rest of it (the script comes from drf-spectacular-sidecar's static files) and lets ReDoc use
the browser's fonts, so the docs load nothing from outside this server. Swagger UI's page
(``/docs/``) needs no change.
"""

from __future__ import annotations

import functools

from django.http import HttpResponse
from django.template import engines
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView


@functools.cache
def _page():
    return engines["django"].from_string(
        '{% extends "drf_spectacular/redoc.html" %}{% block head %}'
        '<title>{{ title|default:"Redoc" }}</title><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<style>body { margin: 0; padding: 0; }</style>{% endblock head %}"
    )


class RedocView(SpectacularRedocView):
    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs) -> HttpResponse:
        context = super().get(request, *args, **kwargs).data
        return HttpResponse(_page().render(context, request))
