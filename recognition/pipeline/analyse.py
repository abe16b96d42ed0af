"""The pipeline's entry point: image -> faces, each with a descriptor, an expression and (when
asked) an estimated age and gender.

``analyse_image`` runs detect -> align -> embed -> expression -> attributes, each stage batched
over the
faces of the image, on models from :mod:`recognition.pipeline.loader` (loaded once per
process, on first use); the detector is the configured one (``detectors.default_name()``:
env ``FACEWEB_DETECTOR``).

The descriptor of a face is the average of the network's descriptors of its chip and of the
chip of the mirrored photo, scaled to unit length. Both steps were measured end to end on LFW
dev (5 folds, 3,000 pairs; ``python manage.py evaluate_lfw``): see ``eval_lfw``'s docstring.
Because of the unit length, distances are about two thirds of raw dlib distances, and the
same-person threshold is ``spec.DEFAULT_THRESHOLD``, not dlib's 0.6.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import cv2
import numpy as np

from recognition.pipeline import age_gender, detectors, expression, landmarks, loader
from recognition.pipeline import align as alignment
from recognition.pipeline import embed as embedding
from recognition.pipeline import image as image_io
from recognition.pipeline import liveness as live_model
from recognition.pipeline.types import EXPRESSIONS, Detection, FaceResult, ImageAnalysis

# Big JPEGs are decoded at no less than this (longer side): no detector searches more than
# its ``max_side`` anyway, and a face it can find is still large enough here for an aligned
# chip, while a 50 MP photo decodes in a quarter of the memory and time.
DECODE_SIDE = 2 * max(detector.max_side for detector in detectors.DETECTORS.values())


def analyse_file(
    source, *, max_pixels: int = image_io.DEFAULT_MAX_PIXELS, detector: str | None = None,
    attributes: bool = True, liveness: bool = False, eyes: bool = False,
) -> ImageAnalysis:
    """``analyse_image`` on an image file (see ``image.load_image`` for ``source``), decoded at
    reduced size where that loses nothing (``DECODE_SIDE``); boxes, landmarks, width and height
    are in pixels of the full upright image. Raises image.ImageError for a bad file."""
    array, (width, height) = image_io.load_reduced(source, side=DECODE_SIDE, max_pixels=max_pixels)
    analysis = analyse_image(array, detector=detector, attributes=attributes, liveness=liveness,
                             eyes=eyes)
    sx, sy = width / analysis.width, height / analysis.height
    if (sx, sy) == (1.0, 1.0):
        return analysis
    scale = np.array([sx, sy])
    faces = []
    for face in analysis.faces:
        box = (np.asarray(face.detection.box).reshape(2, 2) * scale).ravel()
        landmarks = (face.detection.landmarks * scale).astype(np.float32)
        detected = replace(face.detection, box=tuple(float(v) for v in box), landmarks=landmarks)
        faces.append(replace(face, detection=detected))
    return replace(analysis, width=width, height=height, faces=faces)


def analyse_image(
    image: np.ndarray,
    *,
    min_face_size: int = 20,
    score_threshold: float | None = None,
    detector: str | None = None,
    attributes: bool = True,
    liveness: bool = False,
    eyes: bool = False,
) -> ImageAnalysis:
    """Find and describe every face in an ``(H, W, 3)`` uint8 RGB image (see ``load_image``).

    ``min_face_size``: smallest face side in pixels; ``score_threshold``: detector confidence
    to keep a face (None: the detector's default); ``detector``: a registered detector's name
    (None: the configured one); ``attributes``: estimate age and gender (else they are None and
    the network never runs); ``liveness``: score each face's liveness; ``eyes``: measure how open its eyes are (the
    68-landmark net; the active liveness check); else None. Faces come
    highest score first.
    ``timings_ms`` has detect, align, embed, expression (and attributes) in milliseconds.
    """
    timings: dict[str, float] = {}
    start = time.perf_counter()
    detector = detectors.get(detector) if detector else loader.get_detector()
    found = detector.detect(image, min_face_size=min_face_size, score_threshold=score_threshold)
    timings["detect"] = _ms_since(start)

    start = time.perf_counter()
    chips, mirrored = align_faces(image, [d.landmarks for d in found], template=detector.template)
    timings["align"] = _ms_since(start)

    start = time.perf_counter()
    descriptors = (
        describe(loader.get_embedder(), chips, mirrored)
        if found
        else np.zeros((0, embedding.DESCRIPTOR_SIZE), np.float32)
    )
    timings["embed"] = _ms_since(start)

    start = time.perf_counter()
    crops = expression_inputs(image, found)
    scores = expression.read(crops) if found else np.zeros((0, len(EXPRESSIONS)), np.float32)
    timings["expression"] = _ms_since(start)

    estimates = np.full((len(found), 3), np.nan, np.float32)
    if attributes:
        start = time.perf_counter()
        if found:
            estimates = age_gender.read(crops)
        timings["attributes"] = _ms_since(start)

    live = np.full(len(found), np.nan, np.float32)
    if liveness:
        start = time.perf_counter()
        if found:
            live = live_model.scores(np.stack([live_model.crop(image, d) for d in found]))
        timings["liveness"] = _ms_since(start)
    openness = np.full(len(found), np.nan, np.float32)
    if eyes and found:
        openness = landmarks.eye_openness(landmarks.predict(loader.get_net("landmarks68"), crops))

    # The crop people see: the chip, with the photo's edge repeated where the chip reaches
    # past it (the network's chip is black there, as dlib's).
    shown = [
        alignment.align(image, d.landmarks, template=detector.template,
                        border=cv2.BORDER_REPLICATE)
        for d in found
    ]
    faces = [
        FaceResult(
            detection=d,
            embedding=descriptor,
            expression=EXPRESSIONS[int(np.argmax(row))],
            expression_scores={name: float(p) for name, p in zip(EXPRESSIONS, row, strict=True)},
            chip=chip,
            age=float(estimate[0]) if attributes else None,
            male=float(estimate[1]) if attributes else None,
            liveness=float(score) if liveness else None,
            eye_openness=float(eye) if eyes else None,
        )
        for d, descriptor, row, chip, estimate, score, eye in zip(
            found, descriptors, scores, shown, estimates, live, openness, strict=True
        )
    ]
    return ImageAnalysis(
        width=image.shape[1], height=image.shape[0], faces=faces, timings_ms=timings
    )


def align_faces(
    image: np.ndarray, landmarks: Sequence[np.ndarray], *, template: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Chips of the faces and of the same faces in the mirrored image.

    ``image``: ``(H, W, 3)`` uint8 RGB; ``landmarks``: N ``(5, 2)`` arrays from a detector;
    ``template``: that detector's (default: the configured detector's). Returns two
    ``(N, 150, 150, 3)`` uint8 RGB arrays (the second are mirror images of the faces, each
    aligned on its own mirrored landmarks).
    """
    if template is None:
        template = detectors.DETECTORS[detectors.default_name()].template
    size = alignment.CHIP_SIZE
    chips = np.zeros((len(landmarks), size, size, 3), np.uint8)
    mirrored = np.zeros_like(chips)
    for i, points in enumerate(landmarks):
        chips[i] = alignment.align(image, points, template=template)
        mirrored[i] = alignment.align(image, points, mirrored=True, template=template)
    return chips, mirrored


def describe(embedder, chips: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
    """Face descriptors: ``(N, 128)`` float32 of unit length.

    ``chips``, ``mirrored``: ``(N, 150, 150, 3)`` uint8 RGB from :func:`align_faces`, embedded
    in one batch; each face's two descriptors are averaged, then scaled to unit length.
    """
    both = embedding.embed(embedder, np.concatenate([chips, mirrored]))
    mean = (both[: len(chips)] + both[len(chips) :]) / 2
    return (mean / np.linalg.norm(mean, axis=1, keepdims=True)).astype(np.float32)


def expression_inputs(image: np.ndarray, found: Sequence[Detection]) -> np.ndarray:
    """The expression net's inputs for the faces: ``(N, 112, 112, 3)`` uint8 RGB, one batch."""
    size = expression.INPUT_SIZE
    out = np.zeros((len(found), size, size, 3), np.uint8)
    for i, d in enumerate(found):
        out[i] = expression.crop_for_expression(image, d)
    return out


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000
