"""The gallery's indexes: exact and approximate answer alike, and change in place."""

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from recognition.pipeline import matching, vector_index

REPO = Path(__file__).resolve().parents[2]


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return unit(np.random.default_rng(0).normal(size=(2000, 128)))


@pytest.mark.parametrize("kind", [vector_index.ExactIndex, vector_index.HnswIndex])
def test_an_index_finds_the_nearest_and_takes_adds_and_removes_in_place(kind, vectors):
    index = kind()
    index.add(np.arange(len(vectors)) + 100, vectors)
    probes = unit(vectors[:50] + 0.01)

    keys, distances = index.search(probes, 3)

    assert keys[:, 0].tolist() == list(range(100, 150))
    assert np.all(np.diff(distances, axis=1) >= 0)  # nearest first
    np.testing.assert_allclose(distances[:, 0], np.linalg.norm(probes - vectors[:50], axis=1),
                               atol=1e-4)
    index.remove([100, 101])
    index.add([5000], vectors[2:3])  # vector 2 under a second key
    index.add([102], vectors[3:4])  # key 102 added again: it now holds vector 3
    keys, _ = index.search(vectors[:4], 2)
    assert 100 not in keys[0] and 101 not in keys[1] and len(index) == 1999
    assert keys[2, 0] == 5000 and set(keys[3].tolist()) == {102, 103}


def test_an_upgrading_index_answers_exactly_until_built_and_keeps_changes_made_meanwhile(
        vectors, monkeypatch):
    """Above its size the HNSW index is built in the background; searches meanwhile are exact,
    and what was added or removed during the build is in the index that takes over."""
    release = threading.Event()

    class HeldBack(vector_index.HnswIndex):
        def add(self, keys, vectors):
            assert release.wait(60)
            super().add(keys, vectors)

    monkeypatch.setattr(vector_index, "HnswIndex", HeldBack)
    index = vector_index.UpgradingIndex(approximate_above=1000)
    index.add(np.arange(900), vectors[:900])
    index.add(np.arange(900, 1500), vectors[900:1500])  # above 1,000: the build starts
    keys, _ = index.search(vectors[:3], 1)
    assert not index.approximate and keys[:, 0].tolist() == [0, 1, 2]
    index.remove([0])
    index.add([5000], vectors[1600:1601])
    index.add([1], vectors[1700:1701])  # key 1 now holds another face
    release.set()
    index.wait()
    keys, _ = index.search(vectors[[0, 1, 1600, 1700, 2]], 1)
    found = keys[:, 0].tolist()
    assert index.approximate and len(index) == 1500
    assert found[0] != 0 and found[1] != 1 and found[2:] == [5000, 1, 2]


def test_the_indexed_gallery_names_who_the_exact_one_names(vectors):
    rng = np.random.default_rng(1)
    people = rng.integers(0, 400, len(vectors))
    exact = matching.Gallery(embeddings=vectors, person_ids=people, version="v")
    indexed = matching.IndexedGallery(keys=np.arange(len(vectors)), embeddings=vectors,
                                      person_ids=people, version="v")
    indexed.index.wait()
    assert indexed.index.approximate
    probes = unit(vectors[::10] + 0.02 * rng.normal(size=(200, 128)))

    def who(gallery) -> list[tuple]:
        return [(m.person_id, m.candidate, m.distance)
                for m in matching.identify(probes, gallery, threshold=0.42, margin=0.02)]

    found, truth = who(indexed), who(exact)
    assert [row[:2] for row in found] == [row[:2] for row in truth]
    # The index keeps float16 vectors: its distances are within 0.001 of exact.
    np.testing.assert_allclose([row[2] for row in found], [row[2] for row in truth], atol=1e-3)
    a = matching.nearest_people(probes[:5], exact, k=3)
    b = matching.nearest_people(probes[:5], indexed, k=3)
    assert [[p for p, _ in row] for row in a] == [[p for p, _ in row] for row in b]
    # A reference is not its own nearest when asked to skip it.
    [[(_, distance), *_]] = matching.nearest_people(vectors[:1], indexed, k=2,
                                                          skip_identical=True)
    assert distance > 0


def test_benchmark_scale_reports_latency_and_recall_by_size(tmp_path, vectors):
    names = np.repeat(np.arange(200), 10).astype(str)
    descriptors = tmp_path / "d.npz"
    np.savez(descriptors, names=names, vectors=vectors, numbers=np.arange(2000),
             version=np.array("x"))
    out = tmp_path / "scale.json"
    done = subprocess.run(
        [sys.executable, "manage.py", "benchmark_scale", "--descriptors", str(descriptors),
         "--references", "500,3000", "--queries", "30", "--import-photos", "0",
         "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert set(report["identify_p95_ms"]) == {"500", "3000"} == set(report["recall_at_1"])
    assert all(0.9 <= r <= 1 for r in report["recall_at_1"].values())
    assert all(0.5 <= r <= 1 for r in report["everywhere_recall"].values())
    assert "3,000 references" in done.stdout and "import_photos_per_minute" not in report

