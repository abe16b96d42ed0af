"""Face alignment: cut the 150x150 chip the descriptor expects out of a photo, from 5 landmarks.

The descriptor (dlib's ResNet) was trained on dlib's face chips: ``dlib.get_face_chip(...,
size=150, padding=0.25)``, which rotates the eyes level and scales the face to a fixed box.
dlib places its chips from its own 5-point shape (eye corners and nose base); we only have the
detector's keypoints (eye centres, nose tip, mouth corners), so :data:`MEASURED_TEMPLATE` says
where *those* keypoints fall, on average, in dlib's chip. It was measured, not guessed, by
``bench/fit_template.py``: dlib (HOG detector, 5-point shape predictor, ``get_face_chip``) cut
chips from 520 faces we never evaluate on (``nuaa-dev/real`` and ``samples/``, not LFW); our
detector ran on each chip and :data:`MEASURED_TEMPLATE` is the per-point median of its keypoints.
Each detector places its keypoints a little differently, so each has its own measured template
(``template`` of the classes in :mod:`recognition.pipeline.detectors`); this module's is MTCNN's.

:data:`TEMPLATE`, the one used, is that shrunk about the chip centre by
:data:`TEMPLATE_SCALE`: the face a little smaller, with a little more context. The factor was
tuned end to end on LFW dev (``manage.py evaluate_lfw``, mirror-mean descriptors, same cached
detections; 5-fold accuracy / ROC AUC): 0.93 98.77% / 0.99946, 0.95 98.97% / 0.99953,
0.96 99.00% / 0.99958, 0.97 99.27% / 0.99958, 0.98 99.23% / 0.99954, 1.00 99.17% / 0.99947,
1.03 99.10% / 0.99947. The gain over 1.00 (~3 of 3,000 pairs) is within the folds' spread;
the smoother AUC agrees that 0.96-0.98 is slightly better.

:data:`WEIGHTS` weigh the points in the least-squares fit. Mouth corners move with expression
(a smile widens and lifts them) and dlib's own placement ignores the mouth, so they count
little. Chosen on the same fitting faces, by how far each face's chip lands from dlib's (mean
displacement over the chip, fitted on one group of photos and measured on the other): equal
weights 3.3-3.5 px, these weights 2.0-2.6 px. On LFW dev (scale 0.97, as above): equal weights
98.63% / 0.99944, eyes and nose only 99.03% / 0.99942, these weights 99.27% / 0.99958.

Coordinates: pixels of the RGB image, landmarks ``(5, 2)`` float32 (x, y) in the order of
:mod:`recognition.pipeline.types` (left eye, right eye, nose, mouth left, mouth right).
"""

from __future__ import annotations

import cv2
import numpy as np

CHIP_SIZE = 150

# Median keypoints of MTCNN on dlib's 150x150 / padding 0.25 chips (see module doc).
MEASURED_TEMPLATE = np.array(
    [
        [47.13, 45.36],  # left eye
        [100.49, 45.37],  # right eye
        [73.71, 75.45],  # nose
        [51.79, 104.27],  # mouth left
        [95.37, 104.40],  # mouth right
    ],
    dtype=np.float32,
)
TEMPLATE_SCALE = 0.97  # tuned on LFW dev (module doc)
_CENTRE = CHIP_SIZE / 2


def scaled(measured: np.ndarray) -> np.ndarray:
    """The template used for a measured one: shrunk about the chip centre by TEMPLATE_SCALE."""
    return ((np.asarray(measured) - _CENTRE) * TEMPLATE_SCALE + _CENTRE).astype(np.float32)


TEMPLATE = scaled(MEASURED_TEMPLATE)  # MTCNN's
WEIGHTS = np.array([1.0, 1.0, 0.5, 0.1, 0.1])  # eyes, nose, mouth corners (see module doc)

# Picture-left and picture-right points swap places in a mirror image.
_MIRROR_ORDER = [1, 0, 2, 4, 3]


def similarity(
    landmarks: np.ndarray, *, template: np.ndarray = TEMPLATE, weights: np.ndarray = WEIGHTS
) -> np.ndarray:
    """The rotation + uniform scale + translation taking ``landmarks`` closest to ``template``.

    Weighted least squares (Umeyama without reflection). ``landmarks``, ``template``: ``(K, 2)``
    (x, y). Returns the ``(2, 3)`` float64 matrix ``M`` with ``template ≈ M @ [x, y, 1]``.
    """
    src = np.asarray(landmarks, np.float64)
    dst = np.asarray(template, np.float64)
    w = np.asarray(weights, np.float64) / np.sum(weights)
    src_mean, dst_mean = w @ src, w @ dst
    s, d = src - src_mean, dst - dst_mean
    # Closed form of the 2-D weighted Procrustes problem: the rotation-scale is [[a, -b], [b, a]].
    norm = w @ (s**2).sum(axis=1)
    a = w @ (s * d).sum(axis=1) / norm
    b = w @ (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]) / norm
    rotation_scale = np.array([[a, -b], [b, a]])
    return np.hstack([rotation_scale, (dst_mean - rotation_scale @ src_mean)[:, None]])


def align(
    image: np.ndarray,
    landmarks: np.ndarray,
    *,
    size: int = CHIP_SIZE,
    mirrored: bool = False,
    template: np.ndarray | None = None,
    border: int = cv2.BORDER_CONSTANT,
) -> np.ndarray:
    """The aligned face chip: ``(size, size, 3)`` uint8 RGB, laid out like dlib's 150x150 chip.

    ``image``: ``(H, W, 3)`` uint8 RGB. ``landmarks``: ``(5, 2)`` (x, y) in ``image`` pixels.
    ``template``: where those landmarks go in a 150x150 chip (default :data:`TEMPLATE`; a
    detector's own is its ``template``).
    ``mirrored``: the chip of the same face in the left-right mirror image, aligned on its own
    (mirrored) landmarks; flipping the chip instead would shift the face, as the template is
    not exactly symmetric about the chip's centre column. Outside the image reads as black, as
    in dlib's chips (``border``: cv2's border mode; the crop people see repeats the edge
    instead, no black wedges). When the face is larger than the chip, the region is first shrunk with
    area averaging, so detail finer than the chip's pixels averages out instead of aliasing
    (dlib does the same with an image pyramid).
    """
    points = np.asarray(landmarks, np.float64)
    flip = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    if mirrored:
        # Mirror the landmarks (x -> W - 1 - x; picture-left and -right swap roles), fit, and
        # fold the mirror into the map so the warp reads the original image directly.
        flip = np.array([[-1.0, 0.0, image.shape[1] - 1.0], [0.0, 1.0, 0.0]])
        points = (points @ flip[:, :2].T + flip[:, 2])[_MIRROR_ORDER]
    template = TEMPLATE if template is None else template
    fit = similarity(points, template=template * (size / CHIP_SIZE))
    matrix = fit[:, :2] @ flip
    matrix[:, 2] += fit[:, 2]
    scale = float(np.hypot(*matrix[:, 0]))
    if scale < 0.5:
        image, matrix = _shrink_region(image, matrix, size=size, scale=scale)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=border)


def _shrink_region(
    image: np.ndarray, matrix: np.ndarray, *, size: int, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Crop the chip's source region, shrink it to about chip scale; return it and the new map."""
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64)
    source = corners @ inverse.T
    x0, y0 = np.floor(source.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(source.max(axis=0)).astype(int) + 2
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, image.shape[1]), min(y1, image.shape[0])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return image, matrix  # the chip lies (almost) entirely outside the image
    factor = 2 * scale  # leave a 2x margin for the bilinear warp to finish the job
    region = image[y0:y1, x0:x1]
    width, height = max(1, round(region.shape[1] * factor)), max(1, round(region.shape[0] * factor))
    small = cv2.resize(region, (width, height), interpolation=cv2.INTER_AREA)
    fx, fy = width / region.shape[1], height / region.shape[0]
    # chip <- region pixel (u, v) = ((x - x0 + 0.5) * f - 0.5): compose with the old map.
    to_small = np.array([[fx, 0, (0.5 - x0) * fx - 0.5], [0, fy, (0.5 - y0) * fy - 0.5]])
    back = cv2.invertAffineTransform(to_small)
    new = matrix[:, :2] @ back[:, :2]
    return small, np.hstack([new, (matrix[:, :2] @ back[:, 2] + matrix[:, 2])[:, None]])
