"""Would face-api's SSD MobileNetV1 (alone, or with our MTCNN) find more WIDER dev faces?

    .venv/bin/python bench/ssd_wider.py [--data ../shared/data/widerface-dev] \\
        [--min-score 0.05] [--ssd-json FILE]

Runs face-api itself (bench/face_api_ssd.mjs, TF.js "cpu" backend: ~3-12 s per image, so
~20 minutes for the 100 images at --min-score 0.05) unless ``--ssd-json`` names that script's
output from an earlier run, then our MTCNN (recognition.pipeline.detectors.mtcnn, score >= 0.5), and
prints easy / >= 40 px recall and false positives per image with the project's matcher
(eval_detection.match, IoU >= 0.4) for SSD alone at several score thresholds and for the
union of MTCNN and SSD boxes (MTCNN boxes win overlaps; NMS at IoU 0.4), and for SSD boxes
re-scored by MTCNN's O-Net (which would give them landmarks).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recognition.pipeline.detectors import mtcnn as detect
from recognition.pipeline.eval_detection import _iou, match, read_ground_truth
from recognition.pipeline.image import load_image

Boxes = dict[str, tuple[np.ndarray, np.ndarray]]  # image path -> (boxes (N, 4) x1y1x2y2, scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=REPO / ".." / "shared" / "data" / "widerface-dev"
    )
    parser.add_argument("--min-score", type=float, default=0.05)
    parser.add_argument("--ssd-json", type=Path)
    args = parser.parse_args()
    truth = read_ground_truth(
        gt=args.data / "gt_416x416.txt", difficulty=args.data / "difficulty_gt_indices.txt"
    )
    images = {t.path: load_image(args.data / "images" / t.path) for t in truth}

    ssd = _read(json.loads((args.ssd_json or _run_face_api(images, args.min_score)).read_text()))
    model = detect.load_detector()
    mtcnn = {}
    for path, image in images.items():
        found = detect.detect(model, image, score_threshold=0.5)
        mtcnn[path] = (
            np.array([d.box for d in found]).reshape(-1, 4),
            np.array([d.score for d in found]),
        )

    def report(label: str, boxes: Boxes) -> None:
        found_easy = found_large = total_easy = total_large = false_positives = 0
        for t in truth:
            matched, unmatched = match(boxes[t.path][0], t.boxes, iou=0.4)
            sides = t.boxes[:, 2:] - t.boxes[:, :2]
            large = (sides.min(axis=1) >= 40) & ~t.invalid
            found_easy += matched[t.easy].sum()
            total_easy += t.easy.sum()
            found_large += matched[large].sum()
            total_large += large.sum()
            false_positives += unmatched
        print(
            f"{label:28s} easy {found_easy}/{total_easy} = {found_easy / total_easy:.3f}  "
            f">=40px {found_large}/{total_large} = {found_large / total_large:.3f}  "
            f"FP/image {false_positives / len(truth):.2f}"
        )

    for threshold in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        if threshold >= args.min_score:
            report(f"SSD >= {threshold}", _above(ssd, threshold))
    for threshold in (0.8, 0.9):
        report(f"MTCNN >= {threshold}", _above(mtcnn, threshold))
    for ssd_threshold in (0.2, 0.3, 0.4, 0.5):
        if ssd_threshold >= args.min_score:
            union = _union(_above(mtcnn, 0.9), _above(ssd, ssd_threshold))
            report(f"MTCNN >= 0.9 U SSD >= {ssd_threshold}", union)
    # SSD boxes checked (and refined) by O-Net, which would give them landmarks.
    checked = {path: _onet(model, images[path], *found) for path, found in _above(ssd, 0.1).items()}
    for threshold in (0.5, 0.7, 0.9):
        report(f"SSD >= 0.1, O-Net >= {threshold}", _above(checked, threshold))


def _run_face_api(images: dict[str, np.ndarray], min_score: float) -> Path:
    work = Path(tempfile.mkdtemp(prefix="faceweb-ssd-"))
    meta = [{"name": p, "height": im.shape[0], "width": im.shape[1]} for p, im in images.items()]
    (work / "images.json").write_text(json.dumps(meta))
    (work / "pixels.u8").write_bytes(
        b"".join(np.ascontiguousarray(im).tobytes() for im in images.values())
    )
    subprocess.run(
        ["node", str(REPO / "bench" / "face_api_ssd.mjs"), str(work), str(min_score)], check=True
    )
    print(f"face-api output kept in {work / 'ssd.json'}")
    return work / "ssd.json"


def _onet(
    model: detect.MtcnnDetector, image: np.ndarray, boxes: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """O-Net on square crops around ``boxes`` -> (refined boxes, O-Net face probability), NMS'd."""
    if not len(boxes):
        return boxes, scores
    square = detect._square(boxes)
    offsets, _, prob = detect._run_on_crops(model.onet, image.astype(np.float32), square, size=48)
    refined = detect._apply_offsets(square, offsets)
    keep = detect._nms(refined, prob, detect.ONET_NMS, over_smaller=True)
    return refined[keep], prob[keep]


def _read(ssd: dict) -> Boxes:
    return {
        r["name"]: (np.array(r["boxes"], np.float64).reshape(-1, 4), np.array(r["scores"]))
        for r in ssd["images"]
    }


def _above(boxes: Boxes, threshold: float) -> Boxes:
    return {path: (b[s >= threshold], s[s >= threshold]) for path, (b, s) in boxes.items()}


def _union(first: Boxes, second: Boxes, *, overlap: float = 0.4) -> Boxes:
    """Per image, ``first``'s boxes plus those of ``second`` overlapping none of them by more
    than ``overlap`` (IoU) or each other (greedy, best score first); scores are not comparable
    across detectors, so every ``first`` box ranks above every ``second`` box."""
    out = {}
    for path, (boxes, scores) in first.items():
        kept, kept_scores = list(boxes), list(scores + 1.0)
        extra, extra_scores = second[path]
        for i in np.argsort(-extra_scores, kind="stable"):
            if not kept or _iou(extra[i], np.array(kept)).max() <= overlap:
                kept.append(extra[i])
                kept_scores.append(extra_scores[i])
        out[path] = (np.array(kept).reshape(-1, 4), np.array(kept_scores))
    return out


if __name__ == "__main__":
    main()
