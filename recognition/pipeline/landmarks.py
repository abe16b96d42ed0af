"""68 face landmarks, and how open the eyes are: face-api's FaceLandmark68Net, a Keras 3 port
built once by ``install_models`` (``landmarks68.tflite``) from the npm package's weights.

The net is the expression net's feature extractor (``expression.face_api_net``) with a
256 -> 136 linear head: (x, y) of the 68 points of the iBUG scheme (jaw 0-16, brows 17-26,
nose 27-35, eyes 36-47, mouth 48-67), each relative to the square it was given (0..1). It
reads the same 112x112 input as the expression net (``expression.crop_for_expression``).

:func:`eye_openness` is the eye aspect ratio: for each eye, the two vertical lid distances
over twice the corner-to-corner width, averaged over both eyes. About 0.25-0.35 open, under
0.15 shut; a ratio of distances, so the crop's size does not matter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from recognition.pipeline import expression
from recognition.pipeline.tflite import TfliteNet, run_batched

if TYPE_CHECKING:
    import keras

MANIFEST = "face_landmark_68_model-weights_manifest.json"
POINTS = 68
# Each eye's six points in order: outer corner, two upper lid, inner corner, two lower lid
# (the picture's left eye first).
_EYES = (np.arange(36, 42), np.arange(42, 48))


def build_model(weights: dict[str, np.ndarray] | None = None) -> keras.Model:
    """FaceLandmark68Net; ``weights`` as for ``expression.build_model``. Maps normalised
    ``(N, 112, 112, 3)`` input to ``(N, 136)``: x0, y0, x1, y1, ... relative to the input."""
    return expression.face_api_net(weights, outputs=2 * POINTS, softmax=False,
                                   name="face_landmark_68_net", what="landmarks68")


def predict(model: TfliteNet, faces: np.ndarray) -> np.ndarray:
    """``(N, 68, 2)`` float32 points, in pixels of the given ``(N, S, S, 3)`` uint8 squares."""
    if len(faces) == 0:
        return np.zeros((0, POINTS, 2), np.float32)
    out = run_batched(model, expression.face_api_input(faces), chunk=8)
    return (out.reshape(len(faces), POINTS, 2) * faces.shape[1]).astype(np.float32)


def eye_openness(points: np.ndarray) -> np.ndarray:
    """The eye aspect ratio of each face, ``(N,)``, from ``(N, 68, 2)`` points."""
    ratios = []
    for eye in _EYES:
        p = points[:, eye]
        lids = (np.linalg.norm(p[:, 1] - p[:, 5], axis=1) + np.linalg.norm(p[:, 2] - p[:, 4], axis=1))
        width = np.linalg.norm(p[:, 0] - p[:, 3], axis=1)
        ratios.append(lids / (2 * np.maximum(width, 1e-6)))
    return np.mean(ratios, axis=0).astype(np.float32)
