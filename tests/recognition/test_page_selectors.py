"""The selectors behind the pages (photo lists, timeline, unknown-face groups, dashboard)."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from recognition import selectors, services
from recognition.models import Face, Photo
from tests.factories import embedding, make_face, make_person, make_photo, near

pytestmark = pytest.mark.django_db


@pytest.fixture
def users():
    model = get_user_model()
    return model.objects.create_user("ann"), model.objects.create_user("sam", is_staff=True)


def test_photo_list_shows_users_their_own_photos_and_staff_everyones(users):
    ann, sam = users
    mine, theirs = make_photo(uploaded_by=ann), make_photo(uploaded_by=sam)
    assert list(selectors.photo_list(user=ann)) == [mine]
    assert list(selectors.photo_list(user=sam)) == [theirs, mine]  # newest first


def test_photo_list_matches_person_and_expression_on_the_same_face(users):
    _, sam = users
    ada = make_person("Ada")
    happy_ada = make_face(person=ada)
    Face.objects.filter(pk=happy_ada.pk).update(expression="happy")
    sad_ada_happy_stranger = make_face(person=ada).photo
    Face.objects.filter(pk=make_face(sad_ada_happy_stranger).pk).update(expression="happy")
    both = selectors.photo_list(user=sam, person_id=ada.pk, expression="happy")
    assert list(both) == [happy_ada.photo]
    assert set(selectors.photo_list(user=sam, unknown_only=True)) == {sad_ada_happy_stranger}


def test_photo_list_filters_by_upload_day(users):
    _, sam = users
    old = make_photo()
    Photo.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    new = make_photo()
    today = timezone.localdate()
    assert list(selectors.photo_list(user=sam, date_from=today)) == [new]
    assert list(selectors.photo_list(user=sam, date_to=today - timedelta(days=1))) == [old]


def test_person_timeline_lists_only_faces_in_photos_the_user_may_see(users):
    ann, _ = users
    ada = make_person("Ada")
    visible = make_face(make_photo(uploaded_by=ann), person=ada)
    make_face(person=ada)  # in someone else's photo
    assert list(selectors.person_timeline(user=ann, person_id=ada.pk)) == [visible]


def test_nearest_people_are_sorted_and_a_reference_is_not_its_own_match():
    ada, bea = make_person("Ada"), make_person("Bea")
    ref = make_face(vector=embedding(1), person=ada, reference=True)
    make_face(vector=near(embedding(1), 0.3), person=ada, reference=True)
    make_face(vector=near(embedding(1), 0.5), person=bea, reference=True)
    nearest = selectors.face_nearest_people(face=ref)
    assert [(p.name, round(d, 2)) for p, d in nearest] == [("Ada", 0.3), ("Bea", 0.5)]


def test_unknown_faces_close_together_form_one_group_largest_first():
    stranger, other = embedding(1), embedding(2)
    chain = [make_face(vector=near(stranger, 0.25, seed=s)) for s in range(3)]
    single = make_face(vector=other)
    make_face(vector=near(other, 0.1), person=make_person())  # known: not in any group
    groups = selectors.unknown_face_groups(threshold=0.6, model_version=services.model_version())
    assert [sorted(f.pk for f in g) for g in groups] == [[f.pk for f in chain], [single.pk]]


def test_dashboard_stats_count_faces_by_day_expression_and_person(users):
    _, sam = users
    ada = make_person("Ada")
    photo = make_photo(uploaded_by=sam)
    make_face(photo, person=ada)
    make_face(photo)
    make_photo(status=Photo.Status.FAILED)
    stats = selectors.dashboard_stats(user=sam, days=7)
    assert (stats.photos, stats.faces, stats.recognised, stats.unknown) == (2, 2, 1, 1)
    assert stats.statuses["failed"] == 1 and stats.statuses["pending"] == 0
    assert len(stats.per_day) == 7 and stats.per_day[-1] == (timezone.localdate(), 1, 1)
    assert stats.expressions["neutral"] == 2 and stats.expressions["happy"] == 0
    assert stats.expressions_by_person == [("Ada", {**dict.fromkeys(stats.expressions, 0),
                                                     "neutral": 1})]
