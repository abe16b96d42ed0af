"""The admin lists and pages render, with thumbnails, and delete through the services."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from recognition.models import Face, Person, Photo
from tests.factories import make_face, make_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada_in_a_photo():
    ada = make_person("Ada")
    return make_face(person=ada, reference=True)


@pytest.mark.parametrize("model", ["person", "photo", "face"])
def test_every_change_list_shows_its_rows(admin_client, ada_in_a_photo, model):
    response = admin_client.get(reverse(f"admin:recognition_{model}_changelist"))
    assert response.status_code == 200
    if model != "person":
        assert b"<img src=" in response.content


def test_the_photo_list_needs_as_many_queries_for_ten_photos_as_for_one(admin_client):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(reverse("admin:recognition_photo_changelist")).status_code == 200
        return len(captured)

    make_face()
    one = queries()
    for _ in range(9):
        make_face()
    assert queries() == one


def test_a_person_page_shows_their_reference_faces(admin_client, ada_in_a_photo):
    url = reverse("admin:recognition_person_change", args=[ada_in_a_photo.person_id])
    response = admin_client.get(url)
    assert reverse("recognition:face_crop", args=[ada_in_a_photo.pk]).encode() in response.content


def test_a_photo_page_shows_its_faces(admin_client, ada_in_a_photo):
    url = reverse("admin:recognition_photo_change", args=[ada_in_a_photo.photo_id])
    response = admin_client.get(url)
    assert reverse("recognition:face_crop", args=[ada_in_a_photo.pk]).encode() in response.content
    photo_image = reverse("recognition:photo_image", args=[ada_in_a_photo.photo_id])
    assert f"{photo_image}?thumb".encode() in response.content


def test_deleting_people_in_the_admin_purges_their_faces(admin_client, ada_in_a_photo):
    response = admin_client.post(
        reverse("admin:recognition_person_changelist"),
        {"action": "delete_selected", "_selected_action": [ada_in_a_photo.person_id],
         "post": "yes"},
    )
    assert response.status_code == 302
    assert not Person.objects.exists() and not Face.objects.exists()


def test_the_reanalyse_action_queues_the_selected_photos(
    admin_client, ada_in_a_photo, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:recognition_photo_changelist"),
            {"action": "reanalyse", "_selected_action": [ada_in_a_photo.photo_id]},
        )
    assert queued == [ada_in_a_photo.photo_id]
    assert Photo.objects.get().status == Photo.Status.PENDING
