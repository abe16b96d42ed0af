"""Matching on small synthetic descriptors: distance, the one match rule, identify, nearest
people, verify and clustering. Coordinates are powers of two so that distances are exact."""

import numpy as np
import pytest

from recognition.pipeline import matching
from recognition.pipeline.matching import Gallery, Match


def v(**coordinates: float) -> np.ndarray:
    """A (128,) float32 descriptor, zero but for the given coordinates: ``v(x0=1, x3=0.5)``."""
    vector = np.zeros(128, np.float32)
    for name, value in coordinates.items():
        vector[int(name[1:])] = value
    return vector


def gallery(*rows: tuple[int, np.ndarray]) -> Gallery:
    """References as (person id, descriptor) rows."""
    return Gallery(
        embeddings=[vector for _, vector in rows], person_ids=[p for p, _ in rows], version="test"
    )


# --- distance and is_match -------------------------------------------------------------------


def test_distance_is_euclidean_for_one_pair_one_against_many_and_many_against_many():
    a, b, c = v(x0=1), v(x0=1, x1=0.5), v(x2=1)
    assert matching.distance(a, b) == 0.5
    assert isinstance(matching.distance(a, b), float)
    np.testing.assert_allclose(matching.distance(np.stack([a, b, c]), a), [0, 0.5, 2**0.5])
    np.testing.assert_allclose(matching.distance(a, np.stack([b, c])), [0.5, 2**0.5])
    cross = matching.distance(np.stack([a, b]), np.stack([a, b, c]))
    assert cross.shape == (2, 3)
    np.testing.assert_allclose(cross, [[0, 0.5, 2**0.5], [0.5, 0, 1.5]], atol=1e-12)


def test_distance_agrees_with_the_direct_difference_on_random_unit_descriptors():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((20, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    direct = np.linalg.norm(
        vectors[:, None, :].astype(np.float64) - vectors[None, :, :], axis=2
    )
    np.testing.assert_allclose(matching.distance(vectors, vectors), direct, atol=1e-7)


def test_a_distance_exactly_at_the_threshold_is_a_match_and_beyond_it_is_not():
    assert matching.is_match(0.5, 0.5) is True
    assert matching.is_match(np.nextafter(0.5, 1), 0.5) is False
    assert matching.is_match(matching.distance(v(x0=1), v(x0=1, x1=0.5)), 0.5)
    assert matching.is_match(np.array([0.25, 0.5, 0.75]), 0.5).tolist() == [True, True, False]


# --- Gallery ---------------------------------------------------------------------------------


def test_a_gallery_knows_its_people_and_cannot_be_changed():
    refs = gallery((7, v(x0=1)), (3, v(x1=1)), (7, v(x2=1)))
    assert len(refs) == 3 and refs.version == "test"
    assert refs.people.tolist() == [3, 7]
    assert refs.person_index.tolist() == [1, 0, 1]
    assert refs.embeddings.dtype == np.float32 and refs.embeddings.shape == (3, 128)
    with pytest.raises(ValueError):
        refs.embeddings[0, 0] = 2


def test_a_gallery_refuses_rows_without_a_person_each():
    with pytest.raises(ValueError, match="one per row"):
        Gallery(embeddings=[v(x0=1), v(x1=1)], person_ids=[1], version="test")


# --- identify --------------------------------------------------------------------------------


def test_a_face_exactly_at_the_threshold_of_a_reference_is_that_person():
    probe = v(x0=1)
    found = matching.identify(
        probe[None], gallery((7, v(x0=1, x1=0.5))), threshold=0.5, margin=0.05
    )
    assert found == [Match(7, 0.5)]


def test_a_face_beyond_the_threshold_is_unknown_but_keeps_its_distance():
    probe = v(x0=1)
    found = matching.identify(
        probe[None], gallery((7, v(x0=1, x1=0.5))), threshold=0.4375, margin=0.05
    )
    assert found == [Match(None, 0.5)]


def test_the_runner_up_must_be_at_least_the_margin_further_away():
    probe = v(x0=1)
    # Person 1 at 0.25, person 2 at 0.5: a margin of exactly 0.25 still tells them apart.
    refs = gallery((1, v(x0=1, x1=0.25)), (2, v(x0=1, x2=0.5)))
    assert matching.identify(probe[None], refs, threshold=0.75, margin=0.25) == [Match(1, 0.25)]
    # Too close to call: unknown, with the nearest offered as "possibly".
    assert matching.identify(probe[None], refs, threshold=0.75, margin=0.375) == [
        Match(None, 0.25, candidate=1)
    ]


def test_a_face_just_beyond_the_threshold_is_possibly_the_nearest_person_and_no_further():
    refs = gallery((7, v(x0=1)))
    near, far = v(x0=1, x1=0.5), v(x0=1, x1=0.625)  # 0.5 and 0.625 from person 7
    threshold = 0.5 - matching.POSSIBLE_BAND  # near is within the band, far beyond it
    assert matching.identify(np.stack([near, far]), refs, threshold=threshold, margin=0) == [
        Match(None, 0.5, candidate=7), Match(None, 0.625)
    ]


@pytest.mark.parametrize(("distance", "words"), [
    (0.30, "very likely"), (0.33, "very likely"), (0.35, "likely"), (0.42, "likely"),
    (0.45, "possibly"), (0.48, "possibly"), (0.50, "unlikely"),
])
def test_confidence_words_follow_the_distance_around_the_threshold(distance, words):
    assert matching.confidence(distance, 0.42) == words


def test_each_person_counts_with_their_nearest_reference():
    probe = v(x0=1)
    # Person 1 has one close reference among far ones; person 2's only one is in between.
    refs = gallery(
        (1, v(x5=1)), (1, v(x0=1, x1=0.25)), (2, v(x0=1, x2=0.5)), (1, v(x6=1))
    )
    assert matching.identify(probe[None], refs, threshold=0.75, margin=0.125) == [
        Match(1, 0.25)
    ]


def test_several_faces_are_identified_at_once_and_an_empty_gallery_knows_nobody():
    a, b = v(x0=1), v(x1=1)
    refs = gallery((1, a), (2, b))
    found = matching.identify(np.stack([b, a, v(x2=1)]), refs, threshold=0.5, margin=0.05)
    assert [m.person_id for m in found] == [2, 1, None]
    empty = gallery()
    assert matching.identify(a[None], empty, threshold=0.5, margin=0.05) == [Match(None, None)]
    assert matching.identify(np.zeros((0, 128), np.float32), refs, threshold=0.5, margin=0) == []


def test_with_one_person_in_the_gallery_there_is_no_runner_up():
    probe = v(x0=1)
    refs = gallery((4, v(x0=1, x1=0.25)), (4, v(x0=1, x1=0.5)))
    assert matching.identify(probe[None], refs, threshold=0.5, margin=1.0) == [Match(4, 0.25)]


# --- nearest people --------------------------------------------------------------------------


def test_nearest_people_come_nearest_first_each_at_their_nearest_reference():
    probe = v(x0=1)
    refs = gallery(
        (1, v(x0=1, x1=1)), (2, v(x0=1, x2=0.25)), (3, v(x0=1, x3=0.5)), (1, v(x0=1, x1=0.125))
    )
    assert matching.nearest_people(probe[None], refs, k=5) == [[(1, 0.125), (2, 0.25), (3, 0.5)]]
    assert matching.nearest_people(np.stack([probe, probe]), refs, k=2) == [
        [(1, 0.125), (2, 0.25)]
    ] * 2
    assert matching.nearest_people(probe[None], refs, k=0) == [[]]
    assert matching.nearest_people(probe[None], gallery(), k=3) == [[]]


def test_a_reference_is_not_its_own_nearest_when_identical_ones_are_skipped():
    own = v(x0=1)
    refs = gallery((1, own), (1, v(x0=1, x1=0.5)), (2, v(x0=1, x2=0.25)), (3, own))
    assert matching.nearest_people(own[None], refs, k=3, skip_identical=True) == [
        [(2, 0.25), (1, 0.5)]  # person 3 has no other reference: not listed
    ]
    assert matching.nearest_people(own[None], refs, k=3)[0][:2] == [(1, 0.0), (3, 0.0)]


# --- verify ----------------------------------------------------------------------------------


def test_verify_compares_two_descriptors_with_the_same_rule():
    a, b = v(x0=1), v(x0=1, x1=0.5)
    assert matching.verify(a, b, threshold=0.5) == matching.Verdict(True, 0.5, 0)
    assert matching.verify(a, b, threshold=0.25) == matching.Verdict(False, 0.5, 0)


def test_verify_against_several_references_uses_the_nearest():
    probe = v(x0=1)
    references = np.stack([v(x0=1, x1=1), v(x0=1, x2=0.25), v(x0=1, x3=0.5)])
    assert matching.verify(probe, references, threshold=0.5) == matching.Verdict(True, 0.25, 1)


# --- cluster ---------------------------------------------------------------------------------


def test_a_chain_of_close_pairs_does_not_make_one_group_as_single_linkage_would():
    # A-B and B-C are exactly at the threshold, A-C twice as far: A and B join (at the
    # threshold is a match), then C is 0.75 from them on average and stays alone.
    a, b, c = v(x0=1), v(x0=1, x1=0.5), v(x0=1, x1=1)
    labels = matching.cluster(np.stack([a, b, c]), threshold=0.5)
    assert labels.tolist() == [0, 0, -1]


def test_groups_are_numbered_largest_first_and_small_ones_are_left_out():
    lone, pair_1, pair_2 = v(x5=1), v(x7=1), v(x7=1, x8=0.25)
    three = [v(x0=1), v(x0=1, x1=0.25), v(x0=1, x2=0.25)]
    rows = np.stack([lone, pair_1, *three, pair_2])
    assert matching.cluster(rows, threshold=0.5).tolist() == [-1, 1, 0, 0, 0, 1]
    assert matching.cluster(rows, threshold=0.5, min_size=3).tolist() == [-1, -1, 0, 0, 0, -1]
    assert matching.cluster(rows, threshold=0.5, min_size=1).tolist() == [2, 1, 0, 0, 0, 1]
    assert matching.cluster(np.zeros((0, 128), np.float32), threshold=0.5).tolist() == []


def average_linkage_by_hand(x: np.ndarray, threshold: float) -> list[list[int]]:
    """The definition, slowly: merge the two groups with the smallest mean pairwise distance
    while it is at most ``threshold``."""
    groups, d = [[i] for i in range(len(x))], matching.distance(x, x)
    while len(groups) > 1:
        pairs = [(d[np.ix_(g, h)].mean(), i, j) for i, g in enumerate(groups)
                 for j, h in enumerate(groups) if i < j]
        mean, i, j = min(pairs)
        if mean > threshold:
            break
        groups[i] += groups.pop(j)
    return sorted(sorted(g) for g in groups)


@pytest.mark.parametrize("seed", range(10))
def test_cluster_is_average_linkage_cut_at_the_threshold(seed: int):
    rng = np.random.default_rng(seed)
    people = rng.normal(size=(8, 128))
    people /= np.linalg.norm(people, axis=1, keepdims=True)
    x = (people[rng.integers(0, 8, 40)] + rng.normal(scale=0.06, size=(40, 128))).astype(
        np.float32
    )
    labels = matching.cluster(x, threshold=0.9, min_size=1)
    found = sorted(np.flatnonzero(labels == k).tolist() for k in range(labels.max() + 1))
    assert found == average_linkage_by_hand(x, 0.9)
