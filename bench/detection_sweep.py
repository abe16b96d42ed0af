"""Tune a detector on WIDER-format ground truth: recall and false positives for each search
size and score threshold, each size run once (the thresholds filter its detections).

    .venv/bin/python bench/detection_sweep.py --detector retinaface \\
        [--max-side 640,1024] [--upscale 1,1.5] [--thresholds 0.5,0.7,0.9] [--json OUT]

Defaults: ``../shared/data/widerface-dev-restored`` (tune on the dev half only, never on the
held-out one), easy faces at IoU >= 0.4 as ``manage.py evaluate_detection`` counts them. A
row's figures equal that command's with the same ``--score-threshold``, ``--max-side`` and
``--upscale`` (greedy suppression keeps the same boxes above a threshold whichever threshold
it ran at); ``ms`` is the median detector time per image at that size, decoding excluded.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recognition.pipeline import detectors, eval_detection
from recognition.pipeline.image import load_image

WIDER = ROOT.parent / "shared" / "data" / "widerface-dev-restored"


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detector", default=detectors.default_name(), choices=detectors.DETECTORS)
    parser.add_argument("--data", type=Path, default=WIDER)
    parser.add_argument("--max-side", type=floats, default=[10000.0])
    parser.add_argument("--upscale", type=floats, default=[1.0])
    parser.add_argument("--thresholds", type=floats, default=[0.5, 0.7, 0.8, 0.9, 0.95])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    truth = eval_detection.read_ground_truth(
        gt=args.data / "gt.txt", difficulty=args.data / "difficulty_gt_indices.txt"
    )
    images = {t.path: load_image(args.data / "images" / t.path) for t in truth}
    detector = detectors.get(args.detector)
    lowest = min(args.thresholds)
    rows = []
    for max_side in args.max_side:
        for upscale in args.upscale:
            sizing = {"max_side": int(max_side)}
            if upscale != 1.0:
                sizing["upscale"] = upscale
            found, times = {}, []
            for path, image in images.items():
                start = time.perf_counter()
                found[path] = detector.detect(image, score_threshold=lowest, **sizing)
                times.append((time.perf_counter() - start) * 1000)
            for threshold in args.thresholds:
                paths = iter(t.path for t in truth)  # evaluate visits images in this order
                figures = eval_detection.evaluate(
                    detector=lambda image, found=found, paths=paths, t=threshold: [
                        d for d in found[next(paths)] if d.score >= t
                    ],
                    images_dir=args.data / "images",
                    ground_truth=truth,
                )
                figures |= {"score_threshold": threshold, **sizing, "upscale": upscale}
                figures["median_ms"] = float(np.median(times))
                rows.append(figures)
                print(
                    f"{args.detector:10s} max_side {int(max_side):>5d} upscale {upscale:>4g} "
                    f"score {threshold:<5g} easy {figures['recall_easy']:.1%} "
                    f">=40px {figures['recall_large']:.1%} "
                    f"FP/image {figures['false_positives_per_image']:.2f} "
                    f"{figures['median_ms']:.0f} ms",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
