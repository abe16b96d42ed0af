"""The per-process gallery of reference faces (matching itself: tests/pipeline/test_matching.py)."""

import pytest

from recognition import selectors, services
from recognition.models import Face
from recognition.pipeline import matching
from tests.factories import embedding, make_face, make_person


@pytest.mark.django_db
def test_the_gallery_is_read_once_and_re_read_only_after_references_change(
    django_assert_num_queries,
):
    version = services.model_version()
    ada = make_person("Ada")
    make_face(vector=embedding(1), person=ada, reference=True)
    make_face(vector=embedding(2))  # not a reference: not in the gallery
    with django_assert_num_queries(2):  # fingerprint + embeddings
        first = selectors.gallery_get(model_version=version)
    assert first.person_ids.tolist() == [ada.pk] and first.version == version
    assert first.embeddings.tolist() == [embedding(1).tolist()]
    with django_assert_num_queries(1):  # fingerprint only
        assert selectors.gallery_get(model_version=version) is first

    services.face_assign(face=make_face(vector=embedding(3)), person=ada)
    assert len(selectors.gallery_get(model_version=version).person_ids) == 2


@pytest.mark.django_db
def test_the_gallery_notices_a_reference_deleted_by_any_path():
    version = services.model_version()
    ada = make_person("Ada")
    kept = make_face(vector=embedding(1), person=ada, reference=True)
    gone = make_face(vector=embedding(2), person=ada, reference=True)
    assert len(selectors.gallery_get(model_version=version).person_ids) == 2
    gone.photo.delete()  # a cascade, no service involved
    refreshed = selectors.gallery_get(model_version=version)
    assert refreshed.embeddings.tolist() == [embedding(1).tolist()]
    assert Face.objects.get().pk == kept.pk


@pytest.mark.django_db
def test_the_gallery_notices_a_reference_moved_to_another_person():
    version = services.model_version()
    face = make_face(vector=embedding(1), person=make_person("Ada"), reference=True)
    selectors.gallery_get(model_version=version)
    bob = services.face_assign(face=face, new_person_name="Bob").person
    assert selectors.gallery_get(model_version=version).person_ids.tolist() == [bob.pk]


@pytest.mark.django_db
def test_a_large_gallery_is_indexed_and_takes_changes_in_place(settings, django_assert_num_queries):
    """Above FACEWEB_GALLERY_INDEX_ABOVE (here 2) the gallery is an approximate index: a new
    reference is added to it, not read with all the others again; deletions and references
    that move are noticed too."""
    settings.FACEWEB_GALLERY_INDEX_ABOVE = 2
    version = services.model_version()
    ada, bob = make_person("Ada"), make_person("Bob")
    faces = [make_face(vector=embedding(i), person=ada, reference=True) for i in (1, 2, 3)]
    first = selectors.gallery_get(model_version=version)
    assert isinstance(first, matching.IndexedGallery) and len(first) == 3

    new = make_face(vector=embedding(4), person=bob, reference=True)
    with django_assert_num_queries(2):  # the fingerprint, then the references saved since
        again = selectors.gallery_get(model_version=version)
    assert again is first and len(again) == 4
    [match] = matching.identify(embedding(4)[None], again, threshold=0.42, margin=0.02)
    assert match.person_id == bob.pk

    faces[0].photo.delete()  # a cascade: the ids are read to find which went
    services.face_assign(face=new, person=ada)  # moved to Ada
    again = selectors.gallery_get(model_version=version)
    assert again is first and sorted(again.keys().tolist()) == sorted(
        [faces[1].pk, faces[2].pk, new.pk])
    [match] = matching.identify(embedding(4)[None], again, threshold=0.42, margin=0.02)
    assert match.person_id == ada.pk


@pytest.mark.django_db
def test_a_reference_committed_late_with_an_older_time_is_still_taken_in(settings):
    """A reference saved before the gallery was read but committed after (its updated_at older
    than the newest the gallery saw) is found by comparing ids, not lost."""
    settings.FACEWEB_GALLERY_INDEX_ABOVE = 1
    version = services.model_version()
    ada, bob = make_person("Ada"), make_person("Bob")
    first = make_face(vector=embedding(1), person=ada, reference=True)
    make_face(vector=embedding(2), person=ada, reference=True)
    gallery = selectors.gallery_get(model_version=version)
    late = make_face(vector=embedding(3), person=bob, reference=True)
    Face.objects.filter(pk=late.pk).update(updated_at=Face.objects.get(pk=first.pk).updated_at)
    again = selectors.gallery_get(model_version=version)
    assert again is gallery and late.pk in again.keys().tolist()
    [match] = matching.identify(embedding(3)[None], again, threshold=0.42, margin=0.02)
    assert match.person_id == bob.pk


@pytest.mark.django_db
@pytest.mark.parametrize("index_above", [100, 2])
def test_every_face_is_indexed_and_the_index_takes_changes_in_place(
        settings, index_above, django_assert_num_queries):
    """Not only references: every face of the model version, exact at first; above
    FACEWEB_GALLERY_INDEX_ABOVE an approximate index built in the background takes over. New
    and deleted faces are taken in without a full read, also while it is being built."""
    settings.FACEWEB_GALLERY_INDEX_ABOVE = index_above
    version = services.model_version()
    faces = [make_face(vector=embedding(i)) for i in (1, 2, 3)]
    index = selectors.face_index_get(model_version=version)
    assert not index.approximate and len(index) == 3
    new = make_face(vector=embedding(4), person=make_person())
    faces[0].photo.delete()
    selectors.face_index_get(model_version=version)  # while the approximate one is built
    index.wait()
    with django_assert_num_queries(1):  # the fingerprint only
        again = selectors.face_index_get(model_version=version)
    assert again is index and again.approximate == (index_above == 2)
    assert sorted(again.keys().tolist()) == sorted([faces[1].pk, faces[2].pk, new.pk])
    keys, _ = again.search(embedding(4)[None], 1)
    assert keys[0, 0] == new.pk


@pytest.mark.django_db
def test_a_face_is_found_everywhere_nearest_first_one_face_per_photo():
    from tests.factories import make_photo, near

    probe = embedding(1)
    asked = make_face(vector=probe)
    make_face(asked.photo, vector=near(probe, 0.1))  # its own photo: left out
    close, closer_photo, other = make_photo(), make_photo(), make_photo()
    close_faces = [make_face(close, vector=near(probe, d, seed=int(d * 100))) for d in (0.45, 0.3)]
    closest = make_face(closer_photo, vector=near(probe, 0.2))
    make_face(other, vector=embedding(7))  # someone else: not found
    faraway = make_face(vector=near(probe, services.match_threshold() + 0.1))
    found = selectors.face_everywhere(face=asked, threshold=services.match_threshold())
    assert [s.face.pk for s in found] == [closest.pk, close_faces[1].pk]
    assert [s.confidence for s in found] == ["very likely", "very likely"]
    assert found[0].distance == pytest.approx(0.2, abs=1e-4)
    assert faraway.pk not in [s.face.pk for s in found]
