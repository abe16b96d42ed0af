"""Faces: read with the nearest people; staff assign, mark not-a-face or not-this-person."""

import pytest

from recognition import selectors, services
from recognition.models import Face, Person
from tests.factories import embedding, make_face, make_person, make_photo, near

pytestmark = pytest.mark.django_db


def test_a_face_lists_the_people_nearest_to_it_to_staff_only(api, user, staff):
    ada, bob = make_person("Ada"), make_person("Bob")
    make_face(person=ada, reference=True, vector=embedding(1))
    make_face(person=bob, reference=True, vector=embedding(2))
    face = make_face(make_photo(uploaded_by=user), vector=near(embedding(1), 0.3))
    body = api(staff).get(f"/api/v1/faces/{face.pk}/").json()
    assert [c["person"]["name"] for c in body["candidates"]] == ["Ada", "Bob"]
    assert body["candidates"][0]["distance"] == pytest.approx(0.3, abs=1e-5)
    assert body["photo_id"] == face.photo_id and len(body["landmarks"]) == 5
    assert api(user).get(f"/api/v1/faces/{face.pk}/").json()["candidates"] == []


def test_staff_assign_a_face_to_a_person_and_it_joins_the_gallery(api, staff):
    ada = make_person("Ada")
    face = make_face()
    response = api(staff).post(f"/api/v1/faces/{face.pk}/assign/", {"person_id": ada.pk})
    assert response.status_code == 200
    assert response.json()["person"]["name"] == "Ada" and response.json()["is_reference"]
    gallery = selectors.gallery_get(model_version=services.model_version())
    assert gallery.person_ids.tolist() == [ada.pk]


def test_staff_assign_a_face_to_a_new_person(api, staff):
    face = make_face()
    response = api(staff).post(f"/api/v1/faces/{face.pk}/assign/", {"new_person_name": "Cy"})
    assert response.status_code == 200
    assert Person.objects.get().name == "Cy" == response.json()["person"]["name"]


@pytest.mark.parametrize("body", [{}, {"person_id": 1, "new_person_name": "Cy"},
                                  {"person_id": 999999}, {"person_id": "one"}])
def test_an_assignment_needs_exactly_one_existing_person_or_a_new_name(api, staff, body):
    face = make_face()
    response = api(staff).post(f"/api/v1/faces/{face.pk}/assign/", body)
    assert response.status_code == 400
    face.refresh_from_db()
    assert face.person is None


def test_not_a_face_deletes_the_detection(api, staff):
    face = make_face()
    assert api(staff).post(f"/api/v1/faces/{face.pk}/not-a-face/").status_code == 204
    assert not Face.objects.exists()


def test_not_this_person_makes_the_face_unknown_and_drops_it_from_the_gallery(api, staff):
    ada = make_person("Ada")
    face = make_face(person=ada, reference=True)
    response = api(staff).post(f"/api/v1/faces/{face.pk}/not-this-person/")
    assert response.status_code == 200
    body = response.json()
    assert (body["person"], body["decision"], body["is_reference"]) == (None, "unknown", False)
    assert len(selectors.gallery_get(model_version=services.model_version()).people) == 0


def test_not_this_person_on_an_unknown_face_is_a_400(api, staff):
    face = make_face()
    response = api(staff).post(f"/api/v1/faces/{face.pk}/not-this-person/")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "This face is not matched to anyone."


def test_a_face_says_how_sure_in_words_and_who_it_possibly_is(api, staff):
    ada = make_person("Ada")
    make_face(vector=embedding(1), person=ada, reference=True)
    sure = make_face(vector=near(embedding(1), 0.2), person=ada)
    Face.objects.filter(pk=sure.pk).update(decision=Face.Decision.AUTO, distance=0.2)
    maybe = make_face(vector=near(embedding(1), 0.45))
    Face.objects.filter(pk=maybe.pk).update(candidate=ada, distance=0.45)
    read = {f.pk: api(staff).get(f"/api/v1/faces/{f.pk}/").json() for f in (sure, maybe)}
    assert (read[sure.pk]["confidence"], read[sure.pk]["possibly"]) == ("very likely", None)
    assert read[maybe.pk]["confidence"] == "possibly" and read[maybe.pk]["person"] is None
    assert read[maybe.pk]["possibly"]["id"] == ada.pk


def test_staff_read_the_unknown_faces_as_the_page_shows_them_and_hide_a_group(api, staff):
    big = (0.0, 0.0, 100.0, 100.0)
    pair = [make_face(vector=near(embedding(7), 0.2, seed=s), box=big) for s in (1, 2)]
    loner = make_face(vector=embedding(8), box=big)
    services.unknown_faces_regroup()
    unknown = api(staff).get("/api/v1/unknown/").json()
    assert [sorted(f["id"] for f in g["faces"]) for g in unknown["groups"]] == [
        sorted(f.pk for f in pair)
    ]
    assert [f["id"] for f in unknown["alone"]] == [loner.pk]
    assert unknown["groups"][0]["looks_like"] is None and unknown["waiting"] == 0
    hidden = api(staff).post("/api/v1/unknown/hide/", {"faces": [f.pk for f in pair]})
    assert hidden.json() == {"hidden": 2}
    services.unknown_faces_regroup(force=True)
    assert api(staff).get("/api/v1/unknown/").json()["groups"] == []


def test_staff_find_a_face_everywhere_in_every_users_photos_paginated(api, user, staff):
    from recognition.models import AuditEvent

    probe = embedding(1)
    asked = make_face(make_photo(uploaded_by=user), vector=probe)
    sightings = [make_face(make_photo(uploaded_by=staff if i % 2 else user),
                           vector=near(probe, 0.05 + 0.01 * i, seed=i)) for i in range(25)]
    make_face(vector=embedding(2))  # someone else
    assert api(user).get(f"/api/v1/faces/{asked.pk}/everywhere/").status_code == 403
    first = api(staff).get(f"/api/v1/faces/{asked.pk}/everywhere/").json()
    assert first["count"] == 25 and len(first["results"]) == 20
    assert [r["face"]["id"] for r in first["results"]] == [f.pk for f in sightings[:20]]
    assert first["results"][0]["confidence"] == "very likely"
    assert first["results"][0]["distance"] == pytest.approx(0.05, abs=1e-4)
    second = api(staff).get(first["next"]).json()
    assert [r["face"]["id"] for r in second["results"]] == [f.pk for f in sightings[20:]]
    event = AuditEvent.objects.get(action=AuditEvent.Action.SEARCH_FACE)  # once, not per page
    assert event.target == f"face {asked.pk}" and "25 photos found" in event.detail
