"""How usable a detected face is, from what the pipeline already has (Django-free):

- ``sharpness``: the variance of the Laplacian of the face's 150 px crop in grey, the usual
  measure of focus. A blurred or smeared face has little fine detail, so a low value.
- ``pose``: which way the head looks, (yaw, pitch, roll) in degrees, from its five landmarks:
  the rotation that best projects a generic 3-D face (:data:`FACE_3D`) onto them.
- ``score``: one number from 0 to 1 for all of it with the detector's score, to rank a
  person's faces (their best thumbnail) and to show; the gates (too poor to enrol or to group)
  use each measure's own threshold, so that a refusal can say why.

The sharpness threshold the app uses (FACEWEB_MIN_SHARPNESS) was chosen on WIDER FACE's own
blur labels with ``bench/face_quality.py``, which also reports the pose by WIDER's pose labels
and on LFW (where FACEWEB_ENROL_MAX_YAW comes from).
"""

from __future__ import annotations

import cv2
import numpy as np


def sharpness(chip: np.ndarray) -> float:
    """Variance of the Laplacian of ``chip``, ``(H, W, 3)`` uint8 RGB (the face's crop)."""
    grey = cv2.cvtColor(np.ascontiguousarray(chip), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


# A generic face in the descriptor chip's pixels (align's 150 px chip, about 1.15 mm each): x to
# the picture's right, y down, z away from the camera, in the landmarks' order (left eye, right
# eye, nose tip, mouth left, mouth right). x and y are RetinaFace's measured template (align),
# centred; depths are typical adult proportions: the nose tip ~25 mm in front of the eyes, the
# mouth corners ~9 mm.
FACE_3D = np.array(
    [[-27.4, -29.7, 0.0], [27.4, -29.7, 0.0], [0.0, 0.0, -22.0], [-21.7, 28.3, -8.0],
     [21.7, 28.3, -8.0]]
)


def pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """``(yaw, pitch, roll)`` in degrees of the head with these ``(5, 2)`` landmarks (image
    pixels, x right, y down): yaw > 0 looks towards the picture's right, pitch > 0 looks up,
    roll > 0 tilts the head clockwise. All 0 facing the camera upright. From five points and a
    generic face, so a guide, not a measurement: yaw and roll are read from the eyes and nose
    across the face, and are good to a few degrees near the front; pitch rests on where the nose
    sits between eyes and mouth, which differs from face to face and moves with a smile (a
    broad smile in a straight portrait can read 25 degrees down)."""
    points = np.asarray(landmarks, np.float64).reshape(5, 2)
    eyes = float(np.hypot(*(points[1] - points[0])))
    if not np.isfinite(points).all() or eyes == 0:
        return (0.0, 0.0, 0.0)
    # A long lens (focal 10 eye distances) so that perspective barely matters: a photo does
    # not say how far away the face was.
    focal = 10 * eyes
    centre = points.mean(axis=0)
    camera = np.array([[focal, 0, centre[0]], [0, focal, centre[1]], [0, 0, 1]])
    guess = np.array([[0.0], [0.0], [focal * 54.8 / eyes]])  # upright, facing, at that size
    _, rvec, _ = cv2.solvePnP(
        FACE_3D, points, camera, None, rvec=np.zeros((3, 1)), tvec=guess,
        useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE,
    )
    pitch, yaw, roll = cv2.RQDecomp3x3(cv2.Rodrigues(rvec)[0])[0]
    return (-float(yaw), -float(pitch), float(roll))


# score(): a face this many pixels across, or this sharp, counts as fully usable.
FULL_SIDE_PX = 80
FULL_SHARPNESS = 40.0  # about the median of WIDER's faces labelled clear (bench/face_quality.py)


def score(*, side: float, sharpness: float, yaw: float, pitch: float, detection: float) -> float:
    """0 (unusable) to 1: the product of the face's size (``side`` / FULL_SIDE_PX), focus
    (``sharpness`` / FULL_SHARPNESS), each capped at 1, how squarely it faces the camera
    (cos yaw x cos pitch) and the detector's ``detection`` score."""
    size = min(1.0, max(0.0, side) / FULL_SIDE_PX)
    focus = min(1.0, max(0.0, sharpness) / FULL_SHARPNESS)
    facing = max(0.0, np.cos(np.radians(yaw))) * max(0.0, np.cos(np.radians(pitch)))
    return float(size * focus * facing * min(1.0, max(0.0, detection)))
