"""Detection time per photo: each faceweb detector vs dlib HOG (upsample 1) vs the packaged mtcnn.

    .venv/bin/python bench/detect_speed.py --images '../shared/data/nuaa-dev/real/*.jpg' \\
        [--limit 100] [--detectors mtcnn,retinaface] [--bench-python .bench-venv/bin/python] \\
        [--no-package] [--json OUT]

dlib runs as ``face_recognition.face_locations(img, number_of_times_to_upsample=1,
model="hog")`` in a persistent subprocess of the benchmark virtualenv (``dlib-bin`` +
``face_recognition``, see ../shared/MODELS.md). Each photo is timed by all detectors one
after the other before moving to the next photo, so machine noise hits them alike; the
ratio reported per detector is the median over photos of (ours / dlib) and the ratio of the
medians. Only the detector call is timed (decoding is excluded, for all). Our detectors run
with the product's defaults (``detectors.get(name).detect(image)``).
"""

from __future__ import annotations

import argparse
import glob
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recognition.pipeline import detectors
from recognition.pipeline.image import load_image

# Runs in the benchmark virtualenv: read a path per line, answer with the HOG time.
DLIB_WORKER = """
import json, sys, time
import face_recognition
for line in sys.stdin:
    image = face_recognition.load_image_file(line.strip())
    start = time.perf_counter()
    faces = face_recognition.face_locations(image, number_of_times_to_upsample=1, model="hog")
    ms = (time.perf_counter() - start) * 1000
    print(json.dumps({"ms": ms, "faces": len(faces)}), flush=True)
"""


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return (time.perf_counter() - start) * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=str(REPO / "../shared/data/nuaa-dev/real/*.jpg"))
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument(
        "--detectors",
        default=",".join(detectors.DETECTORS),
        help="comma-separated registered detectors (default: all)",
    )
    parser.add_argument("--bench-python", default=str(REPO / ".bench-venv/bin/python"))
    parser.add_argument("--no-package", action="store_true", help="skip the packaged mtcnn")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()

    paths = sorted(glob.glob(args.images))[: args.limit]
    if not paths:
        sys.exit(f"no images match {args.images}")
    dlib = subprocess.Popen(
        [args.bench_python, "-c", DLIB_WORKER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    ours = {name: detectors.get(name) for name in args.detectors.split(",")}
    package = None
    if not args.no_package:
        from mtcnn import MTCNN

        package = MTCNN()

    def run_dlib(path: str) -> dict:
        dlib.stdin.write(path + "\n")
        dlib.stdin.flush()
        return json.loads(dlib.stdout.readline())

    # Warm up every detector on the first photo (tracing, allocation, page faults).
    warm = load_image(paths[0])
    run_dlib(paths[0])
    for detector in ours.values():
        detector.detect(warm)
    if package:
        package.detect_faces(warm)

    rows = []
    for path in paths:
        image = load_image(path)
        row = {"path": path, "size": f"{image.shape[1]}x{image.shape[0]}"}
        answer = run_dlib(path)
        row["dlib_ms"], row["dlib_faces"] = answer["ms"], answer["faces"]
        for name, detector in ours.items():
            row[f"{name}_ms"], faces = timed(detector.detect, image)
            row[f"{name}_faces"] = len(faces)
        if package:
            row["package_ms"], faces = timed(package.detect_faces, image)
            row["package_faces"] = len(faces)
        rows.append(row)
    dlib.stdin.close()
    dlib.wait()

    def median(key: str) -> float:
        return float(np.median([r[key] for r in rows]))

    summary = {
        "images": len(rows),
        "sizes": sorted({r["size"] for r in rows}),
        "dlib_hog_ms": median("dlib_ms"),
        # Faces found in all, so a faster detector is not simply one that finds less.
        "faces_dlib": sum(r["dlib_faces"] for r in rows),
    }
    for name in ours:
        summary[f"{name}_ms"] = median(f"{name}_ms")
        summary[f"{name}_over_dlib_median_of_ratios"] = float(
            np.median([r[f"{name}_ms"] / r["dlib_ms"] for r in rows])
        )
        summary[f"{name}_over_dlib_ratio_of_medians"] = median(f"{name}_ms") / median("dlib_ms")
        summary[f"faces_{name}"] = sum(r[f"{name}_faces"] for r in rows)
    if package:
        summary["package_ms"] = median("package_ms")
        summary["faces_package"] = sum(r["package_faces"] for r in rows)
        summary["package_over_dlib"] = float(
            np.median([r["package_ms"] / r["dlib_ms"] for r in rows])
        )
    for key, value in summary.items():
        print(f"{key:34s} {value:.3f}" if isinstance(value, float) else f"{key:34s} {value}")
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
