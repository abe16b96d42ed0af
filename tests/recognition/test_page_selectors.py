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


BIG = (0.0, 0.0, 100.0, 100.0)  # a face box large enough to be grouped


def unknown_groups():
    """(groups, number of groups, faces waiting to be grouped)."""
    unknown = selectors.unknown_faces(
        model_version=services.model_version(), threshold=0.42, min_size=2, limit=10
    )
    return unknown.groups, unknown.total_groups, unknown.waiting


def test_unknown_faces_are_grouped_by_the_task_then_shown_largest_first():
    stranger, other = embedding(1), embedding(2)
    trio = [make_face(vector=near(stranger, 0.2, seed=s), box=BIG) for s in range(3)]
    pair = [make_face(vector=near(other, 0.2, seed=s), box=BIG) for s in range(2)]
    loner = make_face(vector=embedding(3), box=BIG)
    tiny = make_face(vector=near(stranger, 0.1), box=(0, 0, 30, 30))  # too small to group
    blurred = make_face(vector=near(stranger, 0.1, seed=8), box=BIG)
    Face.objects.filter(pk=blurred.pk).update(sharpness=2.0)  # too blurred to group
    make_face(vector=near(other, 0.1), person=make_person(), box=BIG)  # known: never grouped
    assert unknown_groups() == ([], 0, 8)  # nothing grouped on a page view

    assert services.unknown_faces_regroup() == 2
    assert services.unknown_faces_regroup() is None  # nothing new: nothing done
    groups, total, waiting = unknown_groups()
    assert [[f.pk for f in g.faces] for g in groups] == [
        [f.pk for f in reversed(trio)], [f.pk for f in reversed(pair)]
    ]
    assert (total, waiting) == (2, 0) and all(g.looks_like is None for g in groups)
    assert {Face.objects.get(pk=f.pk).cluster for f in (tiny, blurred, loner)} == {-1}
    alone = selectors.unknown_faces(
        model_version=services.model_version(), threshold=0.42, min_size=3, limit=10
    ).alone  # with groups of 3 at least, the pair is alone too
    assert [f.pk for f in alone] == [blurred.pk, tiny.pk, loner.pk, pair[1].pk, pair[0].pk]


def test_a_group_near_a_known_person_looks_like_them_and_a_hidden_group_is_gone():
    stranger = embedding(1)
    trio = [make_face(vector=near(stranger, 0.2, seed=s), box=BIG) for s in range(3)]
    ada = make_person("Ada")
    make_face(vector=near(stranger, 0.46, seed=7), person=ada, reference=True, box=BIG)
    services.unknown_faces_regroup()
    [group], _, _ = unknown_groups()
    assert group.looks_like == ada
    services.unknown_faces_hide(face_ids=[f.pk for f in trio])
    services.unknown_faces_regroup(force=True)
    assert unknown_groups() == ([], 0, 0)


def test_a_face_that_becomes_unknown_again_is_grouped_again():
    stranger = embedding(1)
    ada = make_person("Ada")
    faces = [make_face(vector=near(stranger, 0.2, seed=s), box=BIG) for s in range(2)]
    wrong = make_face(vector=near(stranger, 0.2, seed=5), person=ada, box=BIG)
    services.unknown_faces_regroup()
    services.face_mark_not_this_person(face=wrong)
    assert unknown_groups()[2] == 1
    services.unknown_faces_regroup()
    [group], _, _ = unknown_groups()
    assert {f.pk for f in group.faces} == {wrong.pk, *(f.pk for f in faces)}


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


def test_dashboard_stats_count_estimated_ages_by_decade_and_genders_unless_off(users):
    _, sam = users
    photo = make_photo(uploaded_by=sam)
    for age, gender in ((3.2, "female"), (9.99, "male"), (34.0, "male"), (88.0, "female"),
                        (None, "")):
        Face.objects.filter(pk=make_face(photo).pk).update(age=age, gender=gender)
    stats = selectors.dashboard_stats(user=sam)
    assert list(stats.ages) == ["0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69",
                                "70+"]
    assert (stats.ages["0-9"], stats.ages["30-39"], stats.ages["70+"]) == (2, 1, 1)
    assert sum(stats.ages.values()) == 4
    assert stats.genders == {"female": 2, "male": 2}
    off = selectors.dashboard_stats(user=sam, age_gender=False)
    assert (off.ages, off.genders) == ({}, {})


def test_a_persons_best_reference_face_comes_first_as_their_thumbnail():
    ada = make_person("Ada")
    faces = [make_face(person=ada, reference=True) for _ in range(3)]
    for face, score in zip(faces, (0.4, 0.9, None), strict=True):
        Face.objects.filter(pk=face.pk).update(quality=score)
    [listed] = selectors.person_list()
    assert [f.pk for f in listed.references] == [faces[1].pk, faces[0].pk, faces[2].pk]


def test_history_finds_photos_by_estimated_age_and_gender_on_the_same_face(users):
    _, sam = users
    both, young = make_photo(uploaded_by=sam), make_photo(uploaded_by=sam)
    Face.objects.filter(pk=make_face(both).pk).update(age=61.5, gender="female")
    Face.objects.filter(pk=make_face(both).pk).update(age=20.0, gender="male")
    Face.objects.filter(pk=make_face(young).pk).update(age=8.0, gender="male")

    def found(**filters):
        return {p.pk for p in selectors.photo_list(user=sam, **filters)}

    assert found(age_from=60) == {both.pk}
    assert found(age_to=20) == {both.pk, young.pk}  # 20.0 is 20 years old
    assert found(age_from=60, gender="male") == set()  # no one face is both
    assert found(gender="male", age_to=10) == {young.pk}


@pytest.mark.parametrize(("age_days", "shown"), [(None, 7), (0, 7), (20, 21), (45, 30)])
def test_faces_per_day_cover_the_days_since_the_first_photo_from_a_week_to_a_month(
    users, age_days, shown
):
    _, sam = users
    if age_days is not None:
        photo = make_photo(uploaded_by=sam)
        Photo.objects.filter(pk=photo.pk).update(
            created_at=timezone.now() - timedelta(days=age_days)
        )
    per_day = selectors.dashboard_stats(user=sam).per_day
    assert len(per_day) == shown and per_day[-1][0] == timezone.localdate()
    assert [d for d, *_ in per_day] == sorted(d for d, *_ in per_day)
