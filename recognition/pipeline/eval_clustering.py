"""How well unknown faces are grouped (Django-free; used by ``evaluate_clustering``).

The faces are the labelled faces of ``DIR/<Person>/<Person>_NNNN.jpg`` (one per photo, found
as in :mod:`eval_lfw`), the person being the folder; the grouping is the product's
(:func:`matching.cluster`). A face left out of every group counts as a group of its own.

Figures (Amigo et al.'s BCubed, the usual measure for clustering faces):
- BCubed precision: for each face, the share of the faces in its group (itself included) that
  show the same person; the mean over faces. 1.0 means no group mixes people.
- BCubed recall: for each face, the share of that person's faces that are in its group; the
  mean over faces. 1.0 means every person is one group.
- pairwise precision: of all pairs of faces put in one group, the share showing one person.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recognition.pipeline.eval_lfw import ImageKey


def select(
    images: Path, *, min_per_person: int, people: int | None = None,
    per_person: int | None = None,
) -> list[ImageKey]:
    """The photos to group: of every person with at least ``min_per_person`` photos (names in
    order, at most ``people`` of them), their first ``per_person`` photos (all when None)."""
    chosen: list[ImageKey] = []
    names = 0
    for folder in sorted(p for p in images.iterdir() if p.is_dir()):
        numbers = sorted(int(f.stem.rpartition("_")[2]) for f in folder.glob("*.jpg"))
        if len(numbers) < min_per_person:
            continue
        if people is not None and names == people:
            break
        names += 1
        chosen += [(folder.name, n) for n in numbers[:per_person]]
    return chosen


def singletons(labels: np.ndarray) -> np.ndarray:
    """``labels`` with every -1 (in no group) replaced by a group of its own."""
    labels = np.array(labels, np.int64)
    alone = labels < 0
    labels[alone] = labels.max(initial=-1) + 1 + np.arange(alone.sum())
    return labels


def bcubed(truth: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(BCubed precision, BCubed recall) of group ``labels`` (-1: no group) against the
    ``truth`` labels, one per face."""
    truth, labels = np.asarray(truth), singletons(labels)
    same_group = labels[:, None] == labels[None, :]
    same_person = truth[:, None] == truth[None, :]
    both = (same_group & same_person).sum(axis=1)
    return float(np.mean(both / same_group.sum(axis=1))), float(
        np.mean(both / same_person.sum(axis=1))
    )


def pairwise_precision(truth: np.ndarray, labels: np.ndarray) -> float:
    """Of the pairs of faces in one group, the share that show one person (1.0 when no pairs)."""
    truth, labels = np.asarray(truth), singletons(labels)
    upper = np.triu(labels[:, None] == labels[None, :], k=1)
    pairs = upper.sum()
    return float((upper & (truth[:, None] == truth[None, :])).sum() / pairs) if pairs else 1.0


def summarise(truth: list[str], labels: np.ndarray) -> dict:
    """Every figure of the module's docstring, plus counts, for faces labelled ``truth``."""
    truth_array = np.asarray(truth)
    precision, recall = bcubed(truth_array, labels)
    grouped = labels >= 0
    return {
        "faces": len(truth),
        "people": len(set(truth)),
        "groups": int(labels.max(initial=-1) + 1),
        "faces_grouped": int(grouped.sum()),
        "bcubed_precision": precision,
        "bcubed_recall": recall,
        "bcubed_f1": 2 * precision * recall / (precision + recall),
        "pairwise_precision": pairwise_precision(truth_array, labels),
    }
