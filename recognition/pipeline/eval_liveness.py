"""Measure passive liveness (Django-free; ``manage.py evaluate_liveness`` and ``train_liveness``).

Photos go the product's way: the detector finds the faces, the largest is cropped
(``liveness.crop``) and scored. ISO/IEC 30107-3 terms: APCER, the share of attacks (spoof
photos) accepted as live; BPCER, the share of live faces refused; ACER, their mean. A photo
where no face is found refuses nothing and accepts nothing: an attack without a face is not
accepted (counted as refused), a live photo without one is refused (counted in BPCER).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from recognition.pipeline import liveness
from recognition.pipeline.image import load_image

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def photos(folder: Path) -> list[Path]:
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not found:
        raise ValueError(f"no photos in {folder}")
    return found


def largest_face_crops(paths: list[Path], detect: Callable) -> tuple[np.ndarray, np.ndarray]:
    """``(crops of the photos with a face, mask of the photos with one)``."""
    crops, found = [], np.zeros(len(paths), bool)
    for i, path in enumerate(paths):
        image = load_image(path)
        faces = detect(image)
        if faces:
            face = max(faces, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
            crops.append(liveness.crop(image, face))
            found[i] = True
    empty = np.zeros((0, liveness.CROP_SIZE, liveness.CROP_SIZE, 3), np.uint8)
    return (np.stack(crops) if crops else empty), found


def roc_auc(scores: np.ndarray, live: np.ndarray) -> float:
    """The probability that a live face outscores an attack (ties count half)."""
    pos, neg = scores[live], np.sort(scores[~live])
    if not len(pos) or not len(neg):
        return float("nan")
    below = np.searchsorted(neg, pos, "left")
    tied = np.searchsorted(neg, pos, "right") - below
    return float((below + tied / 2).mean() / len(neg))


def errors(scores: np.ndarray, live: np.ndarray, threshold: float) -> dict[str, float]:
    """APCER, BPCER, ACER at ``threshold`` (score >= threshold: live). NaN scores (no face)
    count as refused."""
    accepted = np.nan_to_num(scores, nan=-np.inf) >= threshold
    apcer = float(accepted[~live].mean()) if (~live).any() else float("nan")
    bpcer = float((~accepted[live]).mean()) if live.any() else float("nan")
    return {"apcer": apcer, "bpcer": bpcer, "acer": (apcer + bpcer) / 2}


def evaluate(*, real: Path, spoof: Path, detect: Callable, threshold: float) -> dict:
    """The shipped model on two folders of photos as taken."""
    figures: dict = {"threshold": threshold}
    all_scores, all_live, seconds, faces = [], [], 0.0, 0
    for folder, live in ((real, True), (spoof, False)):
        paths = photos(folder)
        crops, found = largest_face_crops(paths, detect)
        start = time.perf_counter()
        scored = liveness.scores(crops)
        seconds += time.perf_counter() - start
        faces += len(crops)
        scores = np.full(len(paths), np.nan, np.float32)
        scores[found] = scored
        all_scores.append(scores)
        all_live.append(np.full(len(paths), live))
        figures["real" if live else "spoof"] = {"photos": len(paths),
                                                "no_face": int((~found).sum())}
    scores, live = np.concatenate(all_scores), np.concatenate(all_live)
    figures |= errors(scores, live, threshold)
    with_face = ~np.isnan(scores)
    figures["roc_auc"] = roc_auc(scores[with_face], live[with_face])
    figures["ms_per_face"] = 1000 * seconds / max(faces, 1)
    return figures
