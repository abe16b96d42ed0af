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
