"""People (staff): create, list, rename, delete, merge, reference faces, enrol from a photo."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from recognition import selectors, services
from recognition.models import Face, Person, Photo
from tests.factories import embedding, make_face, make_person, make_photo, png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api(api, staff):
    return api(staff)


def test_a_person_is_created_renamed_and_listed_with_counts(admin_api):
    created = admin_api.post("/api/v1/people/", {"name": "  Ada  ", "notes": "maths"})
    assert created.status_code == 201
    person = created.json()
    assert (person["name"], person["notes"], person["reference_count"]) == ("Ada", "maths", 0)
    renamed = admin_api.patch(person["url"], {"name": "Ada Lovelace"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Ada Lovelace"
    make_face(person=Person.objects.get(), reference=True)
    listed = admin_api.get("/api/v1/people/").json()
    assert listed["count"] == 1
    assert listed["results"][0]["reference_count"] == 1 == listed["results"][0]["face_count"]


def test_a_name_taken_ignoring_case_and_spaces_is_a_conflict_naming_who_has_it(admin_api):
    ada = make_person("Ada Lovelace")
    bea = make_person("Bea")
    for response in (
        admin_api.post("/api/v1/people/", {"name": " ada lovelace "}),
        admin_api.patch(f"/api/v1/people/{bea.pk}/", {"name": "ADA LOVELACE"}),
    ):
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "person_exists" and error["person"] == ada.pk
        assert error["message"] == "There is already a person called Ada Lovelace."
    assert Person.objects.count() == 2 and Person.objects.get(pk=bea.pk).name == "Bea"
    # Only the case of one's own name changes: fine.
    assert admin_api.patch(f"/api/v1/people/{ada.pk}/", {"name": "ada lovelace"}).status_code == 200


@pytest.mark.parametrize("body", [{"name": ""}, {"name": "   "}, {"name": "x" * 201}, {}])
def test_a_person_needs_a_name(admin_api, body):
    response = admin_api.post("/api/v1/people/", body)
    assert response.status_code == 400 and "name" in response.json()["error"]["fields"]


def test_the_people_list_takes_as_many_queries_for_many_people_as_for_one(
    admin_api, django_assert_num_queries
):
    make_face(person=make_person("Ada"), reference=True)
    # token + count + people + their reference faces
    with django_assert_num_queries(4):
        assert admin_api.get("/api/v1/people/").json()["count"] == 1
    for name in ("Bob", "Cy", "Di"):
        make_face(person=make_person(name), reference=True)
    with django_assert_num_queries(4):
        assert admin_api.get("/api/v1/people/").json()["count"] == 4


def test_deleting_a_person_purges_their_references_and_unlinks_their_matches(admin_api):
    ada = make_person("Ada")
    make_face(person=ada, reference=True)
    matched = make_face(person=ada, box=(50, 10, 80, 40))
    assert admin_api.delete(f"/api/v1/people/{ada.pk}/").status_code == 204
    assert not Person.objects.exists()
    assert list(Face.objects.all()) == [matched]
    matched.refresh_from_db()
    assert (matched.person, matched.decision) == (None, "unknown")


def test_merging_moves_every_face_photo_and_note_and_deletes_the_other_person(admin_api):
    ada = Person.objects.create(name="Ada", notes="maths")
    ada_twice = Person.objects.create(name="A. Lovelace", notes="poetry")
    mine = make_face(person=ada, reference=True)
    theirs = make_face(person=ada_twice, reference=True, vector=embedding(5))
    enrolment = make_photo(purpose="enrol", person=ada_twice)
    before = selectors.gallery_get(model_version=services.model_version())
    assert sorted(before.people.tolist()) == [ada.pk, ada_twice.pk]

    response = admin_api.post(f"/api/v1/people/{ada.pk}/merge/", {"other_id": ada_twice.pk})
    assert response.status_code == 200
    assert response.json()["reference_count"] == 2
    assert response.json()["notes"] == "maths\n\npoetry"
    assert set(Face.objects.filter(person=ada)) == {mine, theirs}
    enrolment.refresh_from_db()
    assert enrolment.person == ada
    assert not Person.objects.filter(pk=ada_twice.pk).exists()
    after = selectors.gallery_get(model_version=services.model_version())
    assert after.person_ids.tolist() == [ada.pk, ada.pk]


@pytest.mark.parametrize("other", ["self", "missing"])
def test_merging_with_oneself_or_nobody_is_a_400(admin_api, other):
    ada = make_person("Ada")
    other_id = ada.pk if other == "self" else ada.pk + 100
    response = admin_api.post(f"/api/v1/people/{ada.pk}/merge/", {"other_id": other_id})
    assert response.status_code == 400
    assert Person.objects.filter(pk=ada.pk).exists()


def test_a_detected_face_becomes_a_reference_and_can_be_removed_again(admin_api):
    ada = make_person("Ada")
    face = make_face(vector=embedding(7))
    added = admin_api.post(f"/api/v1/people/{ada.pk}/references/", {"face_id": face.pk})
    assert added.status_code == 201
    assert added.json()["person"] == {"id": ada.pk, "name": "Ada"}
    listed = admin_api.get(f"/api/v1/people/{ada.pk}/references/").json()
    assert [f["id"] for f in listed] == [face.pk]
    gallery = selectors.gallery_get(model_version=services.model_version())
    assert gallery.person_ids.tolist() == [ada.pk]

    removed = admin_api.delete(f"/api/v1/people/{ada.pk}/references/{face.pk}/")
    assert removed.status_code == 204
    face.refresh_from_db()
    assert (face.person, face.is_reference) == (ada, False)
    assert len(selectors.gallery_get(model_version=services.model_version()).people) == 0


def test_a_face_that_is_not_their_reference_cannot_be_removed(admin_api):
    ada, bob = make_person("Ada"), make_person("Bob")
    bobs = make_face(person=bob, reference=True)
    response = admin_api.delete(f"/api/v1/people/{ada.pk}/references/{bobs.pk}/")
    assert response.status_code == 404


def test_adding_a_missing_face_is_a_400(admin_api):
    ada = make_person("Ada")
    response = admin_api.post(f"/api/v1/people/{ada.pk}/references/", {"face_id": 424242})
    assert response.status_code == 400 and "face_id" in response.json()["error"]["fields"]


def test_enrolling_from_a_photo_stores_an_enrolment_photo_for_the_worker(admin_api, staff):
    ada = make_person("Ada")
    image = SimpleUploadedFile("ada.png", png_bytes())
    response = admin_api.post(f"/api/v1/people/{ada.pk}/enrol/", {"image": image},
                              format="multipart")
    assert response.status_code == 202
    photo = Photo.objects.get(pk=response.json()["id"])
    assert (photo.purpose, photo.person, photo.uploaded_by) == ("enrol", ada, staff)
    assert response.json()["person"] == {"id": ada.pk, "name": "Ada"}


def test_an_unknown_person_is_a_404(admin_api):
    assert admin_api.get("/api/v1/people/987654/").status_code == 404
    assert admin_api.patch("/api/v1/people/987654/", {"name": "x"}).status_code == 404


def test_the_enrolment_photo_is_deleted_with_its_person(admin_api):
    ada = make_person("Ada")
    make_photo(purpose="enrol", person=ada)
    admin_api.delete(f"/api/v1/people/{ada.pk}/")
    assert not Photo.objects.exists()
