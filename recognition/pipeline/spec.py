"""The pipeline as one frozen value: which detector finds faces, which alignment and network
describe them, which model reads expressions, and the distance that still means "the same
person". Django-free; the app reads its spec from ``configured()``.

``PipelineSpec.version`` is what every stored face records. Descriptors are comparable only
when the detector (its landmarks place the alignment), the alignment and the network are the
same, so the gallery only ever holds references of the current version, and changing any of
these means re-analysing the reference photos (the admin's "re-analyse" action).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np

from recognition.pipeline import align, detectors, expression, landmarks, liveness
from recognition.pipeline.types import ImageAnalysis

DEFAULT_DETECTOR = detectors.DEFAULT
# Same person when the distance is at most this (matching.is_match): the best global
# threshold on LFW dev, 0.420 (``eval_lfw``), rounded to two decimals.
DEFAULT_THRESHOLD = 0.42
# Unknown faces are grouped while a group's faces are on average at most this far from
# another group's (matching.cluster); groups need FACEWEB_GROUP_MIN_SIZE faces. Chosen on LFW dev
# (``manage.py evaluate_clustering``: precision 0.989, recall 0.941; README "Evaluations").
DEFAULT_GROUP_THRESHOLD = 0.36


@dataclass(frozen=True)
class PipelineSpec:
    detector: str = DEFAULT_DETECTOR  # a name in detectors.DETECTORS
    embedder: str = "face-api-1.7.15-resnet"  # dlib's ResNet, ported (embed)
    alignment: str = f"template-{align.TEMPLATE_SCALE:g}"  # align.TEMPLATE
    # Each face's descriptor: the photo's and its mirror image's, averaged, unit length.
    descriptor: str = "mirror-mean/unit"
    expression: str = expression.VERSION  # stored on each face as its expression_model
    threshold: float = DEFAULT_THRESHOLD
    group_threshold: float = DEFAULT_GROUP_THRESHOLD

    @property
    def version(self) -> str:
        """What a face records: faces of different versions are never compared."""
        return f"{self.detector}/{self.embedder}/{self.alignment}/{self.descriptor}"


def configured() -> PipelineSpec:
    """The spec this process runs: the detector from env FACEWEB_DETECTOR
    (``detectors.default_name()``, which refuses an unknown name)."""
    return PipelineSpec(detector=detectors.default_name())


class Pipeline:
    """The analysis a spec names. Cheap to make: the models load in the process that first
    analyses an image (never in a Celery parent that forks)."""

    def __init__(self, spec: PipelineSpec):
        self.spec = spec

    def analyse_file(
        self, source, *, attributes: bool = True, liveness: bool = False, eyes: bool = False
    ) -> ImageAnalysis:
        """Every face in an image file, found by the spec's detector (analyse.analyse_file)."""
        from recognition.pipeline import analyse

        return analyse.analyse_file(source, detector=self.spec.detector, attributes=attributes,
                                    liveness=liveness, eyes=eyes)


@functools.cache
def current() -> Pipeline:
    """The pipeline of this process (``configured()``). Services use it unless given another;
    tests put a stand-in here."""
    return Pipeline(configured())


def warm_up() -> float:
    """Load every model and run each once at a typical size, so that the first photo a
    process analyses is as quick as the tenth. Returns the seconds it took."""
    from recognition.pipeline import analyse, loader

    started = time.perf_counter()
    # The detector at the largest size it searches (a 4:3 photo at its ``max_side``): a
    # detector's memory planned for that serves every smaller photo without re-planning.
    side = loader.get_detector().max_side
    analyse.analyse_image(np.full((side * 3 // 4, side, 3), 128, np.uint8))
    chips = np.zeros((1, align.CHIP_SIZE, align.CHIP_SIZE, 3), np.uint8)
    analyse.describe(loader.get_embedder(), chips, chips)
    size = expression.INPUT_SIZE
    expression.read(np.zeros((1, size, size, 3), np.uint8))
    # Camera photos' liveness measures (the passive score, the eyes' landmarks).
    liveness.scores(np.zeros((1, liveness.CROP_SIZE, liveness.CROP_SIZE, 3), np.uint8))
    landmarks.predict(loader.get_net("landmarks68"), np.zeros((1, size, size, 3), np.uint8))
    return time.perf_counter() - started
