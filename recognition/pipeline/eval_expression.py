"""Evaluate the expression model on a folder of labelled face images (Django-free).

The folder holds one sub-folder per class. Sub-folder names are the model's class names
(``types.EXPRESSIONS``) or FER2013's (``fear``, ``disgust``, ``surprise``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from recognition.pipeline import expression
from recognition.pipeline.types import EXPRESSIONS, Detection

FOLDER_LABELS: dict[str, str] = {name: name for name in EXPRESSIONS} | {
    "fear": "fearful",
    "disgust": "disgusted",
    "surprise": "surprised",
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
_BATCH = 64


def labelled_images(*, root: Path, limit: int | None = None) -> list[tuple[Path, int]]:
    """``(path, index into EXPRESSIONS)`` for every image under ``root/<label>/``, sorted.

    ``limit`` keeps a seeded random sample of that many (the same one on every run), so a
    quick run still covers all classes. Raises ValueError on an unknown folder name.
    """
    items = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name not in FOLDER_LABELS:
            raise ValueError(f"unknown expression folder {folder.name!r} in {root}")
        label = EXPRESSIONS.index(FOLDER_LABELS[folder.name])
        items += [
            (path, label)
            for path in sorted(folder.iterdir())
            if path.suffix.lower() in IMAGE_SUFFIXES
        ]
    if not items:
        raise ValueError(f"no labelled images under {root}")
    if limit is not None and limit < len(items):
        items = sorted(random.Random(0).sample(items, limit))
    return items


def read_rgb(path: Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB (grayscale is repeated over the channels)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def summarise(*, truth: np.ndarray, predicted: np.ndarray) -> dict:
    """Accuracy, per-class recall and the confusion matrix (rows true, columns predicted).

    ``truth``, ``predicted``: (N,) class indices into EXPRESSIONS; ``predicted`` may hold -1
    for "no prediction" (e.g. no face found), which counts as wrong.
    """
    n = len(EXPRESSIONS)
    confusion = np.zeros((n, n), dtype=int)
    found = predicted >= 0
    np.add.at(confusion, (truth[found], predicted[found]), 1)
    support = np.bincount(truth, minlength=n)
    recall = {
        name: (float(confusion[i, i] / support[i]) if support[i] else None)
        for i, name in enumerate(EXPRESSIONS)
    }
    return {
        "images": len(truth),
        "accuracy": float(np.mean(truth == predicted)) if len(truth) else None,
        "per_class_recall": recall,
        "support": {name: int(support[i]) for i, name in enumerate(EXPRESSIONS)},
        "labels": list(EXPRESSIONS),
        "confusion": confusion.tolist(),
    }


def face_crops(
    items: list[tuple[Path, int]],
    detect: Callable[[np.ndarray], list[Detection]] | None = None,
) -> tuple[list[np.ndarray], list[int]]:
    """The face crop of each image, and the indices of the images that have one: without
    ``detect`` each whole image is one face crop (FER2013's files are already face crops); with
    ``detect`` (an RGB image -> detections function) the best-scoring face is cropped with
    ``expression.crop_for_expression``, and an image without a face has none."""
    crops: list[np.ndarray] = []
    has_face: list[int] = []
    for i, (path, _) in enumerate(items):
        image = read_rgb(path)
        if detect is not None:
            faces = detect(image)
            if not faces:
                continue
            image = expression.crop_for_expression(image, max(faces, key=lambda d: d.score))
        crops.append(image)
        has_face.append(i)
    return crops, has_face


def evaluate(
    *,
    items: list[tuple[Path, int]],
    read: Callable[[np.ndarray], np.ndarray] | None = None,
    detect: Callable[[np.ndarray], list[Detection]] | None = None,
    crops: tuple[list[np.ndarray], list[int]] | None = None,
) -> dict:
    """Read the expressions of labelled images and summarise.

    ``read``: square ``(N, S, S, 3)`` uint8 RGB face crops to ``(N, 7)`` probabilities
    (default: the product's, ``expression.read``). The crops are :func:`face_crops` of
    ``items`` with ``detect``, or ``crops`` made that way before (to read them with several
    networks). Images with no face count as wrong and are reported as ``no_face``;
    ``accuracy_on_found`` leaves them out. Timing covers reading only.
    """
    read = read or expression.read
    crops, has_face = crops or face_crops(items, detect)
    truth = np.array([label for _, label in items])
    predicted = np.full(len(items), -1)
    seconds = 0.0
    for start in range(0, len(crops), _BATCH):
        batch = crops[start : start + _BATCH]
        tic = time.perf_counter()
        if len({crop.shape for crop in batch}) == 1:
            probs = read(np.stack(batch))
        else:  # files of different sizes: one at a time
            probs = np.concatenate([read(crop[None]) for crop in batch])
        seconds += time.perf_counter() - tic
        predicted[has_face[start : start + len(batch)]] = probs.argmax(axis=1)

    summary = summarise(truth=truth, predicted=predicted)
    summary["no_face"] = len(items) - len(crops)
    found = predicted >= 0
    summary["accuracy_on_found"] = (
        float(np.mean(truth[found] == predicted[found])) if crops else None
    )
    summary["ms_per_face"] = 1000 * seconds / max(1, len(crops))
    return summary
