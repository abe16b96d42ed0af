"""Face detection: a lean MTCNN (P-Net pyramid -> R-Net -> O-Net) on the PyPI ``mtcnn`` weights.

The packaged ``mtcnn`` 1.0.0 spends most of its time in eager TensorFlow calls and an O(N^2)
suppression. This module runs the same three networks, with the same weights and the same
box/landmark arithmetic, converted to TFLite by ``install_models`` (:func:`convert`;
``loader.PACKAGED``: ``mtcnn_pnet``, ``mtcnn_rnet``, ``mtcnn_onet``) and run by the LiteRT
interpreter (XNNPACK kernels, one interpreter per input shape, so nothing is re-planned per
photo: :mod:`recognition.pipeline.tflite`), with crops taken by one ``cv2.remap`` call and a
greedy NMS. bench/detect_speed.py measures it against dlib and the
package; ``manage.py evaluate_detection --detector mtcnn`` measures its recall. :class:`Mtcnn`
is the registry's entry (:mod:`recognition.pipeline.detectors`).

Coordinates follow :mod:`recognition.pipeline.types`: pixels of the (oriented) RGB image,
boxes ``(x1, y1, x2, y2)``, landmarks ``(5, 2)`` float32 left eye, right eye, nose, mouth left,
mouth right ("left" = left side of the picture).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from recognition.pipeline import align, loader
from recognition.pipeline.image import downscale
from recognition.pipeline.tflite import TfliteNet
from recognition.pipeline.types import Detection

# The three stages' thresholds and suppression overlaps, as in the mtcnn package.
PNET_THRESHOLD = 0.6
RNET_THRESHOLD = 0.7
PNET_NMS_SCALE, PNET_NMS_ALL, RNET_NMS, ONET_NMS = 0.5, 0.7, 0.7, 0.7
PYRAMID_FACTOR = 0.709
PNET_WINDOW = 12  # P-Net sees 12x12 windows with stride 2

# O-Net's face probability below which a face is dropped. The package keeps 0.8, which lets
# through patches of suit or background in the Obama sample photos (0.83 in obama.jpg); on
# WIDER dev, 0.9 instead of 0.8 halves false positives (0.18 -> 0.08 per image) for 5 points
# of easy-face recall (`manage.py evaluate_detection --score-threshold`).
DEFAULT_SCORE_THRESHOLD = 0.9
# Detection runs on a copy whose longer side is at most this many pixels; a 12 MP phone photo
# is searched at 1280 x 960, where faces down to ~40 px of the original are still found.
DEFAULT_MAX_SIDE = 1280

_WEIGHT_SHAPES = {
    "pnet": [(3, 3, 3, 10), (10,), (1, 1, 10), (3, 3, 10, 16), (16,), (1, 1, 16),
             (3, 3, 16, 32), (32,), (1, 1, 32), (1, 1, 32, 4), (4,), (1, 1, 32, 2), (2,)],
    "rnet": [(3, 3, 3, 28), (28,), (1, 1, 28), (3, 3, 28, 48), (48,), (1, 1, 48),
             (2, 2, 48, 64), (64,), (1, 1, 64), (576, 128), (128,), (128,), (128, 4), (4,),
             (128, 2), (2,)],
    "onet": [(3, 3, 3, 32), (32,), (1, 1, 32), (3, 3, 32, 64), (64,), (1, 1, 64),
             (3, 3, 64, 64), (64,), (1, 1, 64), (2, 2, 64, 128), (128,), (1, 1, 128),
             (1152, 256), (256,), (256,), (256, 4), (4,), (256, 10), (10,), (256, 2), (2,)],
}  # fmt: skip


class Mtcnn:
    """MTCNN behind the :class:`~recognition.pipeline.detectors.Detector` protocol.

    Constructing one loads the installed networks (see :func:`load_detector`): get the
    process's instance with ``detectors.get("mtcnn")``.
    """

    name = "mtcnn"
    default_score_threshold = DEFAULT_SCORE_THRESHOLD
    max_side = DEFAULT_MAX_SIDE
    template = align.TEMPLATE  # fitted to MTCNN's keypoints (align's module doc)

    def __init__(self) -> None:
        self.nets = load_detector()

    def detect(
        self, image: np.ndarray, *, min_face_size: int = 20, score_threshold: float | None = None
    ) -> list[Detection]:
        """:func:`detect` with this detector's networks (None: ``DEFAULT_SCORE_THRESHOLD``)."""
        if score_threshold is None:
            score_threshold = DEFAULT_SCORE_THRESHOLD
        return detect(
            self.nets, image, min_face_size=min_face_size, score_threshold=score_threshold
        )


class DetectorUnavailable(RuntimeError):
    """The MTCNN weights shipped in the ``mtcnn`` package cannot be read."""


@dataclass(frozen=True)
class MtcnnDetector:
    """The three MTCNN networks as functions on numpy arrays; build with :func:`load_detector`.

    ``pnet(image uint8 (H, W, 3) RGB) -> (face prob (h, w), box offsets (h, w, 4))``,
    ``rnet(crops float32 (N, 24, 24, 3) RGB 0..255) -> (box offsets (N, 4), face prob (N,))``,
    ``onet(crops (N, 48, 48, 3)) -> (box offsets, landmarks (N, 10) x1..x5 y1..y5, face prob)``.
    Offsets and landmarks are fractions of the input window.
    """

    pnet: Callable[..., tuple[np.ndarray, ...]]
    rnet: Callable[..., tuple[np.ndarray, ...]]
    onet: Callable[..., tuple[np.ndarray, ...]]


def load_detector() -> MtcnnDetector:
    """The installed MTCNN stages (``install_models``), run once on a blank image.

    Call once per process, through ``detectors.get("mtcnn")``. Raises
    loader.ModelNotInstalled.
    """
    detector = MtcnnDetector(
        *(TfliteNet(loader.model_file(f"mtcnn_{net}").read_bytes()) for net in _WEIGHT_SHAPES)
    )
    detect(detector, np.zeros((64, 64, 3), np.uint8))  # fail now, not on the first photo
    return detector


def convert(source: Path) -> bytes:
    """One of the package's weight files (``pnet.lz4``, ``rnet.lz4``, ``onet.lz4``) as the
    TFLite model of its network (``install_models`` runs this; see ``loader.PACKAGED``).
    Raises DetectorUnavailable for an unreadable file, RuntimeError if the converted model
    does not compute what the TensorFlow function does."""
    tf = loader.import_tensorflow()
    name = source.stem
    function = _network(tf, name, [tf.constant(w) for w in _read_weights(source, name)])
    # TFLite's XNNPACK kernels run these small convolutions 2-3x faster than TensorFlow's own
    # on a 2-core CPU, and calling an interpreter costs far less than calling a tf.function.
    model = tf.lite.TFLiteConverter.from_concrete_functions(
        [function.get_concrete_function()]
    ).convert()
    if name == "pnet":
        x = _probe((64, 80, 3)).astype(np.uint8)
    else:
        x = _probe((8, 24 if name == "rnet" else 48, 24 if name == "rnet" else 48, 3))
    ours, theirs = TfliteNet(model)(x), [t.numpy() for t in function(tf.constant(x))]
    if len(ours) != len(theirs) or not all(
        a.shape == b.shape and np.allclose(a, b, atol=1e-4)
        for a, b in zip(ours, theirs, strict=True)
    ):
        raise RuntimeError(f"{source} converts to a TFLite model that computes otherwise")
    return model


def _probe(shape: tuple[int, ...]) -> np.ndarray:
    """A deterministic, non-trivial input: a 0..255 ramp, float32."""
    return np.linspace(0.0, 255.0, int(np.prod(shape)), dtype=np.float32).reshape(shape)


def _network(tf, name: str, w: list):
    """MTCNN's ``name`` network (pnet, rnet or onet) with weights ``w``, as a tf.function."""

    def normalise(x):
        return (tf.cast(x, tf.float32) - 127.5) * (1.0 / 128.0)

    def conv(x, kernel, bias):
        return tf.nn.conv2d(x, kernel, strides=1, padding="VALID") + bias

    def prelu(x, alpha):
        # Written the way the TFLite converter recognises as one fused PRELU op.
        return tf.nn.relu(x) + (-alpha) * tf.nn.relu(-x)

    def pool(x, size, stride, padding):
        return tf.nn.max_pool2d(x, size, stride, padding)

    def flatten_caffe(x):
        # The weights come from Caffe, which flattens (C, W, H)-major: swap H and W first.
        x = tf.transpose(x, [0, 2, 1, 3])
        return tf.reshape(x, [tf.shape(x)[0], -1])

    def face_prob(logits):
        return tf.nn.softmax(logits)[..., 1]

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])
    def pnet(image):
        x = normalise(image)[None]
        x = pool(prelu(conv(x, w[0], w[1]), w[2]), 2, 2, "SAME")
        x = prelu(conv(x, w[3], w[4]), w[5])
        x = prelu(conv(x, w[6], w[7]), w[8])
        return face_prob(conv(x, w[11], w[12]))[0], conv(x, w[9], w[10])[0]

    @tf.function(input_signature=[tf.TensorSpec([None, 24, 24, 3], tf.float32)])
    def rnet(crops):
        x = pool(prelu(conv(normalise(crops), w[0], w[1]), w[2]), 3, 2, "SAME")
        x = pool(prelu(conv(x, w[3], w[4]), w[5]), 3, 2, "VALID")
        x = prelu(conv(x, w[6], w[7]), w[8])
        x = prelu(flatten_caffe(x) @ w[9] + w[10], w[11])
        return x @ w[12] + w[13], face_prob(x @ w[14] + w[15])

    @tf.function(input_signature=[tf.TensorSpec([None, 48, 48, 3], tf.float32)])
    def onet(crops):
        x = pool(prelu(conv(normalise(crops), w[0], w[1]), w[2]), 3, 2, "SAME")
        x = pool(prelu(conv(x, w[3], w[4]), w[5]), 3, 2, "VALID")
        x = pool(prelu(conv(x, w[6], w[7]), w[8]), 2, 2, "SAME")
        x = prelu(conv(x, w[9], w[10]), w[11])
        x = prelu(flatten_caffe(x) @ w[12] + w[13], w[14])
        return x @ w[15] + w[16], x @ w[17] + w[18], face_prob(x @ w[19] + w[20])

    return {"pnet": pnet, "rnet": rnet, "onet": onet}[name]


def detect(
    detector: MtcnnDetector,
    image: np.ndarray,
    *,
    min_face_size: int = 20,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    max_side: int = DEFAULT_MAX_SIDE,
) -> list[Detection]:
    """Find faces in an ``(H, W, 3)`` uint8 RGB image (as returned by ``load_image``).

    ``min_face_size``: smallest face side searched, in pixels of ``image`` (at least 12, P-Net's
    window; faces somewhat smaller are sometimes found too). Images larger than ``max_side``
    are searched on a downscaled copy, so there the smallest face is also at least
    ``12 * longer side / max_side`` pixels. ``score_threshold``: O-Net face probability
    to keep a face. Returns detections sorted by score, highest first, in ``image``'s pixels.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
    small, scale = downscale(image, max_side=max_side)
    small = np.ascontiguousarray(small)

    boxes = _propose(detector, small, min_face=max(PNET_WINDOW, min_face_size * scale))
    pixels = small.astype(np.float32)  # R-/O-Net crops are interpolated, not rounded
    if len(boxes):
        offsets, prob = _run_on_crops(detector.rnet, pixels, boxes, size=24)
        keep = prob > RNET_THRESHOLD
        boxes = _apply_offsets(boxes[keep], offsets[keep])
        boxes = _square(boxes[_nms(boxes, prob[keep], RNET_NMS)])
    if not len(boxes):
        return []

    offsets, marks, prob = _run_on_crops(detector.onet, pixels, boxes, size=48)
    size = boxes[:, 2:4] - boxes[:, 0:2] + 1
    # O-Net landmarks are fractions of the box it was given (-1: the package's pixel convention).
    marks = (
        np.stack([marks[:, :5], marks[:, 5:]], axis=-1) * size[:, None, :] + boxes[:, None, 0:2] - 1
    )
    keep = prob > score_threshold
    boxes, marks, prob = _apply_offsets(boxes[keep], offsets[keep]), marks[keep], prob[keep]
    order = _nms(boxes, prob, ONET_NMS, over_smaller=True)

    boxes = boxes[order] / scale
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, image.shape[1])
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, image.shape[0])
    marks = (marks[order] / scale).astype(np.float32)
    return [
        Detection(box=tuple(float(v) for v in box), landmarks=lm, score=float(p))
        for box, lm, p in zip(boxes, marks, prob[order], strict=True)
    ]


def _read_weights(path: Path, name: str) -> list[np.ndarray]:
    """The arrays of MTCNN's ``name`` network in the package's file ``path``."""
    import joblib  # the package stores its weights as lz4-compressed joblib pickles
    import lz4.frame

    try:
        # Decompressed here rather than by joblib, whose lz4 reader is flushed after its file
        # is closed (an unraisable ValueError on Python 3.13).
        with lz4.frame.open(path, "rb") as f:
            arrays = joblib.load(io.BytesIO(f.read()))
    except Exception as exc:
        raise DetectorUnavailable(f"cannot read MTCNN weights {path}: {exc}") from exc
    shapes = [tuple(np.shape(a)) for a in arrays]
    if shapes != _WEIGHT_SHAPES[name]:
        raise DetectorUnavailable(f"unexpected MTCNN weights in {path}: shapes {shapes}")
    return [np.asarray(a, np.float32) for a in arrays]


def _propose(detector: MtcnnDetector, image: np.ndarray, *, min_face: float) -> np.ndarray:
    """P-Net over an image pyramid -> candidate square boxes (N, 4) x1y1x2y2 float64."""
    height, width = image.shape[:2]
    scale = PNET_WINDOW / min_face
    found = []
    while min(height, width) * scale >= PNET_WINDOW:
        size = (int(width * scale), int(height * scale))  # truncation, as the package does
        # Area-averaged from the full image, as the package does. (From the previous level
        # would save ~8 ms per 640x480 photo but lost 2-4 points of WIDER dev recall.)
        level = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        prob, offsets = detector.pnet(level)
        ys, xs = np.nonzero(prob > PNET_THRESHOLD)
        if len(ys):
            # Each output cell is a 12x12 window at stride 2; offsets are in window sizes.
            corners = np.stack([xs, ys, xs, ys], axis=1) * 2.0 + [1, 1, 12, 12]
            boxes = (corners + offsets[ys, xs] * 11.0) / scale
            score = prob[ys, xs]
            keep = _nms(boxes, score, PNET_NMS_SCALE)
            found.append((boxes[keep], score[keep]))
        scale *= PYRAMID_FACTOR
    if not found:
        return np.empty((0, 4))
    boxes, score = (np.concatenate(parts) for parts in zip(*found, strict=True))
    return _square(boxes[_nms(boxes, score, PNET_NMS_ALL)])


def _run_on_crops(
    net: Callable, image: np.ndarray, boxes: np.ndarray, *, size: int, chunk: int = 256
) -> tuple[np.ndarray, ...]:
    """Run R-/O-Net on ``size``-pixel crops of boxes (N, 4) x1y1x2y2 of a float32 image.

    Crops are taken in chunks padded to a power of two, so the networks see few distinct
    batch shapes (one interpreter each).
    """
    results = []
    for start in range(0, len(boxes), chunk):
        part = _crops(image, boxes[start : start + chunk], size=size)
        padded = max(8, 1 << (len(part) - 1).bit_length())
        part = np.concatenate([part, np.zeros((padded - len(part), *part.shape[1:]), part.dtype)])
        results.append([out[: min(chunk, len(boxes) - start)] for out in net(part)])
    return tuple(np.concatenate(outs) for outs in zip(*results, strict=True))


def _crops(image: np.ndarray, boxes: np.ndarray, *, size: int) -> np.ndarray:
    """Bilinear crops (N, size, size, 3) float32 of boxes (N, 4) x1y1x2y2 of a float32 image.

    Samples where the package's ``tf.image.crop_and_resize`` call does (it scales box corners
    by (dim - 1) / dim); outside the image reads 127.5, which the networks see as 0.
    """
    height, width = image.shape[:2]
    steps = np.linspace(0.0, 1.0, size)
    ys = (boxes[:, 1:2] + steps * (boxes[:, 3:4] - boxes[:, 1:2])) * ((height - 1) / height)
    xs = (boxes[:, 0:1] + steps * (boxes[:, 2:3] - boxes[:, 0:1])) * ((width - 1) / width)
    # One remap call for all boxes: crop n occupies rows n*size .. (n+1)*size - 1.
    map_y = np.repeat(ys.astype(np.float32), size, axis=1).reshape(-1, size)
    map_x = np.repeat(xs.astype(np.float32)[:, None, :], size, axis=1).reshape(-1, size)
    crops = cv2.remap(
        image,
        map_x,
        map_y,
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(127.5,) * 3,
    )
    return crops.reshape(len(boxes), size, size, 3)


def _apply_offsets(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    size = boxes[:, 2:4] - boxes[:, 0:2] + 1
    return boxes + offsets * np.tile(size, 2)


def _square(boxes: np.ndarray) -> np.ndarray:
    """Grow each box to a square around its centre (the next stage's input is square)."""
    size = boxes[:, 2:4] - boxes[:, 0:2]
    side = size.max(axis=1, keepdims=True)
    top_left = boxes[:, 0:2] + size * 0.5 - side * 0.5
    return np.concatenate([top_left, top_left + side], axis=1)


def _nms(
    boxes: np.ndarray, scores: np.ndarray, threshold: float, *, over_smaller: bool = False
) -> np.ndarray:
    """Greedy non-maximum suppression -> indices kept, best score first.

    Overlap is intersection over union, or over the smaller box when ``over_smaller``
    (O-Net's rule, which also removes a small box nested in a bigger face).
    """
    if not over_smaller:  # OpenCV's C++ loop: P-Net levels can hold thousands of boxes
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
        kept = cv2.dnn.NMSBoxes(xywh, scores.astype(np.float32), 0.0, threshold)
        return np.asarray(kept, dtype=np.intp).reshape(-1)
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        inter = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        inter *= np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        order = rest[inter <= threshold * np.minimum(areas[best], areas[rest])]
    return np.asarray(keep, dtype=np.intp)
