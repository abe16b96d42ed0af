"""Face detectors behind one interface, chosen by name (Django-free).

Every detector is a class in a module of this package, registered in :data:`DETECTORS`. It
has a ``name`` and a ``detect(image, *, min_face_size, score_threshold=None)`` method that
takes an ``(H, W, 3)`` uint8 RGB image and returns :class:`~recognition.pipeline.types.Detection`
objects (boxes ``(x1, y1, x2, y2)``, ``(5, 2)`` float32 landmarks in the order of
:mod:`recognition.pipeline.types`, scores) in pixels of that image, highest score first.
Constructing one loads its model (slow, and only in a worker child, never at import):
:func:`get` keeps one instance per name per process.

The product's detector is :func:`default_name`: env ``FACEWEB_DETECTOR``, else
:data:`DEFAULT`, chosen by measurement (README, "Evaluations"; ``manage.py
evaluate_detection --detector NAME``).

Adding a detector: write ``detectors/<name>.py`` with a class like the ones below (loading its
files through :mod:`recognition.pipeline.loader`, so that a missing file raises
``ModelNotInstalled``; its alignment ``template`` measured with ``bench/fit_template.py
--detector <name>``), then add one line to :data:`DETECTORS`. Measure it with ``manage.py
evaluate_detection --detector <name>``, ``evaluate_lfw --detector <name>`` and ``benchmark``.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Protocol

import numpy as np

from recognition.pipeline.detectors.mtcnn import Mtcnn
from recognition.pipeline.detectors.retinaface import RetinaFace
from recognition.pipeline.types import Detection

DETECTORS: dict[str, type[Detector]] = {
    "mtcnn": Mtcnn,
    "retinaface": RetinaFace,
}
DEFAULT = "retinaface"
SETTING = "FACEWEB_DETECTOR"


class Detector(Protocol):
    """What the pipeline needs from a face detector (see the module doc)."""

    name: str
    default_score_threshold: float  # used when ``detect`` is given None
    max_side: int  # photos with a longer side above this are searched downscaled
    # Where its landmarks go in the descriptor's 150x150 chip (align.align's ``template``),
    # fitted to this detector's keypoints by bench/fit_template.py --detector NAME.
    template: np.ndarray

    def detect(
        self, image: np.ndarray, *, min_face_size: int = 20, score_threshold: float | None = None
    ) -> list[Detection]: ...


class UnknownDetector(ValueError):
    """A detector name that is not in :data:`DETECTORS`."""

    def __init__(self, name: str, *, source: str = "detector"):
        known = ", ".join(sorted(DETECTORS))
        super().__init__(f"unknown {source} {name!r}: choose one of {known}")


def default_name() -> str:
    """The configured detector's name: env ``FACEWEB_DETECTOR``, else :data:`DEFAULT`.

    Raises UnknownDetector when the setting names no registered detector.
    """
    name = os.environ.get(SETTING, "").strip() or DEFAULT
    if name not in DETECTORS:
        raise UnknownDetector(name, source=f"{SETTING} value")
    return name


_lock = threading.RLock()


def get(name: str) -> Detector:
    """The loaded detector ``name``, one instance per process (thread-safe).

    Raises UnknownDetector, or the detector's own load error (``loader.ModelNotInstalled``
    for a missing or corrupt model file).
    """
    if name not in DETECTORS:
        raise UnknownDetector(name)
    with _lock:
        return _load(name)


@functools.cache
def _load(name: str) -> Detector:
    return DETECTORS[name]()


def clear_cache() -> None:
    """Forget loaded detectors (tests, or after reinstalling in a long-lived process)."""
    _load.cache_clear()
