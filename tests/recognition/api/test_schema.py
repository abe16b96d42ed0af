"""The OpenAPI schema is valid, and the docs are served from the app itself (no CDN)."""

import re

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_the_schema_generates_without_warnings_and_validates(tmp_path):
    """drf-spectacular's own validation against the OpenAPI 3 specification."""
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "/api/v1/photos/{photo_id}/:" in text and "operationId: verify" in text


def test_every_operation_documents_the_error_shape(api):
    schema = api().get("/api/v1/schema/?format=json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for code in ("400", "401", "404", "429"):
                assert code in operation["responses"], (method, path, code)
    assert schema["components"]["schemas"]["Error"]["required"] == ["error"]


@pytest.mark.parametrize("page", ["docs", "redoc"])
def test_the_docs_load_their_scripts_from_this_server(api, page):
    response = api().get(f"/api/v1/{page}/")
    assert response.status_code == 200
    sources = re.findall(rb'src="([^"]+)"', response.content)
    assert sources and all(s.startswith(b"/static/drf_spectacular_sidecar/") for s in sources)
    assert b"//" not in b"".join(re.findall(rb'(?:src|href)="([^"]+)"', response.content))
