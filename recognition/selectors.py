"""Read-only queries, and identification against the gallery of reference faces."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db.models import Count, Max

from recognition.models import EMBEDDING_DTYPE, EMBEDDING_SIZE, Face


@dataclass(frozen=True)
class Gallery:
    """Every reference face of one model version, as arrays for vectorised search.

    ``embeddings`` (N, 128) float32 and ``person_ids`` (N,) int64 row by row; ``people`` (P,)
    the distinct person ids and ``person_index`` (N,) each row's position in ``people``.
    ``fingerprint`` identifies the database state the arrays were read from.
    """

    embeddings: np.ndarray
    person_ids: np.ndarray
    people: np.ndarray
    person_index: np.ndarray
    fingerprint: tuple


@dataclass(frozen=True)
class Match:
    """Who a face is: ``person_id`` None means unknown. ``distance`` is the Euclidean
    distance to the nearest person's nearest reference (None with an empty gallery)."""

    person_id: int | None
    distance: float | None


# Per process (each worker process keeps its own): model version -> Gallery.
_gallery_cache: dict[str, Gallery] = {}


def gallery_fingerprint(*, model_version: str) -> tuple:
    """One cheap query that changes whenever the gallery does, whichever process changed it.

    Adding or re-pointing a reference saves its ``updated_at`` (newer than any before);
    removing one, by any path including cascades, lowers the count.
    """
    row = Face.objects.filter(is_reference=True, model_version=model_version).aggregate(
        count=Count("id"), newest=Max("updated_at")
    )
    return (row["count"], row["newest"])


def gallery_get(*, model_version: str) -> Gallery:
    """The gallery for ``model_version``, re-read from the database only when it changed."""
    fingerprint = gallery_fingerprint(model_version=model_version)
    cached = _gallery_cache.get(model_version)
    if cached is not None and cached.fingerprint == fingerprint:
        return cached
    rows = list(
        Face.objects.filter(is_reference=True, model_version=model_version).values_list(
            "person_id", "embedding"
        )
    )
    person_ids = np.array([person_id for person_id, _ in rows], dtype=np.int64)
    blobs = b"".join(bytes(blob) for _, blob in rows)
    embeddings = np.frombuffer(blobs, dtype=EMBEDDING_DTYPE).reshape(len(rows), EMBEDDING_SIZE)
    people, person_index = np.unique(person_ids, return_inverse=True)
    gallery = Gallery(embeddings, person_ids, people, person_index, fingerprint)
    _gallery_cache[model_version] = gallery
    return gallery


def gallery_cache_clear() -> None:
    """Forget cached galleries (tests)."""
    _gallery_cache.clear()


def identify(
    *, embeddings: np.ndarray, gallery: Gallery, threshold: float, margin: float
) -> list[Match]:
    """Match each of ``embeddings`` (F, 128) float32 against the gallery.

    Each person's distance is that of their nearest reference. A face is that person when the
    nearest person is within ``threshold`` and the runner-up is more than ``margin`` further
    away; otherwise it is unknown (too far, or too close to call between two people).
    """
    if len(gallery.people) == 0:
        return [Match(None, None) for _ in range(len(embeddings))]
    # (F, N) distances to every reference, then (F, P) distances to every person.
    to_refs = np.linalg.norm(embeddings[:, None, :] - gallery.embeddings[None, :, :], axis=2)
    to_people = np.full((len(embeddings), len(gallery.people)), np.inf)
    for f in range(len(embeddings)):
        np.minimum.at(to_people[f], gallery.person_index, to_refs[f])
    matches = []
    for row in to_people:
        order = np.argsort(row)
        best = float(row[order[0]])
        too_close = len(order) > 1 and row[order[1]] - best < margin
        person = None if best > threshold or too_close else int(gallery.people[order[0]])
        matches.append(Match(person, best))
    return matches
