"""LFW face verification, end to end from the raw photos (Django-free; used by ``evaluate_lfw``).

Protocol: a standard ``pairs.txt`` (first line ``folds<TAB>n``; then per fold ``n`` same-person
lines ``name n1 n2`` and ``n`` different-person lines ``name1 n1 name2 n2``). Every photo is
detected, aligned and described once (photos repeat across pairs); a pair's score is the
Euclidean distance between the two descriptors; "same" means distance at most a threshold
(``matching.distance`` and ``matching.is_match``, as in the app).

Which face: an LFW photo is cropped around its labelled face, so of the detections the one
whose box centre is nearest the image centre is taken. When the detector finds nothing, the
face is assumed where LFW puts it: :data:`LFW_FALLBACK_LANDMARKS`, the median landmarks of
the faces our detector finds on LFW dev's 250x250 photos (scaled to the photo's size). Both
cases are counted in the report.

Figures:
- k-fold accuracy (k = folds in the file): for each fold, the threshold that maximises
  accuracy on the other folds is applied to it; mean and sample standard deviation (ddof=1)
  over folds.
- best global threshold: the one maximising accuracy over all pairs (optimistic by design; it
  is what ``spec.DEFAULT_THRESHOLD`` is calibrated from).
- TAR at FAR=0.1%: the largest threshold at which at most 0.1% of all different-person pairs
  are accepted (rounded down to whole pairs: 1 of 1,500 on lfw-dev), and the share of
  same-person pairs accepted there. Coarse with so few impostor pairs; read it as a rough
  operating point.
- ROC AUC: the probability that a random same pair is closer than a random different pair.

Measured on LFW dev (``python manage.py evaluate_lfw --pairs ../shared/data/lfw-dev/pairs-dev.txt
--images ../shared/data/lfw-dev/images``; 3,000 pairs, 3,811 photos): 5-fold accuracy
99.27% ± 0.25%, best global threshold 0.420 (99.30%), TAR 97.40% at FAR 0.1%, AUC 0.99958;
2 photos fell back to the median landmarks, 531 had several faces. How the descriptor was
chosen, on the same detections (5-fold accuracy / AUC): one chip, raw 98.70% / 0.99902; one
chip, unit length 98.83% / 0.99932; mean of chip and mirrored chip, raw 99.10% / 0.99937;
that mean at unit length (what ``analyse`` does) 99.27% / 0.99958. Alignment choices:
``align``'s docstring.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recognition.pipeline import matching
from recognition.pipeline.types import Detection

# Median detector landmarks over LFW dev's 250x250 photos (left eye, right eye, nose, mouth
# left, mouth right), used only when no face is detected.
LFW_SIZE = 250
LFW_FALLBACK_LANDMARKS = np.array(
    [[105.0, 112.5], [146.0, 112.0], [125.5, 136.5], [107.5, 157.0], [144.0, 156.5]],
    dtype=np.float32,
)

ImageKey = tuple[str, int]  # (person name, image number)


@dataclass(frozen=True)
class Pair:
    fold: int  # 0-based
    first: ImageKey
    second: ImageKey
    same: bool


def read_pairs(path: Path) -> tuple[int, list[Pair]]:
    """Parse a standard LFW ``pairs.txt`` -> (number of folds, pairs in file order).

    Raises ValueError on anything that is not that format.
    """
    lines = [line.split() for line in Path(path).read_text().splitlines() if line.strip()]
    if not lines or len(lines[0]) != 2:
        raise ValueError(f"{path}: first line must be '<folds> <pairs per half-fold>'")
    folds, per_half = (int(v) for v in lines[0])
    body = lines[1:]
    if len(body) != folds * 2 * per_half:
        raise ValueError(f"{path}: expected {folds * 2 * per_half} pair lines, got {len(body)}")
    pairs = []
    for i, parts in enumerate(body):
        fold, same = i // (2 * per_half), (i % (2 * per_half)) < per_half
        if same and len(parts) == 3:
            pairs.append(Pair(fold, (parts[0], int(parts[1])), (parts[0], int(parts[2])), True))
        elif not same and len(parts) == 4:
            pairs.append(Pair(fold, (parts[0], int(parts[1])), (parts[2], int(parts[3])), False))
        else:
            raise ValueError(f"{path}: line {i + 2} {' '.join(parts)!r} is not a valid pair")
    return folds, pairs


def image_path(images: Path, key: ImageKey) -> Path:
    """LFW's layout: ``<images>/<Name>/<Name>_<NNNN>.jpg``."""
    name, number = key
    return Path(images) / name / f"{name}_{number:04d}.jpg"


def pick_face(detections: list[Detection], *, width: int, height: int) -> tuple[np.ndarray, str]:
    """Landmarks of the labelled face in an LFW photo, and how they were found.

    Returns ``((5, 2) float32, "detected" | "several" | "fallback")``: the detection nearest the
    image centre ("several" when there was more than one), or the fallback (module doc).
    """
    if not detections:
        scale = np.array([width, height], np.float32) / LFW_SIZE
        return LFW_FALLBACK_LANDMARKS * scale, "fallback"
    centre = np.array([width, height]) / 2

    def off_centre(d: Detection) -> float:
        x1, y1, x2, y2 = d.box
        return float(np.hypot((x1 + x2) / 2 - centre[0], (y1 + y2) / 2 - centre[1]))

    best = min(detections, key=off_centre)
    return best.landmarks, "detected" if len(detections) == 1 else "several"


def describe_images(
    keys: Iterable[ImageKey],
    *,
    images: Path,
    load: Callable[[Path], np.ndarray],
    detect: Callable[[np.ndarray], list[Detection]],
    describe: Callable[[np.ndarray, list[np.ndarray]], tuple[np.ndarray, dict[str, float]]],
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[ImageKey, np.ndarray], dict[str, int], dict[str, float]]:
    """Descriptor of the labelled face of every photo, once per photo.

    ``load(path) -> (H, W, 3) uint8 RGB``; ``detect(image) -> detections``;
    ``describe(image, [landmarks]) -> ((1, 128) float32, {stage: ms})``. Returns
    (descriptors by key, counts of how the face was found, median ms per image by stage).
    """
    keys = sorted(set(keys))
    descriptors: dict[ImageKey, np.ndarray] = {}
    counts = {"detected": 0, "several": 0, "fallback": 0}
    timings: dict[str, list[float]] = {"detect": []}
    for i, key in enumerate(keys):
        image = load(image_path(images, key))
        start = time.perf_counter()
        detections = detect(image)
        timings["detect"].append((time.perf_counter() - start) * 1000)
        landmarks, how = pick_face(detections, width=image.shape[1], height=image.shape[0])
        counts[how] += 1
        vectors, stage_ms = describe(image, [landmarks])
        for stage, ms in stage_ms.items():
            timings.setdefault(stage, []).append(ms)
        descriptors[key] = vectors[0]
        if progress is not None:
            progress(i + 1, len(keys))
    return descriptors, counts, {stage: float(np.median(v)) for stage, v in timings.items()}


def pair_distances(
    pairs: list[Pair], descriptors: dict[ImageKey, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distances (P,) float64, same (P,) bool, fold (P,) int) for the pairs."""
    distances = np.array([matching.distance(descriptors[p.first], descriptors[p.second])
                          for p in pairs])
    return distances, np.array([p.same for p in pairs]), np.array([p.fold for p in pairs])


def best_threshold(distances: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """(threshold, accuracy) maximising accuracy of ``is_match(distance, threshold)`` == ``same``.

    Candidates are midpoints between consecutive sorted distances; among equally good ones
    the middle of the best run is taken, so the choice does not hug one pair.
    """
    order = np.argsort(distances, kind="stable")
    d, s = distances[order], same[order]
    # Accepting the first i pairs: correct = same among them + different among the rest.
    correct = np.concatenate([[0], np.cumsum(s)]) + np.concatenate(
        [[(~s).sum()], (~s).sum() - np.cumsum(~s)]
    )
    candidates = np.concatenate([[d[0] - 1e-6], (d[1:] + d[:-1]) / 2, [d[-1] + 1e-6]])
    best = np.flatnonzero(correct == correct.max())
    return float(candidates[best[len(best) // 2]]), float(correct.max() / len(d))


def kfold_accuracy(
    distances: np.ndarray, same: np.ndarray, folds: np.ndarray
) -> tuple[list[float], list[float]]:
    """Per-fold (accuracies, thresholds), each threshold chosen on the other folds."""
    accuracies, thresholds = [], []
    for fold in np.unique(folds):
        test = folds == fold
        threshold, _ = best_threshold(distances[~test], same[~test])
        correct = matching.is_match(distances[test], threshold) == same[test]
        accuracies.append(float(correct.mean()))
        thresholds.append(threshold)
    return accuracies, thresholds


def tar_at_far(distances: np.ndarray, same: np.ndarray, *, far: float) -> tuple[float, float]:
    """(TAR, threshold) at the largest threshold accepting at most ``far`` of impostor pairs."""
    impostors = np.sort(distances[~same])
    allowed = int(np.floor(far * len(impostors)))  # whole pairs
    # The largest float below the next impostor: at most `allowed` of them match.
    threshold = float(np.nextafter(impostors[allowed], -np.inf))
    return float(matching.is_match(distances[same], threshold).mean()), threshold


def roc_auc(distances: np.ndarray, same: np.ndarray) -> float:
    """P(a random same pair is closer than a random different pair); ties count half."""
    genuine, impostor = distances[same], distances[~same]
    # Mann-Whitney U of "impostor farther than genuine", with average ranks for ties.
    values = np.concatenate([genuine, impostor])
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    average = (first + (counts - 1) / 2)[inverse]  # 0-based rank of each value
    u = average[len(genuine) :].sum() - len(impostor) * (len(impostor) - 1) / 2
    return float(u / (len(genuine) * len(impostor)))


def confidence_bands(distances: np.ndarray, same: np.ndarray, *, threshold: float) -> dict:
    """For each of ``matching.CONFIDENCE_WORDS`` at ``threshold``: how many pairs fall in it
    and the share of them that show one person (None for an empty band)."""
    words = np.array([matching.confidence(float(d), threshold) for d in distances])
    return {
        word: {"pairs": int((words == word).sum()),
               "same_share": float(same[words == word].mean()) if (words == word).any() else None}
        for word in matching.CONFIDENCE_WORDS
    }


def summarise(
    pairs: list[Pair], descriptors: dict[ImageKey, np.ndarray], *, threshold: float | None = None
) -> dict:
    """All accuracy figures (module doc) as a JSON-ready dict; with ``threshold`` (the
    product's), also how pairs fall into the confidence words (:func:`confidence_bands`)."""
    distances, same, folds = pair_distances(pairs, descriptors)
    accuracies, thresholds = kfold_accuracy(distances, same, folds)
    threshold, accuracy = best_threshold(distances, same)
    tar, tar_threshold = tar_at_far(distances, same, far=1e-3)
    return {
        "pairs": len(pairs),
        "same_pairs": int(same.sum()),
        "folds": len(accuracies),
        "kfold_accuracy_mean": float(np.mean(accuracies)),
        "kfold_accuracy_std": float(np.std(accuracies, ddof=1)) if len(accuracies) > 1 else 0.0,
        "fold_accuracies": accuracies,
        "fold_thresholds": thresholds,
        "best_threshold": threshold,
        "best_threshold_accuracy": accuracy,
        "tar_at_far_0.1%": tar,
        "tar_at_far_0.1%_threshold": tar_threshold,
        "roc_auc": roc_auc(distances, same),
        "mean_distance_same": float(distances[same].mean()),
        "mean_distance_different": float(distances[~same].mean()),
    } | ({} if threshold is None else {
        "confidence_threshold": threshold,
        "confidence_bands": confidence_bands(distances, same, threshold=threshold),
    })
