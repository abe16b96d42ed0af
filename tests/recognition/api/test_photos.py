"""Photos: submit (multipart or base64 JSON), poll, list with filters and pages, delete."""

import base64
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from recognition import services
from recognition.models import Face, Photo
from tests.factories import (
    embedding,
    face_result,
    make_face,
    make_person,
    make_photo,
    png_bytes,
    upload,
)

pytestmark = pytest.mark.django_db


def image(content: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile("face.png", png_bytes() if content is None else content)


def test_a_multipart_upload_is_accepted_pending_with_its_status_url(api, user):
    response = api(user).post("/api/v1/photos/", {"image": image()}, format="multipart")
    assert response.status_code == 202
    body = response.json()
    photo = Photo.objects.get(pk=body["id"])
    assert (photo.status, photo.source, photo.uploaded_by) == ("pending", "api", user)
    assert body["status"] == "pending" and body["faces"] == []
    assert body["url"] == f"http://testserver/api/v1/photos/{photo.pk}/"
    assert response["Location"] == body["url"]


def test_the_same_image_sent_again_is_answered_with_the_photo_sent_before(api, user):
    first = api(user).post("/api/v1/photos/", {"image": image()}, format="multipart")
    assert first.json()["original_name"] == "face.png" and first.json()["taken_at"] is None
    again = api(user).post("/api/v1/photos/", {"image": image()}, format="multipart")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again["Location"] == first["Location"] and Photo.objects.count() == 1


@pytest.mark.parametrize("encode", [
    lambda b: "data:image/png;base64," + base64.b64encode(b).decode(),
    lambda b: base64.encodebytes(b).decode(),  # lines of 76 characters, as `base64` writes
], ids=["data-url", "wrapped-lines"])
def test_a_base64_json_upload_stores_the_same_bytes(api, user, encode):
    content = png_bytes(30, 20)
    encoded = encode(content)
    response = api(user).post("/api/v1/photos/", {"image_base64": encoded}, format="json")
    assert response.status_code == 202
    with Photo.objects.get(pk=response.json()["id"]).file.open("rb") as f:
        assert f.read() == content


def test_the_upload_is_queued_once_the_request_commits(api, user, queued,
                                                       django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(user).post("/api/v1/photos/", {"image": image()}, format="multipart")
    assert queued == [response.json()["id"]]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "image"),
        ({"image_base64": "not base64!"}, "image_base64"),
        ({"image_base64": ""}, "image_base64"),
        ({"image": "a string, not a file"}, "image"),
    ],
)
def test_a_missing_or_malformed_image_is_a_400_naming_the_field(api, user, data, field):
    response = api(user).post("/api/v1/photos/", data, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]
    assert Photo.objects.count() == 0


def test_sending_both_a_file_and_base64_is_refused(api, user):
    data = {"image": image(), "image_base64": base64.b64encode(png_bytes()).decode()}
    response = api(user).post("/api/v1/photos/", data, format="multipart")
    assert response.status_code == 400
    assert "not both" in response.json()["error"]["fields"]["image"][0]


@pytest.mark.parametrize("encoding", ["multipart", "json"])
def test_an_image_over_the_size_limit_is_a_413(api, user, settings, encoding):
    settings.FACEWEB_MAX_UPLOAD_BYTES = 1000
    content = png_bytes(400, 400, colour=(1, 2, 3)) + b"\0" * 2000
    data = ({"image": image(content)} if encoding == "multipart"
            else {"image_base64": base64.b64encode(content).decode()})
    response = api(user).post("/api/v1/photos/", data, format=encoding)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert Photo.objects.count() == 0


def test_a_body_over_the_limit_is_refused_before_it_is_read(api, user, settings):
    settings.FACEWEB_MAX_UPLOAD_BYTES = 1000  # the body limit: two such images in base64
    response = api(user).post(
        "/api/v1/photos/", {"image_base64": "A" * 200_000}, format="json"
    )
    assert response.status_code == 413
    assert "request body" in response.json()["error"]["message"]


def test_a_file_that_is_not_an_image_is_refused_and_nothing_is_kept(api, user, settings):
    """Only images are ever stored: a page (steal.html) or a PDF is a 400, and its bytes are
    not kept."""
    for name, content in [("steal.html", b"<script>alert(1)</script>"), ("cv.pdf", b"%PDF-1.4")]:
        response = api(user).post(
            "/api/v1/photos/", {"image": SimpleUploadedFile(name, content)}, format="multipart"
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "bad_image"
        assert "not a supported image" in response.json()["error"]["message"]
    assert not Photo.objects.exists()
    assert not [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()]


def test_a_damaged_image_is_accepted_and_fails_with_a_readable_error(
    api, user, fake_pipeline, queued, django_capture_on_commit_callbacks
):
    """The upload is not decoded in the request: the worker says what is wrong with it."""
    from recognition.tasks import analyse_photo

    with django_capture_on_commit_callbacks(execute=True):
        response = api(user).post("/api/v1/photos/", {"image": image(png_bytes()[:60])},
                                  format="multipart")
    assert response.status_code == 202
    analyse_photo.run(queued[0])
    body = api(user).get(response.json()["url"]).json()
    assert body["status"] == "failed" and "damaged" in body["error"]


@pytest.mark.django_db(transaction=True)
def test_wait_returns_the_result_when_analysis_finishes_in_time(
    api, user, fake_pipeline, monkeypatch
):
    """With ``?wait=`` the answer is 201 with faces. Here the job runs in-process as soon as
    the upload commits (test_end_to_end does it with a real worker)."""
    from recognition.tasks import analyse_photo

    fake_pipeline.faces = [face_result(embedding(1))]
    monkeypatch.setattr(analyse_photo, "delay", analyse_photo.run)
    response = api(user).post("/api/v1/photos/?wait=5", {"image": image()}, format="multipart")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "done" and len(body["faces"]) == 1
    face = body["faces"][0]
    assert face["box"] == [10.0, 10.0, 40.0, 40.0] and face["expression"] == "happy"
    assert face["person"] is None and face["decision"] == "unknown"
    assert face["crop_url"] == f"http://testserver/api/v1/faces/{face['id']}/crop/"
    assert body["image_url"] == f"http://testserver/api/v1/photos/{body['id']}/image/"
    assert (face["age"], face["gender"]) == (34.0, "female")
    assert face["gender_probability"] == pytest.approx(0.8)
    assert set(face["pose"]) == {"yaw", "pitch", "roll"} and 0 < face["quality"] <= 1


def test_age_and_gender_are_not_shown_when_turned_off_and_their_filters_do_nothing(
    api, user, fake_pipeline, settings
):
    fake_pipeline.faces = [face_result(embedding(1), age=70.0, male=0.9)]
    photo = services.photo_create(file=upload(), uploaded_by=user)
    services.photo_analyse(photo=services.photo_claim(photo_id=photo.pk))
    client = api(user)
    [face] = client.get(f"/api/v1/photos/{photo.pk}/").json()["faces"]
    assert (face["age"], face["gender"]) == (70.0, "male")
    assert client.get("/api/v1/photos/?age_from=60&gender=male").json()["count"] == 1
    assert client.get("/api/v1/photos/?age_to=60").json()["count"] == 0

    settings.FACEWEB_AGE_GENDER = False
    [face] = client.get(f"/api/v1/photos/{photo.pk}/").json()["faces"]
    assert (face["age"], face["gender"], face["gender_probability"]) == (None, None, None)
    assert client.get("/api/v1/photos/?age_to=60").json()["count"] == 1  # no filter by it


def test_wait_gives_up_after_the_time_asked_and_answers_202(api, user):
    response = api(user).post("/api/v1/photos/?wait=1", {"image": image()}, format="multipart")
    assert response.status_code == 202 and response.json()["status"] == "pending"


@pytest.mark.parametrize("wait", ["-1", "11", "soon"])
def test_wait_outside_its_bounds_is_refused(api, user, wait):
    response = api(user).post(f"/api/v1/photos/?wait={wait}", {"image": image()},
                              format="multipart")
    assert response.status_code == 400 and "wait" in response.json()["error"]["fields"]


def test_a_photo_shows_its_faces_and_who_they_are(api, user):
    ada = make_person("Ada")
    photo = make_photo(uploaded_by=user, width=64, height=48)
    make_face(photo, person=ada)
    body = api(user).get(f"/api/v1/photos/{photo.pk}/").json()
    assert body["width"] == 64 and body["uploaded_by"] == "ursula"
    assert body["faces"][0]["person"] == {"id": ada.pk, "name": "Ada"}
    assert body["faces"][0]["decision"] == "assigned"


@pytest.mark.parametrize("path", ["/api/v1/photos/999999/", "/api/v1/photos/abc/",
                                  "/api/v1/photos/99999999999999999999999/", "/api/v1/nothing/"])
def test_an_unknown_id_or_url_is_a_json_404(api, user, path):
    response = api(user).get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_list_shows_only_your_photos_newest_first(api, user, other_user, staff):
    older, newer = make_photo(uploaded_by=user), make_photo(uploaded_by=user)
    theirs = make_photo(uploaded_by=other_user)
    ids = [p["id"] for p in api(user).get("/api/v1/photos/").json()["results"]]
    assert ids == [newer.pk, older.pk]
    everyone = [p["id"] for p in api(staff).get("/api/v1/photos/").json()["results"]]
    assert everyone == [theirs.pk, newer.pk, older.pk]


def test_the_list_filters_by_person_expression_date_and_unknown_faces(api, user):
    ada = make_person("Ada")
    with_ada = make_photo(uploaded_by=user)
    make_face(with_ada, person=ada)
    with_stranger = make_photo(uploaded_by=user)
    stranger = make_face(with_stranger)
    Face.objects.filter(pk=stranger.pk).update(expression="sad")
    old = make_photo(uploaded_by=user)
    Photo.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))

    def ids(query: str) -> list[int]:
        response = api(user).get(f"/api/v1/photos/?{query}")
        assert response.status_code == 200, response.content
        return [p["id"] for p in response.json()["results"]]

    assert ids(f"person={ada.pk}") == [with_ada.pk]
    assert ids("expression=sad") == [with_stranger.pk]
    assert ids("unknown_only=true") == [with_stranger.pk]
    week_ago = (timezone.localdate() - timedelta(days=7)).isoformat()
    assert ids(f"date_to={week_ago}") == [old.pk]
    assert old.pk not in ids(f"date_from={week_ago}")


@pytest.mark.parametrize("query", ["expression=bored", "date_from=yesterday", "person=0",
                                   "page_size=1000", "unknown_only=maybe"])
def test_bad_filters_are_a_400(api, user, query):
    response = api(user).get(f"/api/v1/photos/?{query}")
    assert response.status_code == 400 and response.json()["error"]["fields"]


def test_the_list_pages(api, user):
    photos = [make_photo(uploaded_by=user) for _ in range(3)]
    body = api(user).get("/api/v1/photos/?page_size=2").json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["previous"] is None
    second = api(user).get(body["next"]).json()
    assert [p["id"] for p in second["results"]] == [photos[0].pk]
    assert api(user).get("/api/v1/photos/?page=9").status_code == 404


def test_the_list_takes_as_many_queries_for_many_photos_as_for_one(
    api, user, django_assert_num_queries
):
    client = api(user)
    ada = make_person("Ada")
    make_face(make_photo(uploaded_by=user), person=ada)
    # token + count + photos + their faces (with people)
    with django_assert_num_queries(4):
        assert len(client.get("/api/v1/photos/").json()["results"]) == 1
    for _ in range(5):
        photo = make_photo(uploaded_by=user)
        make_face(photo, person=ada)
        make_face(photo, box=(50, 10, 80, 40))
    with django_assert_num_queries(4):
        assert len(client.get("/api/v1/photos/").json()["results"]) == 6


def test_deleting_a_photo_removes_it_its_faces_and_its_file(
    api, user, django_capture_on_commit_callbacks
):
    photo = make_photo(uploaded_by=user)
    make_face(photo)
    storage, name = photo.file.storage, photo.file.name
    with django_capture_on_commit_callbacks(execute=True):
        response = api(user).delete(f"/api/v1/photos/{photo.pk}/")
    assert response.status_code == 204
    assert not Photo.objects.exists() and not Face.objects.exists()
    assert not storage.exists(name)


def test_another_users_photo_cannot_be_deleted(api, user, other_user):
    photo = make_photo(uploaded_by=user)
    assert api(other_user).delete(f"/api/v1/photos/{photo.pk}/").status_code == 404
    assert Photo.objects.filter(pk=photo.pk).exists()


def test_a_wrong_content_type_is_a_415(api, user):
    response = api(user).post("/api/v1/photos/", "x=1", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_photos_submitted_into_a_batch_are_followed_together(api, user, other_user):
    created = api(user).post("/api/v1/batches/")
    assert created.status_code == 201
    batch = created.json()
    assert batch["summary"]["photos"] == 0 and batch["photos"] == []
    for content in (png_bytes(), png_bytes(colour=(1, 2, 3))):
        sent = api(user).post("/api/v1/photos/", {"image": image(content), "batch": batch["id"]},
                              format="multipart")
        assert sent.status_code == 202
    read = api(user).get(batch["url"]).json()
    assert read["summary"] == {"photos": 2, "waiting": 2, "failed": 0, "no_face": 0,
                               "unknown": 0, "known": 0}
    assert len(read["photos"]) == 2
    assert api(other_user).get(batch["url"]).status_code == 404
    theirs = api(other_user).post("/api/v1/photos/", {"image": image(), "batch": batch["id"]},
                                  format="multipart")
    assert theirs.status_code == 400 and "batch" in theirs.json()["error"]["fields"]
