"""Evaluate a face detector on WIDER FACE-style ground truth (Django-free).

Ground truth: the WIDER ``wider_face_val_bbx_gt.txt`` layout (image path, face count, then
one ``x1 y1 w h blur expression illumination invalid occlusion pose`` line per face) and,
optionally, a difficulty file with one line per image:
``path<TAB>easy=1,2<TAB>medium=...<TAB>hard=...`` (1-based face indices).

Detections are matched one-to-one to ground-truth faces, best score first, each to the
unmatched face it overlaps most if the IoU reaches ``iou``. Recall counts matched faces;
a detection that matches no face at all (of any size or difficulty) is a false positive.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recognition.pipeline.image import load_image
from recognition.pipeline.types import Detection

Detector = Callable[[np.ndarray], list[Detection]]


@dataclass(frozen=True)
class GroundTruth:
    """The faces of one image: ``boxes`` (N, 4) x1y1x2y2 float, flags per face."""

    path: str
    boxes: np.ndarray
    invalid: np.ndarray  # (N,) bool: WIDER marks these to be ignored
    easy: np.ndarray | None  # (N,) bool, None when no difficulty file was given


def read_ground_truth(*, gt: Path, difficulty: Path | None = None) -> list[GroundTruth]:
    """Parse the ground-truth (and difficulty) files; raises ValueError when malformed."""
    easy_sets: dict[str, set[int]] = {}
    if difficulty is not None:
        for line in difficulty.read_text().splitlines():
            if not line.strip():
                continue
            path, *fields = line.split("\t")
            lists = dict(field.split("=", 1) for field in fields)
            easy_sets[path] = {int(i) - 1 for i in lists.get("easy", "").split(",") if i}

    lines = [line.strip() for line in gt.read_text().splitlines() if line.strip()]
    images, at = [], 0
    while at < len(lines):
        path, count = lines[at], lines[at + 1]
        if not count.isdigit():
            raise ValueError(f"{gt}: expected a face count after {path!r}, got {count!r}")
        rows = [line.split() for line in lines[at + 2 : at + 2 + int(count)]]
        at += 2 + int(count)
        if int(count) == 0 and at < len(lines) and len(lines[at].split()) == 10:
            at += 1  # WIDER writes one all-zero row for an image without faces
        values = np.array(rows, dtype=np.float64).reshape(-1, 10)
        boxes = np.concatenate([values[:, :2], values[:, :2] + values[:, 2:4]], axis=1)
        easy = None
        if difficulty is not None:
            if path not in easy_sets:
                raise ValueError(f"{difficulty} has no line for {path}")
            easy = np.isin(np.arange(len(boxes)), sorted(easy_sets[path]))
        images.append(GroundTruth(path, boxes, values[:, 7] > 0, easy))
    return images


def match(detections: np.ndarray, faces: np.ndarray, *, iou: float) -> tuple[np.ndarray, int]:
    """Match detections (M, 4), best first, to faces (N, 4) -> (face matched (N,), unmatched)."""
    matched = np.zeros(len(faces), bool)
    unmatched = 0
    for box in detections:
        overlaps = _iou(box, faces)
        overlaps[matched] = -1.0
        best = int(np.argmax(overlaps)) if len(faces) else -1
        if best >= 0 and overlaps[best] >= iou:
            matched[best] = True
        else:
            unmatched += 1
    return matched, unmatched


def evaluate(
    *,
    detector: Detector,
    images_dir: Path,
    ground_truth: list[GroundTruth],
    iou: float = 0.4,
    min_size: float = 40.0,
) -> dict:
    """Run ``detector`` on every image and return the figures (JSON-friendly dict).

    ``recall_easy``: share of the difficulty file's easy faces found (None without it);
    ``recall_large``: share of valid faces whose box is at least ``min_size`` pixels wide
    and high; ``false_positives_per_image``; ``median_ms``: detector time per image
    (decoding excluded).
    """
    found_easy = total_easy = found_large = total_large = false_positives = 0
    times = []
    for truth in ground_truth:
        image = load_image(images_dir / truth.path)
        start = time.perf_counter()
        detections = detector(image)
        times.append((time.perf_counter() - start) * 1000)
        boxes = np.array([d.box for d in detections], dtype=np.float64).reshape(-1, 4)
        matched, unmatched = match(boxes, truth.boxes, iou=iou)
        false_positives += unmatched
        sides = truth.boxes[:, 2:] - truth.boxes[:, :2]
        large = (sides.min(axis=1) >= min_size) & ~truth.invalid
        found_large += int(matched[large].sum())
        total_large += int(large.sum())
        if truth.easy is not None:
            found_easy += int(matched[truth.easy].sum())
            total_easy += int(truth.easy.sum())
    images = len(ground_truth)
    return {
        "images": images,
        "iou": iou,
        "min_size": min_size,
        "easy_faces": total_easy,
        "recall_easy": found_easy / total_easy if total_easy else None,
        "large_faces": total_large,
        "recall_large": found_large / total_large if total_large else None,
        "false_positives": false_positives,
        "false_positives_per_image": false_positives / images if images else None,
        "median_ms": float(np.median(times)) if times else None,
    }


def package_detector(**options) -> Detector:
    """The packaged ``mtcnn`` (PyPI 1.0.0) as a Detector, for comparison.

    ``options`` go to its ``detect_faces`` (e.g. ``threshold_onet``). Slow: eager calls.
    """
    from mtcnn import MTCNN

    model = MTCNN()
    names = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

    def run(image: np.ndarray) -> list[Detection]:
        faces = model.detect_faces(image, box_format="xyxy", **options)
        return [
            Detection(
                box=tuple(float(v) for v in face["box"]),
                landmarks=np.array([face["keypoints"][n] for n in names], np.float32),
                score=float(face["confidence"]),
            )
            for face in faces
        ]

    return run


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    width = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    height = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = width * height
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)
