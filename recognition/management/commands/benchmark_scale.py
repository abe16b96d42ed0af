"""``python manage.py benchmark_scale --descriptors FILE.npz [--references 10000,100000,1000000]
[--queries N] [--json FILE]``."""

import json
import statistics
import time
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

LFW = settings.FACEWEB_DATA_DIR / "lfw-dev" / "images"


class Command(BaseCommand):
    help = (
        "The gallery at scale: for each reference count, identify latency for one face (p50, "
        "p95) through the product's matching.identify on the approximate index, recall@1 of "
        "the index against exact search, build time, memory per million references, the time "
        "to take one new reference in, and the exact search's latency for comparison. Real LFW "
        "descriptors (the .npz evaluate_clustering --descriptors writes) enrol one photo per "
        "person and ask with the others; synthetic people drawn to match their distribution "
        "(between- and within-person spread) fill the gallery up to each size. Also finding a "
        "face everywhere (its nearest faces among as many). Then import throughput: 640x480 "
        "one-face photos imported with 1 and 2 worker processes (real celery workers, a "
        "throwaway database, Redis and media folder), in photos a minute."
    )

    def add_arguments(self, parser):
        parser.add_argument("--descriptors", type=Path,
                            help="LFW descriptors: evaluate_clustering --descriptors FILE.npz "
                            "(needed with --references)")
        parser.add_argument("--references", default="10000,100000,1000000")
        parser.add_argument("--queries", type=int, default=300)
        parser.add_argument("--threads", type=int, default=2, help="for building the index")
        parser.add_argument("--expansion", default="",
                            help="also measure these search expansions (e.g. 256,512,1024) on "
                            "the same index: recall and latency for each")
        parser.add_argument("--import-photos", type=int, default=60,
                            help="photos imported with each number of workers (0: no import)")
        parser.add_argument("--import-workers", default="1,2")
        parser.add_argument("--import-images", type=Path, default=LFW,
                            help="one-face photos to make the 640x480 import photos from")
        parser.add_argument("--json", type=Path)

    def handle(self, *args, **options):
        sizes = [int(s) for s in options["references"].split(",") if s]
        if sizes and (options["descriptors"] is None or not options["descriptors"].is_file()):
            raise CommandError("--descriptors FILE.npz is needed (LFW descriptors: run manage.py "
                               "evaluate_clustering --images ../shared/data/lfw-dev/images "
                               "--descriptors FILE.npz first)")
        if sizes:
            with np.load(options["descriptors"]) as stored:
                names, vectors = stored["names"], stored["vectors"].astype(np.float32)
        report: dict = {key: {} for key in (
            "identify_p50_ms", "identify_p95_ms", "recall_at_1", "build_s",
            "memory_mib_per_million", "add_one_ms", "exact_p50_ms", "by_expansion",
            "everywhere_p95_ms", "everywhere_recall")}
        for size in sizes:
            figures = self._measure(size, names, vectors, options)
            for key, value in figures.items():
                report[key][str(size)] = value
            self.stdout.write(
                f"{size:>9,} references: identify p50 {figures['identify_p50_ms']:.2f} ms, p95 "
                f"{figures['identify_p95_ms']:.2f} ms (exact search p50 "
                f"{figures['exact_p50_ms']:.1f} ms); recall@1 {figures['recall_at_1']:.2%} of "
                f"exact; built in {figures['build_s']:.1f} s; "
                f"{figures['memory_mib_per_million']:.0f} MiB per million; one new reference "
                f"taken in {figures['add_one_ms']:.2f} ms")
        if options["import_photos"]:
            from recognition.management import import_bench

            speed = import_bench.measure(
                options["import_images"], per_run=options["import_photos"],
                workers=[int(w) for w in options["import_workers"].split(",")],
                log=self.stdout.write)
            report["import_photos_per_minute"] = speed
            if "1" in speed and len(speed) > 1:
                report["import_speedup"] = {n: v / speed["1"] for n, v in speed.items()}
                self.stdout.write("import speed-up over one worker: " + ", ".join(
                    f"{n} workers {v:.2f}x" for n, v in report["import_speedup"].items()
                    if n != "1"))
        if options["json"] is not None:
            options["json"].write_text(json.dumps(report, indent=2) + "\n")

    def _measure(self, size: int, names, vectors, options) -> dict:
        from recognition.pipeline import matching, vector_index
        from recognition.selectors import EVERYWHERE_FETCH

        rng = np.random.default_rng(size)
        people, first = np.unique(names, return_index=True)
        enrolled = vectors[first]  # one reference per real person
        asked = np.setdiff1d(np.arange(len(names)), first)
        asked_person = np.searchsorted(people, names[asked])
        synthetic = max(0, size - len(enrolled))
        gallery_vectors = np.concatenate([enrolled, _synthetic(names, vectors, synthetic, rng)])
        # Real people keep ids 0..P-1; synthetic references are people of their own.
        person_ids = np.arange(len(gallery_vectors))
        keys = np.arange(len(gallery_vectors)) + 1
        started = time.perf_counter()
        gallery = matching.IndexedGallery(keys=keys, embeddings=gallery_vectors,
                                          person_ids=person_ids, version="bench",
                                          threads=options["threads"])
        gallery.index.wait()  # built in the background; exact search answers meanwhile
        build_s = time.perf_counter() - started
        hnsw = gallery.index.current
        hnsw._threads = 1  # one face at a time, as a request asks
        exact = vector_index.ExactIndex()
        exact.add(keys, gallery_vectors)

        picks = rng.choice(len(asked), size=min(options["queries"], len(asked)), replace=False)
        queries = vectors[asked[picks]]
        exact_started = time.perf_counter()
        exact.search(queries[:20], 1)
        exact_ms = (time.perf_counter() - exact_started) * 1000 / 20
        # The truth: exact search, 50 queries at a time (a distance matrix at 1M is 200 MB).
        truth = [exact.search(queries[i:i + 50], EVERYWHERE_FETCH) for i in range(0, len(queries), 50)]
        exact_all = np.concatenate([keys for keys, _ in truth])
        exact_keys = exact_all[:, :1]
        correct = int((person_ids[exact_keys[:, 0] - 1] == asked_person[picks]).sum())

        def measure() -> tuple[list[float], float]:
            latencies = []
            for query in queries:
                started = time.perf_counter()
                matching.identify(query[None], gallery, threshold=0.42, margin=0.02)
                latencies.append((time.perf_counter() - started) * 1000)
            found_keys, _ = gallery.index.search(queries, 1)
            return latencies, float((found_keys[:, 0] == exact_keys[:, 0]).mean())

        by_expansion = {}
        for expansion in [int(e) for e in options["expansion"].split(",") if e]:
            hnsw._index.expansion_search = expansion
            latencies, recall = measure()
            by_expansion[str(expansion)] = {
                "recall_at_1": recall, "identify_p95_ms": float(np.percentile(latencies, 95))}
            self.stdout.write(f"  search expansion {expansion}: recall@1 {recall:.2%}, p95 "
                              f"{np.percentile(latencies, 95):.2f} ms")
        hnsw._index.expansion_search = vector_index.EXPANSION_SEARCH
        latencies, recall = measure()

        # Finding a face everywhere: its first fetch, the EVERYWHERE_FETCH nearest of every face.
        everywhere = []
        for query in queries:
            started = time.perf_counter()
            gallery.index.search(query[None], EVERYWHERE_FETCH)
            everywhere.append((time.perf_counter() - started) * 1000)
        found_keys, _ = gallery.index.search(queries, EVERYWHERE_FETCH)
        everywhere_recall = float(np.mean([len(np.intersect1d(a, b)) / EVERYWHERE_FETCH
                                           for a, b in zip(found_keys, exact_all, strict=True)]))

        new = _synthetic(names, vectors, 1, rng)
        started = time.perf_counter()
        gallery.add([len(keys) + 1], new, [len(keys)])
        [match] = matching.identify(new, gallery, threshold=0.42, margin=0.02)
        add_ms = (time.perf_counter() - started) * 1000
        if match.person_id != len(keys):
            raise CommandError("a new reference was not found by the next identification")
        self.stdout.write(f"  (exact search names the right person for {correct} of "
                          f"{len(queries)} real faces at this size)")
        self.stdout.write(f"  find a face everywhere ({EVERYWHERE_FETCH} nearest faces): p95 "
                          f"{np.percentile(everywhere, 95):.2f} ms, recall {everywhere_recall:.2%}")
        return {
            "identify_p50_ms": statistics.median(latencies),
            "identify_p95_ms": float(np.percentile(latencies, 95)),
            "recall_at_1": recall,
            "build_s": build_s,
            "memory_mib_per_million": hnsw.memory_bytes / len(keys) * 1e6 / 2**20,
            "add_one_ms": add_ms,
            "exact_p50_ms": exact_ms,
            "by_expansion": by_expansion,
            "everywhere_p95_ms": float(np.percentile(everywhere, 95)),
            "everywhere_recall": everywhere_recall,
        }


def _synthetic(names, vectors, count: int, rng) -> np.ndarray:
    """``count`` descriptors of new people, drawn like LFW's: a person's centre from the
    spread of the real people's centres, one face around it from the spread of real faces
    around their person's centre (both as Gaussians with the measured covariances), made unit
    length like every descriptor."""
    people, inverse = np.unique(names, return_inverse=True)
    centres = np.stack([vectors[inverse == i].mean(0) for i in range(len(people))])
    within = vectors - centres[inverse]
    drawn = (rng.multivariate_normal(centres.mean(0), np.cov(centres.T), size=count)
             + rng.multivariate_normal(np.zeros(vectors.shape[1]), np.cov(within.T), size=count))
    return (drawn / np.linalg.norm(drawn, axis=1, keepdims=True)).astype(np.float32)
