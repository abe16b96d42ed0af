"""The gallery's approximate index against the alternatives, on the same faces: usearch's HNSW
as the product builds it (``recognition/pipeline/vector_index.py``), FAISS's HNSW with the same
links and candidate lists, and FAISS's IVF (inverted lists, trained on the gallery).

    make bench-setup    # FAISS (faiss-cpu, --no-deps) into var/bench-libs, not the app's venv
    .venv/bin/python bench/vector_indexes.py --descriptors var/lfw_descriptors.npz \\
        [--size 100000] [--queries 1000]

The gallery is drawn as ``manage.py benchmark_scale`` draws it (real LFW people, synthetic
ones like them up to ``--size``); the queries are the other real LFW photos. Prints, per index:
build time, p50/p95 latency of one query at a time on one thread, recall@1 against exact
search, and whether a vector can be removed in place (a reference deleted or moved).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(1, str(REPO / "var" / "bench-libs"))


def timed(search, queries: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Each query alone: the nearest key of each, p50 and p95 in ms."""
    found, times = [], []
    for query in queries:
        started = time.perf_counter()
        found.append(search(query[None]))
        times.append((time.perf_counter() - started) * 1000)
    return np.array(found), float(np.percentile(times, 50)), float(np.percentile(times, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--descriptors", type=Path, required=True)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "faceweb.settings")
    import django

    django.setup()
    from recognition.management.commands.benchmark_scale import _synthetic
    from recognition.pipeline import vector_index

    try:
        import faiss
    except ImportError:
        sys.exit("FAISS is not installed: make bench-setup")
    faiss.omp_set_num_threads(1)

    with np.load(args.descriptors) as stored:
        names, vectors = stored["names"], stored["vectors"].astype(np.float32)
    rng = np.random.default_rng(args.size)
    _, first = np.unique(names, return_index=True)
    asked = np.setdiff1d(np.arange(len(names)), first)
    gallery = np.concatenate([vectors[first], _synthetic(names, vectors, args.size - len(first),
                                                         rng)])
    keys = np.arange(len(gallery), dtype=np.int64)
    queries = vectors[rng.choice(asked, size=min(args.queries, len(asked)), replace=False)]
    exact = vector_index.ExactIndex()
    exact.add(keys, gallery)
    truth = np.concatenate([exact.search(queries[i:i + 50], 1)[0][:, 0]
                            for i in range(0, len(queries), 50)])
    print(f"{len(gallery):,} references, {len(queries)} queries, one thread per query")

    def report(name: str, build_s: float, search, removes: str) -> None:
        found, p50, p95 = timed(search, queries)
        print(f"{name:<44} build {build_s:6.1f} s  p50 {p50:5.2f} ms  p95 {p95:5.2f} ms  "
              f"recall@1 {np.mean(found == truth):7.2%}  remove in place: {removes}")

    started = time.perf_counter()
    ours = vector_index.HnswIndex(threads=2)
    ours.add(keys, gallery)
    ours._threads = 1
    report(f"usearch HNSW {vector_index.DTYPE} (the product)", time.perf_counter() - started,
           lambda q: ours.search(q, 1)[0][0, 0], "yes")

    started = time.perf_counter()
    faiss.omp_set_num_threads(2)
    hnsw = faiss.IndexHNSWFlat(gallery.shape[1], vector_index.CONNECTIVITY)
    hnsw.hnsw.efConstruction = vector_index.EXPANSION_ADD
    hnsw.add(gallery)
    faiss.omp_set_num_threads(1)
    hnsw.hnsw.efSearch = vector_index.EXPANSION_SEARCH
    report("FAISS HNSW float32, same parameters", time.perf_counter() - started,
           lambda q: hnsw.search(q, 1)[1][0, 0], "no (IndexHNSW cannot remove)")

    lists = int(4 * np.sqrt(len(gallery)))
    started = time.perf_counter()
    faiss.omp_set_num_threads(2)
    quantiser = faiss.IndexFlatL2(gallery.shape[1])
    ivf = faiss.IndexIVFFlat(quantiser, gallery.shape[1], lists)
    ivf.train(gallery)
    ivf.add(gallery)
    faiss.omp_set_num_threads(1)
    build_s = time.perf_counter() - started
    for probes in (16, 64, 256):
        ivf.nprobe = probes
        report(f"FAISS IVF-Flat, {lists} lists, {probes} probed", build_s,
               lambda q: ivf.search(q, 1)[1][0, 0], "yes, but trained on the gallery it had")


if __name__ == "__main__":
    main()
