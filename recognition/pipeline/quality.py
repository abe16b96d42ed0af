"""How usable a detected face is, from what the pipeline already has (Django-free):

- ``sharpness``: the variance of the Laplacian of the face's 150 px crop in grey, the usual
  measure of focus. A blurred or smeared face has little fine detail, so a low value.
- ``turn``: how far the face is turned aside, from its five landmarks: the nose's offset from
  the middle of the eyes along the eye line, as a share of the eye distance (0 facing the
  camera, about 0.5 and more in profile).

The thresholds the app uses (settings FACEWEB_MIN_SHARPNESS, FACEWEB_MAX_TURN) were chosen
on WIDER FACE's own blur and pose labels with ``bench/face_quality.py``.
"""

from __future__ import annotations

import cv2
import numpy as np


def sharpness(chip: np.ndarray) -> float:
    """Variance of the Laplacian of ``chip``, ``(H, W, 3)`` uint8 RGB (the face's crop)."""
    grey = cv2.cvtColor(np.ascontiguousarray(chip), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def turn(landmarks: np.ndarray) -> float:
    """How far aside the face looks: |nose offset along the eye line| / eye distance, from
    ``(5, 2)`` landmarks (left eye, right eye, nose, mouth left, mouth right)."""
    points = np.asarray(landmarks, np.float64)
    left, right, nose = points[0], points[1], points[2]
    axis = right - left
    distance = float(np.hypot(*axis))
    if distance == 0:
        return float("inf")
    offset = float(np.dot(nose - (left + right) / 2, axis / distance))
    return abs(offset) / distance
