"""faceweb's pipeline vs face_recognition (dlib), measured in the same run on the same inputs.

    .venv/bin/python bench/benchmark.py [--json OUT] [--repeats N] [--threads T]

Needs the installed models (``make setup``), the reference virtualenv (``make bench-setup``)
and the evaluation data (``../shared/data``, or env FACEWEB_DATA_DIR). What is measured, on
what, and how to read the table: ``bench/README.md``.

dlib runs in one long-lived subprocess (``bench/dlib_worker.py``) that times its own calls.
Every section warms both sides up with one untimed pass over its inputs, then interleaves
them item by item (the order alternating), so machine load hits both alike. Figures are
medians with the 25th-75th percentile as spread, and speed is the ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter down

from recognition.pipeline import age_gender, analyse, detectors, embed, expression, loader
from recognition.pipeline.image import load_image

DATA = Path(os.environ.get("FACEWEB_DATA_DIR") or ROOT.parent / "shared" / "data")
BENCH_PYTHON = ROOT / ".bench-venv" / "bin" / "python"
BATCHES = (1, 8, 32)
# WIDER FACE dev photos (416x416, squashed) in which MTCNN found about ten faces; RetinaFace
# finds 7, 10 and 0 in these squashed copies (context only, no target).
GROUP_PHOTOS = (
    "2--Demonstration/2_Demonstration_Political_Rally_2_57.jpg",
    "2--Demonstration/2_Demonstration_Protesters_2_493.jpg",
    "2--Demonstration/2_Demonstration_Protesters_2_531.jpg",
)
# Issue #2's targets, as ours / dlib, with detection's from issue #12 (0.6: the detector
# became RetinaFace, which finds many more faces). The WIDER row has none: dlib finds no face
# there, so the two sides do different work (see bench/README.md).
TARGETS = {"embed_8": 0.25, "detect": 0.6, "e2e_1": 0.5, "e2e_montage": 0.5}
# Per face at batch 8: our expression network (issue 14); the attribute heads together as the
# product runs them (issue 15).
HEAD_TARGETS_MS = {"fer_resnet": 3.0, "age_gender+mirror": 3.0}

Timing = dict  # {"ms": wall, "cpu_ms": process CPU time, "faces": count}


def timed(fn: Callable[[], int]) -> Timing:
    """Run ``fn`` (returning a face count) and time it the way ``dlib_worker`` does."""
    wall, cpu = time.perf_counter(), time.process_time()
    faces = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"ms": wall * 1000, "cpu_ms": cpu * 1000, "faces": faces}


def peak_rss_mib(pid: int | str = "self") -> float:
    """Peak resident set size of a live process, in MiB (Linux ``VmHWM``).

    Not ``ru_maxrss``: that survives exec, so a child started by this (large) process would
    report this process's size. ``VmHWM`` belongs to the child's own address space.
    """
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


class DlibWorker:
    """``bench/dlib_worker.py`` in the reference virtualenv, called like a function."""

    def __init__(self, python: Path) -> None:
        if not python.is_file():
            sys.exit(f"{python} not found: create the reference virtualenv with `make bench-setup`")
        self._process = subprocess.Popen(
            [str(python), str(ROOT / "bench" / "dlib_worker.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.pid = self._process.pid

    def __call__(self, op: str, **fields) -> dict:
        self._process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the dlib worker died (see its error above)")
        return json.loads(line)

    def close(self) -> None:
        self._process.stdin.close()  # the worker stops at end of input
        self._process.wait(timeout=30)
        self._process.stdout.close()


def interleave(
    items: list,
    sides: dict[str, Callable[[object], Timing]],
    *,
    repeats: int,
    warm_up: int | None = None,
) -> dict[str, list[Timing]]:
    """Time every side on every item, ``repeats`` times, after an untimed warm-up pass over
    the first ``warm_up`` items (default all: shapes differ per photo, and TFLite plans
    memory per input shape).

    Sides take turns per item, the first place rotating, so none always runs on a cache
    warmed (or a CPU heated) by the other.
    """
    for item in items[:warm_up]:
        for fn in sides.values():
            fn(item)
    names = list(sides)
    results: dict[str, list[Timing]] = {name: [] for name in names}
    for r in range(repeats):
        for i, item in enumerate(items):
            k = (r + i) % len(names)
            for name in names[k:] + names[:k]:
                results[name].append(sides[name](item))
    return results


def summary(timings: list[Timing], *, per: int = 1) -> dict:
    """Median and quartiles of ``ms / per``, the median process CPU time per item / ``per``,
    the cores used (CPU / wall), the faces found."""
    ms = np.array([t["ms"] for t in timings]) / per
    return {
        "median_ms": float(np.median(ms)),
        "median_cpu_ms": float(np.median([t["cpu_ms"] for t in timings])) / per,
        "p25_ms": float(np.percentile(ms, 25)),
        "p75_ms": float(np.percentile(ms, 75)),
        "n": len(ms),
        "cores": sum(t["cpu_ms"] for t in timings) / sum(t["ms"] for t in timings),
        "faces": [t["faces"] for t in timings],
    }


def configure_threads(threads: int) -> None:
    """Fix TensorFlow's thread pools before any op runs (our LiteRT models use 2)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def our_analyse(path: Path) -> int:
    """The product's path: ``load_image`` then ``analyse_image`` (detect, align, embed each
    chip and its mirror image, expression); faces found."""
    return len(analyse.analyse_image(load_image(path)).faces)


def pick_lfw_faces(
    dlib: DlibWorker, *, count: int
) -> list[tuple[Path, np.ndarray, np.ndarray, list]]:
    """The first ``count`` LFW dev people (sorted) whose first photo both detectors see as
    exactly one face: (path, our aligned chip, its mirror-image chip, dlib's box)."""
    chosen = []
    for person in sorted((DATA / "lfw-dev" / "images").iterdir()):
        path = person / f"{person.name}_0001.jpg"
        image = load_image(path)
        ours = loader.get_detector().detect(image)
        if len(ours) != 1:
            continue
        boxes = dlib("locate", path=str(path))["boxes"]
        if len(boxes) == 1:
            chips, mirrored = analyse.align_faces(image, [ours[0].landmarks])
            chosen.append((path, chips[0], mirrored[0], boxes[0]))
        if len(chosen) == count:
            return chosen
    raise RuntimeError(f"fewer than {count} usable LFW photos")


def write_montage(paths: list[Path], directory: Path) -> Path:
    """A 5x2 grid of 250x250 LFW photos (1250x500 JPEG): a real-face photo with ten faces."""
    from PIL import Image

    tiles = [load_image(p) for p in paths]
    rows = [np.hstack(tiles[i : i + 5]) for i in range(0, 10, 5)]
    out = directory / "lfw_montage_10.jpg"
    Image.fromarray(np.vstack(rows)).save(out, quality=95)
    return out


def measure_memory(photo: Path, *, threads: int) -> dict:
    """Peak RSS (MiB) of a fresh process per side: all models loaded, ``photo`` analysed."""
    ours = subprocess.run(
        [sys.executable, __file__, "--probe-memory", str(photo), "--threads", str(threads)],
        capture_output=True,
        text=True,
        check=True,
    )
    dlib = DlibWorker(BENCH_PYTHON)
    dlib("analyse", path=str(photo))
    dlib_rss = peak_rss_mib(dlib.pid)
    dlib.close()
    return {
        "ours_mib": json.loads(ours.stdout.splitlines()[-1])["max_rss_mib"],
        "dlib_mib": dlib_rss,
    }


def probe_memory(photo: Path) -> None:
    """Child of ``measure_memory``: load every model, analyse ``photo``, print peak RSS."""
    for getter in (loader.get_detector, loader.get_embedder):
        getter()
    for name in [*expression.NETS, "age_gender"]:
        loader.get_net(name)
    faces = our_analyse(photo)
    print(json.dumps({"max_rss_mib": peak_rss_mib(), "faces": faces}))


def run(*, repeats: int, threads: int) -> dict:
    """Every section; returns the figures (see ``bench/README.md``)."""
    from mtcnn import MTCNN

    dlib = DlibWorker(BENCH_PYTHON)
    detector, embedder = loader.get_detector(), loader.get_embedder()
    for name in [*expression.NETS, "age_gender"]:
        loader.get_net(name)
    # The other registered detectors, timed beside the product's one (context rows).
    others = {n: detectors.get(n) for n in detectors.DETECTORS if n != detector.name}
    package = MTCNN()
    report: dict = {
        "detector": detector.name,
        "reference": dlib("info"),
        "threads": {"tf_intra_op": threads, "tf_inter_op": 1, "tflite_detector": 2},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "repeats": repeats,
        "rows": {},
    }
    rows = report["rows"]

    faces = pick_lfw_faces(dlib, count=max(BATCHES))
    chips = np.stack([face[1] for face in faces])
    mirrored = np.stack([face[2] for face in faces])
    items = [[str(face[0]), face[3]] for face in faces]
    # Like with like: one chip per face through the network vs one face_encodings per face.
    # "describe" is what analyse_image spends per face (chip and mirror image, averaged).
    ours = {
        "embed": lambda idx: len(embed.embed(embedder, chips[idx])),
        "describe": lambda idx: len(analyse.describe(embedder, chips[idx], mirrored[idx])),
    }
    for key, n in [("embed", n) for n in BATCHES] + [("describe", 8)]:
        # Batch j holds faces j*n .. j*n+n-1 (wrapping): small batches see many faces. About
        # 30 faces per pass for small batches keeps dlib's share (~0.1 s/face) bounded.
        batches = [[(j * n + k) % len(faces) for k in range(n)] for j in range(max(1, 32 // n))]
        result = interleave(
            batches,
            {
                "ours": lambda idx, fn=ours[key]: timed(lambda: fn(idx)),
                "dlib": lambda idx: dlib("encode", items=[items[i] for i in idx]),
            },
            repeats=repeats,
            warm_up=1,
        )
        rows[f"{key}_{n}"] = {side: summary(t, per=n) for side, t in result.items()}

    # Expression networks: no reference (face_recognition reads none), so milliseconds per
    # face at batch 8 on the product's 112 px crops, each network alone and with its mirror
    # image (as the product runs them), and the shipped combination.
    import cv2

    crops = np.stack([cv2.resize(c, (expression.INPUT_SIZE,) * 2, interpolation=cv2.INTER_AREA)
                      for c in chips[:8]])
    readers = {f"{name}{suffix}": (lambda n=name, m=mirror: expression.scores(n, crops, mirror=m))
               for name in expression.NETS for suffix, mirror in (("", False), ("+mirror", True))}
    readers["shipped"] = lambda: expression.read(crops)
    # Age and gender, the attribute heads (pose and quality come from the landmarks and crop).
    readers["age_gender"] = lambda: age_gender.predict(loader.get_net("age_gender"), crops)
    readers["age_gender+mirror"] = lambda: age_gender.read(crops)
    report["expression_8"] = {}
    for name, read in readers.items():
        read()  # warm
        times = [timed(lambda r=read: len(r())) for _ in range(repeats * 6)]
        report["expression_8"][name] = summary(times, per=len(crops))

    photos = sorted((DATA / "nuaa-dev" / "real").glob("*.jpg"))[::20]  # 20 people/sessions
    decoded = {p: load_image(p) for p in photos}
    sides = {
        "ours": lambda p: timed(lambda: len(detector.detect(decoded[p]))),
        "dlib": lambda p: dlib("detect", path=str(p)),
        "mtcnn": lambda p: timed(lambda: len(package.detect_faces(decoded[p]))),
    }
    for name, other in others.items():
        sides[f"detector:{name}"] = lambda p, d=other: timed(lambda: len(d.detect(decoded[p])))
    result = interleave(photos, sides, repeats=repeats)
    rows["detect"] = {side: summary(t) for side, t in result.items()}
    # Some NUAA photos show a second person in the background; the 1-face end-to-end rows
    # use those where both detectors found exactly one face, so both do the same work.
    found = zip(*(result[side][: len(photos)] for side in ("ours", "dlib")), strict=True)
    single = [
        p
        for p, counts in zip(photos, found, strict=True)
        if counts[0]["faces"] == 1 == counts[1]["faces"]
    ]

    with tempfile.TemporaryDirectory() as tmp:
        montage = write_montage([face[0] for face in faces[:10]], Path(tmp))
        sets = {
            "e2e_1": single[:10],
            "e2e_10": [DATA / "widerface-dev" / "images" / p for p in GROUP_PHOTOS],
            "e2e_montage": [montage],
        }
        for name, paths in sets.items():
            result = interleave(
                paths,
                {
                    "ours": lambda p: timed(lambda: our_analyse(p)),
                    "dlib": lambda p: dlib("analyse", path=str(p)),
                },
                repeats=repeats * (10 if name == "e2e_montage" else 3 if name == "e2e_10" else 1),
            )
            rows[name] = {side: summary(t) for side, t in result.items()}
            rows[name]["photos"] = [
                str(p.relative_to(DATA)) if DATA in p.parents else p.name for p in paths
            ]
    dlib.close()

    report["memory"] = measure_memory(
        DATA / "widerface-dev" / "images" / GROUP_PHOTOS[0], threads=threads
    )
    return report


LABELS = {
    "embed_1": "embed, per face, batch 1",
    "embed_8": "embed, per face, batch 8",
    "embed_32": "embed, per face, batch 32",
    "describe_8": "  chip+mirror (analyse), b 8",
    "detect": "detect, per 640x480 photo",
    "e2e_1": "end to end, 1-face 640x480",
    "e2e_10": "end to end, WIDER (context)",
    "e2e_montage": "end to end, 10-face montage",
}


def _faces(counts: list[int], n_items: int) -> str:
    """Faces found per distinct item (first pass), e.g. '10,10,9'."""
    per_item = counts[:n_items]
    if len(set(per_item)) == 1:
        return f"{per_item[0]} each"
    return ",".join(str(c) for c in per_item)


def print_table(report: dict) -> None:
    ref = report["reference"]
    print(
        f"\nours: detector {report.get('detector', '?')}; "
        f"face_recognition {ref['face_recognition']} on dlib {ref['dlib']} (dlib-bin wheel: "
        f"BLAS {ref['blas']}, LAPACK {ref['lapack']}, AVX {ref['avx']}); "
        f"TF intra-op {report['threads']['tf_intra_op']}, inter-op 1, detector TFLite 2 threads; "
        f"{report['machine']}; repeats {report['repeats']}"
    )
    head = (
        f"{'measure':<29} {'ours ms':>8} {'(p25-p75)':>13} {'dlib ms':>8} {'(p25-p75)':>13} "
        f"{'ratio':>6} {'target':>6} {'cpu':>5} {'cores o/d':>9}  faces ours / dlib"
    )
    print(head)
    print("-" * len(head))
    for key, label in LABELS.items():
        row = report["rows"][key]
        ours, dlib = row["ours"], row["dlib"]
        n_items = len(row.get("photos", [])) or (20 if key == "detect" else 1)
        target = f"{TARGETS[key]:.2f}" if key in TARGETS else ""
        faces = (
            ""
            if key.startswith(("embed", "describe"))
            else (f"{_faces(ours['faces'], n_items)} / {_faces(dlib['faces'], n_items)}")
        )
        ratio = ours["median_ms"] / dlib["median_ms"]
        mark = "" if not target else (" ok" if ratio <= TARGETS[key] else " MISS")
        print(
            f"{label:<29} {ours['median_ms']:>8.1f} "
            f"{ours['p25_ms']:>6.1f}-{ours['p75_ms']:<6.1f} {dlib['median_ms']:>8.1f} "
            f"{dlib['p25_ms']:>6.1f}-{dlib['p75_ms']:<6.1f} {ratio:>6.2f} {target:>6} "
            f"{ours['median_cpu_ms'] / dlib['median_cpu_ms']:>5.2f} "
            f"{ours['cores']:>4.1f}/{dlib['cores']:<4.1f}  {faces}{mark}"
        )
        if key == "detect":
            context = {
                f"  {side[9:]} (registered)": side for side in row if side[:9] == "detector:"
            }
            for label, side in {**context, "  packaged mtcnn (context)": "mtcnn"}.items():
                m = row[side]
                print(
                    f"{label:<29} {m['median_ms']:>8.1f} "
                    f"{m['p25_ms']:>6.1f}-{m['p75_ms']:<6.1f} {'':>8} {'':>13} "
                    f"{m['median_ms'] / dlib['median_ms']:>6.2f} {'':>6} "
                    f"{m['median_cpu_ms'] / dlib['median_cpu_ms']:>5.2f} {m['cores']:>4.1f}      "
                    f"{_faces(m['faces'], n_items)}"
                )
    print("expression and attribute heads, per face, batch 8 (no reference):")
    for name, m in report["expression_8"].items():
        mark = ""
        if name in HEAD_TARGETS_MS:
            mark = " ok" if m["median_ms"] <= HEAD_TARGETS_MS[name] else " MISS"
            mark = f"  target {HEAD_TARGETS_MS[name]:.0f} ms{mark}"
        print(f"  {name:<27} {m['median_ms']:>8.2f} {m['p25_ms']:>6.2f}-{m['p75_ms']:<6.2f}{mark}")
    mem = report["memory"]
    print(
        f"{'peak RSS, MiB (fresh process)':<29} {mem['ours_mib']:>8.0f} {'':>13} "
        f"{mem['dlib_mib']:>8.0f} {'':>13} {mem['ours_mib'] / mem['dlib_mib']:>6.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per section")
    parser.add_argument("--threads", type=int, default=2, help="TensorFlow intra-op threads")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--probe-memory", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe_memory:  # the product's pipeline alone: LiteRT, no TensorFlow
        probe_memory(args.probe_memory)
        return
    configure_threads(args.threads)  # the packaged mtcnn, compared with, runs in TensorFlow
    if not (DATA / "nuaa-dev").is_dir():
        sys.exit(f"evaluation data not found at {DATA}: set FACEWEB_DATA_DIR")
    report = run(repeats=args.repeats, threads=args.threads)
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
