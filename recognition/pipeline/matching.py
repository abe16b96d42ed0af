"""Who a face is: descriptor distances and the one rule that turns a distance into "the same
person", applied to pairs (verify), to a gallery of reference faces (identify, nearest people)
and among unknown faces (cluster). Django-free: the app loads the gallery (``selectors``) and
passes it in.

Descriptors are ``(128,)`` float32 rows (``analyse.describe``: unit length). The distance is
Euclidean, and two descriptors show the same person when it is *at most* the threshold
(:func:`is_match`); everything here decides through that one function.

A :class:`Gallery` answers "which people are nearest" through :meth:`Gallery.nearest` alone,
exactly, by comparing with every reference. A large gallery is an :class:`IndexedGallery`
instead: the same ``nearest`` from an approximate index (``vector_index``), changed in place
as references come and go.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from recognition.pipeline import vector_index
from recognition.pipeline.embed import DESCRIPTOR_SIZE


def distance(a: np.ndarray, b: np.ndarray) -> float | np.ndarray:
    """Euclidean distance between descriptors, in float64.

    ``(128,)`` and ``(128,)`` -> float; ``(N, 128)`` and ``(128,)`` -> ``(N,)``; ``(128,)`` and
    ``(M, 128)`` -> ``(M,)``; ``(N, 128)`` and ``(M, 128)`` -> ``(N, M)``, every row of ``a``
    against every row of ``b``.
    """
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    rows, cols = np.atleast_2d(a64), np.atleast_2d(b64)
    # |x - y|^2 = |x|^2 + |y|^2 - 2 x.y: one matrix product, memory N x M rather than
    # N x M x 128; in float64 it is within ~1e-8 of the direct difference, far below any
    # threshold's precision. Rounding can leave a tiny negative square: clipped to 0.
    squared = (
        np.einsum("ij,ij->i", rows, rows)[:, None]
        + np.einsum("ij,ij->i", cols, cols)[None, :]
        - 2 * rows @ cols.T
    )
    d = np.sqrt(np.maximum(squared, 0.0))
    if b64.ndim == 1:
        d = d[:, 0]
    if a64.ndim == 1:
        d = d[0]
    return float(d) if np.ndim(d) == 0 else d


def is_match(distance: float | np.ndarray, threshold: float) -> bool | np.ndarray:
    """The same person: ``distance`` at most ``threshold`` (a float, or elementwise)."""
    same = np.asarray(distance) <= threshold
    return bool(same) if same.ndim == 0 else same


# How sure a distance makes "the same person", in words a person reads, around the threshold.
# On LFW dev the share of same-person pairs in each band is printed by evaluate_lfw (README,
# "Evaluations"). A face this far inside the threshold is "very likely" the person; inside it,
# "likely"; up to POSSIBLE_BAND beyond it "possibly" (a guess offered, never a name given).
SURE_WITHIN = 0.08
POSSIBLE_BAND = 0.06
CONFIDENCE_WORDS = ("very likely", "likely", "possibly", "unlikely")


def confidence(distance: float, threshold: float) -> str:
    """One of CONFIDENCE_WORDS for a face at ``distance`` from a person."""
    if distance <= threshold - SURE_WITHIN:
        return "very likely"
    if is_match(distance, threshold):
        return "likely"
    return "possibly" if distance <= threshold + POSSIBLE_BAND else "unlikely"


@dataclass(frozen=True)
class Match:
    """Who a face is: ``person_id`` None means unknown. ``distance`` is the distance to the
    nearest person's nearest reference (None with an empty gallery). ``candidate``: for an
    unknown face, the nearest person when they are "possibly" them (:func:`confidence`), or
    when two people were too close to call between; None otherwise."""

    person_id: int | None
    distance: float | None
    candidate: int | None = None


@dataclass(frozen=True)
class Verdict:
    """Whether a face is the same person as one or more others: ``distance`` to the nearest
    of them, which is row ``nearest`` of what it was compared with."""

    same: bool
    distance: float
    nearest: int


@dataclass(frozen=True, eq=False)
class Gallery:
    """Every reference face of one model version, as arrays for vectorised search.

    ``embeddings`` (N, 128) float32 and ``person_ids`` (N,) int64, row by row; ``version`` the
    model version that made them (faces of other versions are not comparable). Derived:
    ``people`` (P,) the distinct person ids, ascending, and ``person_index`` (N,) each row's
    position in ``people``. The arrays are read-only: galleries are cached and shared.
    """

    embeddings: np.ndarray = field(repr=False)
    person_ids: np.ndarray = field(repr=False)
    version: str
    people: np.ndarray = field(init=False, repr=False)
    person_index: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        embeddings = np.array(self.embeddings, dtype=np.float32).reshape(-1, DESCRIPTOR_SIZE)
        person_ids = np.array(self.person_ids, dtype=np.int64).reshape(-1)
        if len(embeddings) != len(person_ids):
            raise ValueError(
                f"{len(embeddings)} embeddings but {len(person_ids)} person ids: one per row"
            )
        people, person_index = np.unique(person_ids, return_inverse=True)
        for name, array in (("embeddings", embeddings), ("person_ids", person_ids),
                            ("people", people), ("person_index", person_index)):
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    def __len__(self) -> int:
        """The number of reference faces."""
        return len(self.embeddings)

    def nearest(
        self, embeddings: np.ndarray, *, k: int, skip_identical: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` people nearest each of ``embeddings`` (F, 128), nearest first.

        A person's distance is that of their nearest reference. Returns ``(person ids (F, K)
        int64, distances (F, K) float64)`` with K = min(k, number of people); ties keep the
        lower person id first. ``skip_identical``: references equal to the probe are left out
        (a reference face is not its own nearest); a person left with none is at infinity.
        """
        to_people = self._person_distances(embeddings, skip_identical=skip_identical)
        order = np.argsort(to_people, axis=1, kind="stable")[:, : max(k, 0)]
        return self.people[order], np.take_along_axis(to_people, order, axis=1)

    def _person_distances(self, embeddings: np.ndarray, *, skip_identical: bool) -> np.ndarray:
        """(F, P) distance from each embedding to each person's nearest reference."""
        probes = np.asarray(embeddings, np.float32).reshape(-1, DESCRIPTOR_SIZE)
        to_refs = distance(probes, self.embeddings)
        if skip_identical:
            identical = np.all(probes[:, None, :] == self.embeddings[None, :, :], axis=2)
            to_refs[identical] = np.inf
        to_people = np.full((len(probes), len(self.people)), np.inf)
        for row, refs in zip(to_people, to_refs, strict=True):
            np.minimum.at(row, self.person_index, refs)
        return to_people


class IndexedGallery:
    """Reference faces in an approximate index, for galleries too large to compare with
    every reference (``selectors`` decides by size). Keyed by the faces' ids; :meth:`add` and
    :meth:`remove` change it in place, so a new reference is searched at once. The index is
    built in the background; until it is, every reference is compared (``UpgradingIndex``),
    so the first photo a worker analyses does not wait for it."""

    def __init__(self, *, keys, embeddings, person_ids, version: str, threads: int = 1):
        self.version = version
        self.index = vector_index.UpgradingIndex(approximate_above=0, threads=threads)
        self._lock = threading.Lock()
        self._keys = np.zeros(0, np.int64)  # ascending, for looking people up
        self._persons = np.zeros(0, np.int64)
        self.add(keys, embeddings, person_ids)

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, keys, embeddings, person_ids) -> None:
        """Add references (a key already present is replaced)."""
        keys = np.asarray(keys, np.int64).reshape(-1)
        persons = np.asarray(person_ids, np.int64).reshape(-1)
        if len(keys) != len(persons):
            raise ValueError(f"{len(keys)} keys but {len(persons)} person ids: one per row")
        self.index.add(keys, embeddings)
        order = np.argsort(keys, kind="stable")
        keys, persons = keys[order], persons[order]
        with self._lock:
            keep = ~np.isin(self._keys, keys)
            old_keys, old_persons = self._keys[keep], self._persons[keep]
            at = np.searchsorted(old_keys, keys)  # kept in order: no sort of them all
            self._keys = np.insert(old_keys, at, keys)
            self._persons = np.insert(old_persons, at, persons)

    def remove(self, keys) -> None:
        keys = np.asarray(keys, np.int64).reshape(-1)
        self.index.remove(keys)
        with self._lock:
            keep = ~np.isin(self._keys, keys)
            self._keys, self._persons = self._keys[keep], self._persons[keep]

    def keys(self) -> np.ndarray:
        return self._keys.copy()

    def _persons_of(self, keys: np.ndarray) -> np.ndarray:
        """Each key's person id, -1 for a key not (or no longer) here."""
        with self._lock:
            at = np.clip(np.searchsorted(self._keys, keys), 0, max(len(self._keys) - 1, 0))
            if not len(self._keys):
                return np.full(keys.shape, -1, np.int64)
            return np.where(self._keys[at] == keys, self._persons[at], -1)

    def nearest(
        self, embeddings: np.ndarray, *, k: int, skip_identical: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`Gallery.nearest`, from the index: the nearest references, then each
        person's nearest of them; rows with fewer than ``k`` people found are padded with
        person -1 at infinity. More references are fetched while a row lacks ``k`` people."""
        probes = np.asarray(embeddings, np.float32).reshape(-1, DESCRIPTOR_SIZE)
        ids = np.full((len(probes), max(k, 0)), -1, np.int64)
        distances = np.full((len(probes), max(k, 0)), np.inf)
        fetch = max(32, 8 * k)
        while True:
            keys, found = self.index.search(probes, fetch)
            persons = self._persons_of(keys)
            short = False
            for row in range(len(probes)):
                seen: list[int] = []
                for person, d in zip(persons[row], found[row], strict=True):
                    if person < 0 or (skip_identical and d <= 1e-6) or person in seen:
                        continue
                    ids[row, len(seen)], distances[row, len(seen)] = person, d
                    seen.append(int(person))
                    if len(seen) == k:
                        break
                short |= len(seen) < k
            if not short or fetch >= len(self):
                return ids, distances
            fetch *= 4


def identify(
    embeddings: np.ndarray, gallery: Gallery | IndexedGallery, *, threshold: float, margin: float
) -> list[Match]:
    """Match each of ``embeddings`` (F, 128) float32 against the gallery.

    A face is the nearest person when that person is a match (:func:`is_match` with
    ``threshold``) and the runner-up person is at least ``margin`` further away; otherwise it
    is unknown (too far, or too close to call between two people), with that nearest person
    as its ``candidate`` when within POSSIBLE_BAND beyond the threshold. Either way it keeps
    the distance to the nearest person.
    """
    if len(gallery) == 0:
        return [Match(None, None) for _ in range(len(embeddings))]
    matches = []
    for ids, distances in zip(*gallery.nearest(embeddings, k=2), strict=True):
        best = float(distances[0])
        too_close = len(distances) > 1 and bool(distances[1] - best < margin)
        person = int(ids[0]) if is_match(best, threshold) and not too_close else None
        possible = person is None and best <= threshold + POSSIBLE_BAND
        matches.append(Match(person, best, int(ids[0]) if possible else None))
    return matches


def nearest_people(
    embeddings: np.ndarray, gallery: Gallery | IndexedGallery, *, k: int,
    skip_identical: bool = False,
) -> list[list[tuple[int, float]]]:
    """For each of ``embeddings`` (F, 128) float32, up to ``k`` nearest people as
    ``(person_id, distance)``, nearest first (a person's distance: their nearest reference).
    ``skip_identical``: see :meth:`Gallery.nearest`; people left with no reference are not
    listed."""
    ids, distances = gallery.nearest(embeddings, k=k, skip_identical=skip_identical)
    return [
        [(int(i), float(d)) for i, d in zip(row_ids, row, strict=True) if np.isfinite(d)]
        for row_ids, row in zip(ids, distances, strict=True)
    ]


def verify(a: np.ndarray, b: np.ndarray, *, threshold: float) -> Verdict:
    """Whether descriptor ``a`` (128,) shows the same person as ``b``: one descriptor (128,),
    or several of one person (M, 128), M >= 1, of which the nearest counts."""
    distances = np.atleast_1d(distance(a, b))
    nearest = int(np.argmin(distances))
    best = float(distances[nearest])
    return Verdict(is_match(best, threshold), best, nearest)


def cluster(embeddings: np.ndarray, *, threshold: float, min_size: int = 2) -> np.ndarray:
    """Group faces that show the same person: average-linkage clustering cut at ``threshold``.

    Two groups merge while the mean distance over all their pairs of faces is at most
    ``threshold`` (:func:`is_match` on that mean), so one close pair cannot chain two people
    together as single linkage did (on LFW dev it put 283 people in one group). Returns
    ``(N,)`` int64 labels: groups of at least ``min_size`` faces are numbered 0, 1, ...
    largest first (ties: lowest row first), other faces are -1.

    Nearest-neighbour chain algorithm: O(N^2) time in N vectorised steps, one (N, N) float32
    distance matrix (100 MB for 5,000 faces).
    """
    n = len(embeddings)
    labels = np.full(n, -1, np.int64)
    if n == 0:
        return labels
    d = _distance_matrix(embeddings)
    np.fill_diagonal(d, np.inf)
    size = np.ones(n)
    owner = np.arange(n)  # each face's group: the row of the face that represents it
    live = np.ones(n, bool)  # rows still able to merge below the threshold
    chain: list[int] = []
    next_start = 0
    while True:
        if not chain:
            while next_start < n and not live[next_start]:
                next_start += 1
            if next_start == n:
                break
            chain.append(next_start)
        a = chain[-1]
        b = int(np.argmin(d[a]))
        if len(chain) > 1 and d[a, chain[-2]] <= d[a, b]:
            b = chain[-2]  # ties go back down the chain, so it never cycles
        if not is_match(float(d[a, b]), threshold):
            # Average linkage is reducible: a merged group is never nearer to ``a`` than the
            # nearer of its parts, so ``a``'s groups are final.
            live[a] = False
            d[a, :] = d[:, a] = np.inf
            chain.pop()
            continue
        if len(chain) > 1 and b == chain[-2]:
            chain.pop()
            chain.pop()
            merged = (size[a] * d[a] + size[b] * d[b]) / (size[a] + size[b])  # Lance-Williams
            merged[[a, b]] = np.inf
            d[a, :] = d[:, a] = merged
            d[b, :] = d[:, b] = np.inf
            size[a] += size[b]
            live[b] = False
            owner[owner == b] = a
        else:
            chain.append(b)
    roots, first, counts = np.unique(owner, return_index=True, return_counts=True)
    kept = sorted((-c, row, root) for root, row, c in zip(roots, first, counts) if c >= min_size)
    for number, (_, _, root) in enumerate(kept):
        labels[owner == root] = number
    return labels


def _distance_matrix(embeddings: np.ndarray, *, rows: int = 1024) -> np.ndarray:
    """(N, N) float32 distances, computed in blocks of rows so float64 stays small."""
    vectors = np.asarray(embeddings, np.float32).reshape(-1, DESCRIPTOR_SIZE)
    d = np.empty((len(vectors), len(vectors)), np.float32)
    for start in range(0, len(vectors), rows):
        d[start : start + rows] = distance(vectors[start : start + rows], vectors)
    return d
