"""Nearest reference faces: exact search for small galleries, an approximate index above a
size (``approximate_above``), both with the same interface and incremental add and remove.

- :class:`ExactIndex`: every distance, in numpy. Below some ten thousand references one
  matrix product is as quick as any index and never misses.
- :class:`HnswIndex`: a hierarchical navigable small-world graph (``usearch``, from PyPI):
  the search walks a graph of each vector's nearest neighbours, a few hundred distance
  computations instead of N. Keys are added and removed in place, so a new reference is
  searchable at once, without rebuilding. Chosen over FAISS's HNSW, which cannot remove
  vectors, and its IVF indexes, which need training, and retraining as a gallery changes;
  ``manage.py benchmark_scale`` measures its recall and speed.

Keys are int64 (the faces' ids); distances are Euclidean, as everywhere in the pipeline.
"""

from __future__ import annotations

import threading

import numpy as np

from recognition.pipeline.embed import DESCRIPTOR_SIZE

# HNSW parameters: links per node, and the candidate list while building and searching;
# vectors kept as float16: searched 1.7x faster than float32 for a recall@1 0.3 points
# lower at 100k, distances within about 0.001 of exact. benchmark_scale measured recall@1
# against exact search and latency for these.
CONNECTIVITY = 32
EXPANSION_ADD = 128
EXPANSION_SEARCH = 256
DTYPE = "f16"


class ExactIndex:
    """Brute force over a float32 matrix (thread-safe: a change swaps in new arrays)."""

    approximate = False

    def __init__(self) -> None:
        self._rows = (np.zeros(0, np.int64), np.zeros((0, DESCRIPTOR_SIZE), np.float32))
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows[0])

    def keys(self) -> np.ndarray:
        return self._rows[0].copy()

    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        """``(keys, vectors)`` as they are now (read-only: a change swaps in new arrays)."""
        return self._rows

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        keys = np.asarray(keys, np.int64).reshape(-1)
        vectors = np.asarray(vectors, np.float32).reshape(-1, DESCRIPTOR_SIZE)
        with self._lock:
            old_keys, old_vectors = self._rows
            keep = ~np.isin(old_keys, keys)  # a key added again replaces its vector
            self._rows = (np.concatenate([old_keys[keep], keys]),
                          np.concatenate([old_vectors[keep], vectors]))

    def remove(self, keys: np.ndarray) -> None:
        with self._lock:
            old_keys, old_vectors = self._rows
            keep = ~np.isin(old_keys, np.asarray(keys, np.int64))
            if not keep.all():
                self._rows = (old_keys[keep], old_vectors[keep])

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(keys (Q, K) int64, distances (Q, K) float32)``, nearest first, K = min(k, N)."""
        queries = np.asarray(queries, np.float32).reshape(-1, DESCRIPTOR_SIZE)
        all_keys, vectors = self._rows
        k = min(k, len(all_keys))
        if k == 0:
            return np.zeros((len(queries), 0), np.int64), np.zeros((len(queries), 0), np.float32)
        squared = ((queries**2).sum(1)[:, None] - 2 * queries @ vectors.T
                   + (vectors**2).sum(1)[None, :])
        nearest = np.argpartition(squared, k - 1, axis=1)[:, :k]
        part = np.take_along_axis(squared, nearest, axis=1)
        order = np.argsort(part, axis=1, kind="stable")
        nearest = np.take_along_axis(nearest, order, axis=1)
        distances = np.sqrt(np.maximum(np.take_along_axis(part, order, axis=1), 0))
        return all_keys[nearest], distances.astype(np.float32)


class HnswIndex:
    """usearch's HNSW graph (thread-safe: one lock for every call)."""

    approximate = True

    def __init__(self, *, threads: int = 1) -> None:
        from usearch.index import Index

        self._index = Index(ndim=DESCRIPTOR_SIZE, metric="l2sq", dtype=DTYPE,
                            connectivity=CONNECTIVITY, expansion_add=EXPANSION_ADD,
                            expansion_search=EXPANSION_SEARCH)
        self._threads = threads
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._index)

    def keys(self) -> np.ndarray:
        with self._lock:
            return np.asarray(self._index.keys, np.int64).copy()

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        keys = np.asarray(keys, np.int64).reshape(-1)
        vectors = np.asarray(vectors, np.float32).reshape(-1, DESCRIPTOR_SIZE)
        with self._lock:
            self._remove(keys)  # a key added again replaces its vector
            self._index.add(keys, vectors, threads=self._threads)

    def remove(self, keys: np.ndarray) -> None:
        with self._lock:
            self._remove(np.asarray(keys, np.int64).reshape(-1))

    def _remove(self, keys: np.ndarray) -> None:
        if len(self._index) and len(keys):
            present = keys[np.atleast_1d(self._index.contains(keys))]
            if len(present):
                self._index.remove(present)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`ExactIndex.search`; rows with fewer than K found are padded with key -1
        at infinity."""
        queries = np.asarray(queries, np.float32).reshape(-1, DESCRIPTOR_SIZE)
        k = min(k, len(self))
        keys = np.full((len(queries), k), -1, np.int64)
        distances = np.full((len(queries), k), np.inf, np.float32)
        if k == 0:
            return keys, distances
        with self._lock:
            found = self._index.search(queries, k, threads=self._threads)
        # One query gives one list of matches, several a batch with a count per query.
        counts = np.atleast_1d(getattr(found, "counts", len(found.keys)))
        found_keys = np.asarray(found.keys).reshape(len(queries), -1)
        found_distances = np.asarray(found.distances).reshape(len(queries), -1)
        for row, count in enumerate(counts):
            keys[row, :count] = found_keys[row, :count]
            distances[row, :count] = np.sqrt(np.maximum(found_distances[row, :count], 0))
        return keys, distances

    @property
    def memory_bytes(self) -> int:
        return int(self._index.memory_usage)


class UpgradingIndex:
    """Exact at first; once it holds more than ``approximate_above`` vectors an HNSW index is
    built from them in a background thread and takes the exact one's place when done, with the
    changes made meanwhile. Searches never wait for a build: at a million faces a build takes
    some twenty minutes, an exact search some 60 ms. (usearch lets go of Python's lock while
    it builds, so the process keeps working.)"""

    def __init__(self, *, approximate_above: int, threads: int = 1) -> None:
        self._index: ExactIndex | HnswIndex = ExactIndex()
        self._above = approximate_above
        self._threads = threads
        self._lock = threading.Lock()  # changes against the swap
        self._building: threading.Thread | None = None
        self._changed: list[np.ndarray] = []  # keys added while building

    @property
    def approximate(self) -> bool:
        return self._index.approximate

    @property
    def current(self) -> ExactIndex | HnswIndex:
        return self._index

    def __len__(self) -> int:
        return len(self._index)

    def keys(self) -> np.ndarray:
        return self._index.keys()

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        with self._lock:
            self._index.add(keys, vectors)
            if self._building is not None:
                self._changed.append(np.asarray(keys, np.int64).reshape(-1))
            elif not self._index.approximate and len(self._index) > self._above:
                self._building = threading.Thread(target=self._build, args=(self._index,),
                                                  daemon=True, name="hnsw build")
                self._building.start()

    def remove(self, keys: np.ndarray) -> None:
        with self._lock:
            self._index.remove(keys)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self._index.search(queries, k)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a build under way to take over (tests, benchmarks)."""
        building = self._building
        if building is not None:
            building.join(timeout)

    def _build(self, exact: ExactIndex) -> None:
        keys, vectors = exact.rows()
        approximate = HnswIndex(threads=self._threads)
        approximate.add(keys, vectors)
        with self._lock:
            now, vectors = exact.rows()
            approximate.remove(keys[~np.isin(keys, now)])
            changed = np.isin(now, np.concatenate([np.zeros(0, np.int64), *self._changed]))
            approximate.add(now[changed], vectors[changed])
            self._index, self._building, self._changed = approximate, None, []
