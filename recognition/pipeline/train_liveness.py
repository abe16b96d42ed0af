"""Train the passive liveness model on NUAA-style folders (``manage.py train_liveness``).

Each ``--data`` folder holds ``real/`` and ``spoof_print/`` photos named as NUAA names them,
``<subject>_<glasses>_<place>_<session>_<frame>.jpg``. The faces are found and cropped as the product does
(``eval_liveness.largest_face_crops``), described by ``liveness.features``, and a logistic
regression with an L2 penalty is fitted by Newton's method, live and spoof weighted equally.

Honest figures come from scoring each face with a model that never saw its person:
``cross_subject`` leaves one subject out at a time. A model must also hold up in a session
it was not trained in (new lighting, a new place; a model fitted on one NUAA session and
scored on the other keeps its ranking but shifts its scores), so ``cross_session`` leaves out
one subject *and* one session at a time, training on the other subjects in the other
sessions only. The threshold (``FACEWEB_LIVENESS_THRESHOLD``) is calibrated on those scores:
the middle of the range of thresholds with the lowest ACER. The shipped model is then fitted
on everything.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from recognition.pipeline import eval_liveness, liveness

L2 = 0.1  # the penalty per weight, in units of the mean loss over the faces
CLASSES = (("real", True), ("spoof_print", False))


def collect(folders: list[Path], detect: Callable) -> dict[str, np.ndarray]:
    """Crops' features, live flags and subjects of every photo with a face."""
    rows: dict[str, list] = {"features": [], "live": [], "subjects": [], "sessions": []}
    missing = 0
    for folder in folders:
        for sub, live in CLASSES:
            paths = eval_liveness.photos(folder / sub)
            crops, found = eval_liveness.largest_face_crops(paths, detect)
            missing += int((~found).sum())
            rows["features"].append(liveness.features(crops))
            rows["live"] += [live] * len(crops)
            fields = [p.stem.split("_") for p, f in zip(paths, found, strict=True) if f]
            if any(len(f) < 5 for f in fields):
                raise ValueError(f"{folder / sub}: names must read <subject>_<glasses>_<place>_"
                                 "<session>_<frame>")
            rows["subjects"] += [f[0] for f in fields]
            rows["sessions"] += [f[3] for f in fields]
    return {"features": np.concatenate(rows["features"]), "live": np.array(rows["live"]),
            "subjects": np.array(rows["subjects"]), "sessions": np.array(rows["sessions"]),
            "no_face": np.array(missing)}


def fit(x: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, float]:
    """``(weights, bias)`` of the regression on raw features (standardisation folded in)."""
    mean, scale = x.mean(0), x.std(0) + 1e-6
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    y = live.astype(np.float64)
    weight = np.where(live, 0.5 / live.mean(), 0.5 / (1 - live.mean()))  # classes count alike
    penalty = np.eye(z.shape[1]) * 2 * L2 * len(x)
    penalty[-1, -1] = 0  # the bias goes free
    w = np.zeros(z.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-(z @ w)))
        gradient = z.T @ (weight * (p - y)) + penalty @ w
        hessian = (z * (weight * p * (1 - p))[:, None]).T @ z + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    weights = w[:-1] / scale
    return weights.astype(np.float32), float(w[-1] - weights @ mean)


def probabilities(x: np.ndarray, weights: np.ndarray, bias: float) -> np.ndarray:
    return 1 / (1 + np.exp(-(x @ weights + bias)))


def held_out_scores(data: dict[str, np.ndarray], *, sessions: bool) -> np.ndarray:
    """Each face's score by a model fitted without its subject (and, with ``sessions``,
    without its session either)."""
    subjects, session = data["subjects"], data["sessions"]
    scores = np.zeros(len(data["live"]))
    for subject in np.unique(subjects):
        for part in np.unique(session) if sessions else [None]:
            held = subjects == subject
            train = ~held
            if part is not None:
                held, train = held & (session == part), train & (session != part)
            if held.any():
                weights, bias = fit(data["features"][train], data["live"][train])
                scores[held] = probabilities(data["features"][held], weights, bias)
    return scores


def calibrate(scores: np.ndarray, live: np.ndarray) -> float:
    """The middle (in log-odds) of the thresholds with the lowest ACER on ``scores``."""
    candidates = np.unique(np.concatenate([scores, [0.0, 1.0]]))
    acer = np.array([eval_liveness.errors(scores, live, t)["acer"] for t in candidates])
    best = candidates[np.isclose(acer, acer.min())]
    # A threshold t accepts scores >= t, so the lowest ACER holds from just above the
    # candidate before the first best one up to the last best one: go to the middle of that
    # span in log-odds.
    below = candidates[candidates < best.min()]
    low, high = (np.clip(v, 1e-6, 1 - 1e-6)
                 for v in (below[-1] if len(below) else 0.0, best.max()))
    logit = (np.log(low / (1 - low)) + np.log(high / (1 - high))) / 2
    return float(1 / (1 + np.exp(-logit)))


def train(*, folders: list[Path], out: Path, detect: Callable, log=print) -> dict:
    """Cross-subject figures, then the shipped model fitted on everything; writes
    ``liveness.npz`` and ``report.json`` into ``out``."""
    started = time.perf_counter()
    data = collect(folders, detect)
    live, subjects = data["live"], data["subjects"]
    log(f"{len(live)} faces ({int(live.sum())} live, {int((~live).sum())} spoof) of "
        f"{len(np.unique(subjects))} subjects; {int(data['no_face'])} photos without a face")
    strict = held_out_scores(data, sessions=True)
    threshold = calibrate(strict, live)
    report = {"faces": len(live), "live": int(live.sum()), "no_face": int(data["no_face"]),
              "threshold": threshold}
    for name, scores in (("cross_subject", held_out_scores(data, sessions=False)),
                         ("cross_session", strict)):
        report[name] = {
            **eval_liveness.errors(scores, live, threshold),
            "roc_auc": eval_liveness.roc_auc(scores, live),
            "by_subject": {
                str(s): {"faces": int((subjects == s).sum()),
                         **eval_liveness.errors(scores[subjects == s], live[subjects == s],
                                                threshold)}
                for s in np.unique(subjects)
            },
        }
    weights, bias = fit(data["features"], live)
    out.mkdir(parents=True, exist_ok=True)
    liveness.save(out / "liveness.npz", weights=weights, bias=bias)
    report["seconds"] = round(time.perf_counter() - started, 1)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
