"""Plain data passed between pipeline stages. Coordinates are pixels of the oriented RGB image.

Box convention everywhere: ``(x1, y1, x2, y2)`` floats, top-left inclusive, bottom-right
exclusive. Landmarks: ``(5, 2)`` float32 array of (x, y) in the order left eye, right eye,
nose, mouth left, mouth right — "left" meaning the left side of the *picture*.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

EXPRESSIONS: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgusted",
    "surprised",
)


@dataclass(frozen=True)
class Detection:
    """One face found by the detector."""

    box: tuple[float, float, float, float]
    landmarks: np.ndarray  # (5, 2) float32, see module docstring
    score: float


@dataclass(frozen=True)
class FaceResult:
    """Everything the pipeline knows about one face in an image."""

    detection: Detection
    embedding: np.ndarray  # (128,) float32, the dlib-ResNet descriptor
    expression: str  # one of EXPRESSIONS
    expression_scores: dict[str, float]  # every class, summing to ~1
    # (150, 150, 3) uint8 RGB: the aligned face as people see it (edges repeated, not black)
    chip: np.ndarray = field(repr=False)
    # Estimated by face-api's age/gender net (age_gender); None when not asked for.
    age: float | None = None  # years
    male: float | None = None  # the probability that the face is a man's
    # The probability that the face is a live person's, not a print (liveness); None when
    # not asked for.
    liveness: float | None = None
    # How open the eyes are (landmarks.eye_openness, from the 68 landmarks); None when not
    # asked for (only the active liveness check needs it).
    eye_openness: float | None = None


@dataclass(frozen=True)
class ImageAnalysis:
    """The result of analysing one image."""

    width: int
    height: int
    faces: list[FaceResult]
    timings_ms: dict[str, float]  # stage name -> milliseconds (detect, align, embed, expression)
