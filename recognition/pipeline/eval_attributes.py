"""Evaluate the age and gender estimates (Django-free; ``manage.py evaluate_attributes``).

Each photo goes the product's way: the detector finds the faces, the one nearest the photo's
centre is cropped as the product crops it (``expression.crop_for_expression``), and
``age_gender.read`` estimates age and gender (each face and its mirror image).

- UTKFace (``labels.tsv``: ``file``, ``age``, ``gender``): the files are face crops already;
  where the detector finds no face, the whole file stands for the crop (counted in
  ``no_face``). Age mean absolute error overall and per decade of true age, with the mean
  signed error (> 0: estimates too old); gender accuracy.
- LFW (``gender.tsv``: ``image``, ``gender``): raw 250x250 photos, end to end; a photo where
  no face is found counts as wrong.
"""

from __future__ import annotations

import csv
import random
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from recognition.pipeline import age_gender, expression
from recognition.pipeline.image import load_image
from recognition.pipeline.types import Detection

_BATCH = 32


def read_labels(path: Path, *, key: str, limit: int | None = None) -> list[dict]:
    """Rows of a TSV with a header (``key`` names the file column), in file order; ``limit``
    keeps a seeded random sample (the same on every run)."""
    with path.open(newline="") as f:
        rows = [row for row in csv.DictReader(f, delimiter="\t") if row.get(key)]
    if not rows:
        raise ValueError(f"no labelled rows in {path}")
    if limit is not None and limit < len(rows):
        rows = [rows[i] for i in sorted(random.Random(0).sample(range(len(rows)), limit))]
    return rows


def central(detections: list[Detection], *, width: int, height: int) -> Detection | None:
    """The detection nearest the image centre (the labelled face), or None."""
    def off_centre(d: Detection) -> float:
        x1, y1, x2, y2 = d.box
        return float(np.hypot((x1 + x2 - width) / 2, (y1 + y2 - height) / 2))

    return min(detections, key=off_centre, default=None)


def _estimates(paths: list[Path], detect, *, whole_if_none: bool) -> tuple[np.ndarray, int, float]:
    """``(rows [age, p(male), p(female)] or NaN where no face, no_face, ms per face)``."""
    crops, at, no_face = [], [], 0
    for i, path in enumerate(paths):
        image = load_image(path)
        face = central(detect(image), width=image.shape[1], height=image.shape[0])
        if face is None:
            no_face += 1
            if not whole_if_none:
                continue
            size = (expression.INPUT_SIZE,) * 2
            crops.append(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
        else:
            crops.append(expression.crop_for_expression(image, face))
        at.append(i)
    rows = np.full((len(paths), 3), np.nan, np.float32)
    seconds = 0.0
    for start in range(0, len(crops), _BATCH):
        tic = time.perf_counter()
        rows[at[start : start + _BATCH]] = age_gender.read(np.stack(crops[start : start + _BATCH]))
        seconds += time.perf_counter() - tic
    return rows, no_face, 1000 * seconds / max(1, len(crops))


def evaluate_utkface(*, images: Path, labels: Path, detect: Callable, limit: int | None = None
                     ) -> dict:
    rows = read_labels(labels, key="file", limit=limit)
    out, no_face, ms = _estimates([images / r["file"] for r in rows], detect, whole_if_none=True)
    ages = np.array([float(r["age"]) for r in rows])
    male = np.array([r["gender"] == "male" for r in rows])
    error = out[:, 0] - ages
    decades = {}
    for low in range(0, 100, 10):
        picked = (ages >= low) & (ages < low + 10) if low < 90 else ages >= low
        if picked.any():
            decades[f"{low}-{low + 9}" if low < 90 else "90+"] = {
                "faces": int(picked.sum()), "mae": float(np.abs(error[picked]).mean()),
                "bias": float(error[picked].mean())}
    return {
        "faces": len(rows), "no_face": no_face, "age_mae": float(np.abs(error).mean()),
        "age_bias": float(error.mean()), "age_mae_by_decade": decades,
        "gender_accuracy": float(np.mean((out[:, 1] >= 0.5) == male)),
        "ms_per_face": ms,
    }


def evaluate_lfw_gender(*, images: Path, labels: Path, detect: Callable,
                        limit: int | None = None) -> dict:
    rows = read_labels(labels, key="image", limit=limit)
    out, no_face, _ = _estimates([images / r["image"] for r in rows], detect,
                                 whole_if_none=False)
    male = np.array([r["gender"] == "male" for r in rows])
    found = ~np.isnan(out[:, 1])
    right = found & ((out[:, 1] >= 0.5) == male)
    return {
        "photos": len(rows), "no_face": no_face, "lfw_gender_accuracy": float(right.mean()),
        "lfw_gender_accuracy_on_found": float(right[found].mean()) if found.any() else None,
        "lfw_female_share": float(1 - male.mean()),
        "lfw_female_recall": float(right[~male].mean()) if (~male).any() else None,
        "lfw_male_recall": float(right[male].mean()) if male.any() else None,
    }
