"""The audit log: who viewed someone else's photo or crop, exported, assigned, merged or
deleted biometric data; append-only; read by staff on a page and through the API. And the
staff export of a person's data."""

import io
import json
import zipfile

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from recognition.models import AuditEvent, Person
from tests.factories import make_face, make_person, make_photo

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(django_user_model):
    make = django_user_model.objects.create_user
    return make("alice"), make("stella", is_staff=True)


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def fetch(client, url: str, **params) -> int:
    """GET a file view and read it to the end (which closes the file it streams)."""
    response = client.get(url, params)
    if response.streaming:
        b"".join(response.streaming_content)
    return response.status_code


def events() -> list[tuple[str, str, str]]:
    return list(AuditEvent.objects.order_by("id").values_list("actor_name", "action", "target"))


def test_staff_viewing_someone_elses_photo_or_face_is_recorded_and_the_owner_is_not(
    client, people
):
    alice, stella = people
    face = make_face(make_photo(uploaded_by=alice))
    photo = face.photo
    client.force_login(alice)
    fetch(client, reverse("recognition:photo_image", args=[photo.pk]))
    fetch(api(alice), f"/api/v1/faces/{face.pk}/crop/")
    assert events() == []
    client.force_login(stella)
    assert fetch(client, reverse("recognition:photo_image", args=[photo.pk])) == 200
    fetch(client, reverse("recognition:photo_image", args=[photo.pk]), thumb="")  # lists: not
    fetch(client, reverse("recognition:face_detail", args=[face.pk]))
    assert fetch(api(stella), f"/api/v1/photos/{photo.pk}/image/") == 200
    assert fetch(api(stella), f"/api/v1/faces/{face.pk}/crop/") == 200
    assert events() == [
        ("stella", "view_photo", f"photo {photo.pk}"), ("stella", "view_crop", f"face {face.pk}"),
        ("stella", "view_photo", f"photo {photo.pk}"), ("stella", "view_crop", f"face {face.pk}"),
    ]


def test_changes_to_biometric_data_are_recorded_with_who_made_them(client, people):
    alice, stella = people
    staff = api(stella)
    ada, bob = make_person("Ada"), make_person("Bob")
    face, other = make_face(), make_face()
    photo = make_photo(uploaded_by=alice)
    staff.post(f"/api/v1/faces/{face.pk}/assign/", {"person_id": ada.pk})
    staff.post(f"/api/v1/faces/{other.pk}/not-a-face/")
    staff.post(f"/api/v1/people/{ada.pk}/merge/", {"other_id": bob.pk})
    api(alice).delete(f"/api/v1/photos/{photo.pk}/")
    client.force_login(stella)
    client.post(reverse("recognition:person_delete", args=[ada.pk]))
    assert events() == [
        ("stella", "assign", f"face {face.pk}"), ("stella", "not_a_face", f"face {other.pk}"),
        ("stella", "merge", f"person {ada.pk}"), ("alice", "delete_photo", f"photo {photo.pk}"),
        ("stella", "delete_person", f"person {ada.pk}"),
    ]
    assert AuditEvent.objects.get(action="merge").detail == (
        f"Bob (person {bob.pk}) into Ada")


def test_audit_events_are_append_only(people):
    event = AuditEvent.objects.create(actor_name="x", action="export", target="person 1")
    with pytest.raises(ValueError):
        event.save()
    with pytest.raises(ValueError):
        event.delete()


def test_staff_export_everything_stored_about_a_person_as_a_zip(client, people):
    alice, stella = people
    ada = make_person("Ada")
    reference = make_face(make_photo(uploaded_by=stella), person=ada, reference=True)
    seen = make_face(make_photo(uploaded_by=alice), person=ada)
    make_face()  # someone else
    for response in (api(stella).get(f"/api/v1/people/{ada.pk}/export/"),
                     (client.force_login(stella), client.get(
                         reverse("recognition:person_export", args=[ada.pk])))[1]):
        assert response.status_code == 200 and response["Content-Type"] == "application/zip"
        assert "no-store" in response["Cache-Control"]
        archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)
                                             if response.streaming else response.content))
        record = json.loads(archive.read("person.json"))
        assert record["person"]["name"] == "Ada"
        assert [f["id"] for f in record["faces"]] == [reference.pk, seen.pk]
        assert len(record["faces"][0]["descriptor"]) == 128
        assert set(archive.namelist()) == {
            "person.json", f"crops/face-{reference.pk}.jpg", f"crops/face-{seen.pk}.jpg",
            f"photos/photo-{reference.photo_id}.png"}
    assert [e[1] for e in events()] == ["export", "export"]
    assert api(alice).get(f"/api/v1/people/{ada.pk}/export/").status_code == 403


def test_staff_read_the_log_on_a_page_and_through_the_api_with_filters(client, people):
    alice, stella = people
    AuditEvent.objects.create(actor_name="stella", action="export", target="person 1")
    AuditEvent.objects.create(actor_name="otto", action="merge", target="person 2")
    client.force_login(stella)
    page = client.get(reverse("recognition:audit_log"), {"action": "merge"}).content.decode()
    assert "person 2" in page and "person 1" not in page
    body = api(stella).get("/api/v1/audit/", {"actor": "stella"}).json()
    assert body["count"] == 1 and body["results"][0]["action"] == "export"
    client.force_login(alice)
    assert client.get(reverse("recognition:audit_log")).status_code == 403
    assert api(alice).get("/api/v1/audit/").status_code == 403
    assert Person.objects.count() == 0
