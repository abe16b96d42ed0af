"""Identification and the per-process gallery cache."""

import numpy as np
import pytest

from recognition import selectors, services
from recognition.models import Face
from recognition.selectors import Gallery, Match, identify
from tests.factories import embedding, make_face, make_person, near


def gallery(*rows: tuple[int, np.ndarray]) -> Gallery:
    person_ids = np.array([p for p, _ in rows], dtype=np.int64)
    people, index = np.unique(person_ids, return_inverse=True)
    vectors = np.array([v for _, v in rows], dtype=np.float32).reshape(len(rows), 128)
    return Gallery(vectors, person_ids, people, index, fingerprint=())


def test_a_face_within_the_threshold_of_a_reference_is_that_person():
    probe = embedding(0)
    found = identify(embeddings=probe[None], gallery=gallery((7, near(probe, 0.5))),
                     threshold=0.6, margin=0.05)
    assert found[0].person_id == 7
    assert found[0].distance == pytest.approx(0.5, abs=1e-5)


def test_a_face_beyond_the_threshold_is_unknown_but_keeps_its_distance():
    probe = embedding(0)
    found = identify(embeddings=probe[None], gallery=gallery((7, near(probe, 0.61))),
                     threshold=0.6, margin=0.05)
    assert found[0].person_id is None
    assert found[0].distance == pytest.approx(0.61, abs=1e-5)


def test_each_person_counts_with_their_nearest_reference():
    probe = embedding(0)
    # Person 1 has one close reference among far ones; person 2's only one is in between.
    refs = gallery((1, embedding(5)), (1, near(probe, 0.30)), (2, near(probe, 0.45)), (1, embedding(6)))
    assert identify(embeddings=probe[None], gallery=refs, threshold=0.6, margin=0.1) == [
        Match(1, pytest.approx(0.30, abs=1e-5))
    ]
    assert identify(embeddings=probe[None], gallery=refs, threshold=0.6, margin=0.2)[0].person_id is None


def test_several_faces_are_identified_at_once_and_an_empty_gallery_knows_nobody():
    a, b = embedding(1), embedding(2)
    refs = gallery((1, a), (2, b))
    found = identify(embeddings=np.stack([b, a, embedding(3)]), gallery=refs, threshold=0.6, margin=0.05)
    assert [m.person_id for m in found] == [2, 1, None]
    assert identify(embeddings=np.stack([a]), gallery=gallery(), threshold=0.6, margin=0.05) == [
        Match(None, None)
    ]


@pytest.mark.django_db
def test_the_gallery_is_read_once_and_re_read_only_after_references_change(
    django_assert_num_queries,
):
    version = services.MODEL_VERSION
    ada = make_person("Ada")
    make_face(vector=embedding(1), person=ada, reference=True)
    make_face(vector=embedding(2))  # not a reference: not in the gallery
    with django_assert_num_queries(2):  # fingerprint + embeddings
        first = selectors.gallery_get(model_version=version)
    assert first.person_ids.tolist() == [ada.pk]
    assert first.embeddings.tolist() == [embedding(1).tolist()]
    with django_assert_num_queries(1):  # fingerprint only
        assert selectors.gallery_get(model_version=version) is first

    services.face_assign(face=make_face(vector=embedding(3)), person=ada)
    assert len(selectors.gallery_get(model_version=version).person_ids) == 2


@pytest.mark.django_db
def test_the_gallery_notices_a_reference_deleted_by_any_path():
    version = services.MODEL_VERSION
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
    version = services.MODEL_VERSION
    face = make_face(vector=embedding(1), person=make_person("Ada"), reference=True)
    selectors.gallery_get(model_version=version)
    bob = services.face_assign(face=face, new_person_name="Bob").person
    assert selectors.gallery_get(model_version=version).person_ids.tolist() == [bob.pk]
