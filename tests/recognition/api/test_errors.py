"""Errors are JSON ``{"error": {"code", "message", "fields"?}}``, never an HTML page."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework import serializers
from rest_framework.test import APIRequestFactory

from recognition.api.errors import exception_handler

pytestmark = pytest.mark.django_db


def test_a_validation_error_names_each_field(api, staff):
    response = api(staff).post("/api/v1/people/", {"name": "", "notes": ["a list"]})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and set(error["fields"]) == {"name", "notes"}
    assert error["message"] == "Some fields are not valid; see fields."


def test_malformed_json_is_a_400(api, staff):
    response = api(staff).post("/api/v1/people/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_json_nested_too_deeply_is_a_400(api, staff):
    body = '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = api(staff).post("/api/v1/people/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == {"code": "parse_error",
                                        "message": "JSON parse error - nested too deeply."}


def test_an_unsupported_method_is_a_405(api, user):
    response = api(user).put("/api/v1/photos/", {})
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_a_non_json_accept_header_is_a_406_in_json(api, user):
    response = api(user).get("/api/v1/photos/", HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert response.json()["error"]["code"] == "not_acceptable"


def test_an_unexpected_exception_is_a_json_500_and_is_logged(caplog):
    request = APIRequestFactory().get("/")
    response = exception_handler(ZeroDivisionError("boom"), {"request": request, "view": None})
    assert response.status_code == 500
    assert response.data == {"error": {"code": "server_error",
                                       "message": "Something went wrong on the server."}}
    assert "boom" in caplog.text


def test_a_list_of_errors_becomes_the_message():
    response = exception_handler(serializers.ValidationError(["One.", "Two."]), {})
    assert response.data == {"error": {"code": "invalid", "message": "One. Two."}}


@pytest.mark.parametrize("part", ["fields", "files"])
def test_a_multipart_body_with_too_many_parts_is_a_400(api, user, settings, part):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = settings.DATA_UPLOAD_MAX_NUMBER_FILES = 5
    if part == "fields":
        data = {f"f{i}": "1" for i in range(10)}
    else:
        data = {f"f{i}": SimpleUploadedFile(f"{i}.png", b"x") for i in range(10)}
    response = api(user).post("/api/v1/photos/", data, format="multipart")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "too_many_parts" and f"{part} than" in error["message"]


def test_a_query_string_with_too_many_parameters_is_a_400(api, user, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    response = api(user).get("/api/v1/photos/?" + "&".join(f"f{i}=1" for i in range(10)))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many_parts"


@pytest.mark.parametrize("query", ["?expression=", "?colour=red", "?page_size=5&sort=name"])
def test_an_empty_filter_or_an_unknown_query_parameter_is_a_400_not_ignored(api, user, query):
    response = api(user).get(f"/api/v1/photos/{query}")
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize("name", [123, 4.5, True, ["Ada"]])
def test_a_name_that_is_not_a_string_is_refused_not_turned_into_one(api, staff, name):
    response = api(staff).post("/api/v1/people/", {"name": name, "notes": 7}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) >= {"name"}


def test_an_empty_base64_image_beside_a_multipart_one_is_a_400(api, user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.factories import png_bytes

    response = api(user).post("/api/v1/photos/", {
        "image": SimpleUploadedFile("a.png", png_bytes()), "image_base64": ""},
        format="multipart")
    assert response.status_code == 400
    assert "not both" in response.json()["error"]["fields"]["image"][0]
