"""Face detection: RetinaFace with a MobileNetV2 backbone, the frozen graph of PyPI ``retinaface``.

The graph (``retinaface/src/frozen_graph.pb`` in release 1.1.1, MIT) is a single-stage
detector: MobileNetV2 features at strides 8, 16 and 32, two anchors per cell (16 to 512 px),
each anchor decoded inside the graph into a box, five landmarks and a face score. ``manage.py
install_models`` checks it against the release's checksum, converts it to TFLite
(:func:`convert`) and records the result's checksum (``loader.PACKAGED``); the package's own
Python wrapper is not used (it needs TensorFlow 2.5 and NumPy < 2).

The graph's input ``x:0`` is float32 RGB 0..255, ``(1, H, W, 3)`` with H and W multiples of 32;
its own end is a suppression at score 0.5 and IoU 0.4. We read the decoded rows just before
that (:data:`GRAPH_OUTPUT`: one row of 16 floats per anchor: box x1 y1 x2 y2, five landmarks
(x, y), a landmark flag, the face score; coordinates are fractions of the padded input), so
thresholds below 0.5 can be measured, and suppress here.

Coordinates follow :mod:`recognition.pipeline.types`: pixels of the (oriented) RGB image,
boxes ``(x1, y1, x2, y2)``, landmarks ``(5, 2)`` float32 left eye, right eye, nose, mouth left,
mouth right ("left" = left side of the picture; the graph's order is already this one).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from recognition.pipeline import align, loader
from recognition.pipeline.tflite import TfliteNet
from recognition.pipeline.types import Detection

GRAPH_INPUT = "x:0"
GRAPH_OUTPUT = "RetinaFaceModel/tf_op_layer_concat_10/concat_10:0"  # before the graph's NMS
STRIDE = 32  # the input's height and width must be multiples of this
NMS_IOU = 0.4  # the graph's own suppression overlap

# Chosen on widerface-dev-restored (``bench/detection_sweep.py``; the table is in the README,
# "Evaluations"): at 1,280 px and score 0.75, 85.8% of the easy faces at 0.11 false positives
# per image. 0.7 doubles the false positives for no more faces; 0.8 finds 0.4 points fewer.
# Searching larger (full size, or enlarged 1.5-2x) found no more faces and added false
# positives; at 640 px, 2.5 points fewer faces.
DEFAULT_SCORE_THRESHOLD = 0.75
DEFAULT_MAX_SIDE = 1280  # longer side searched; larger photos are searched downscaled
DEFAULT_UPSCALE = 1.0  # smaller photos are searched enlarged by up to this factor

# Landmarks are read a second time on each face alone (:meth:`RetinaFace.refine`): a
# REFINE_SIZE-pixel square of the full-resolution photo around the face, REFINE_SPAN
# eye-to-mouth distances wide (the face about 100 px, where the network is surest), and on
# its mirror image; the two readings are averaged. LFW dev 5-fold accuracy (`evaluate_lfw`,
# each way with its own fitted template): 99.10% +- 0.32 without, 99.27% +- 0.22 with (MTCNN:
# 99.27% +- 0.25), TAR at FAR 0.1% 97.8%. A face found in a downscaled big photo gets its
# points from the photo's own pixels. Boxes and scores are the first pass's, so detection
# recall is unchanged; it costs two runs on a 224x224 input per face (~5 ms each here).
REFINE_SIZE = 224
REFINE_SPAN = 3.0
# Picture-left and picture-right points swap places in a mirror image.
_MIRROR_ORDER = [1, 0, 2, 4, 3]

# Median keypoints of this detector (refined, as it runs) on dlib's 150x150 / padding 0.25 chips
# of 521 faces that are never evaluated on (`bench/fit_template.py --detector retinaface`; see
# align's module doc). Against MTCNN's the eyes sit ~1 px wider apart and the mouth ~1 px
# narrower; refined points are more symmetric than the first pass's (eyes level to 0.2 px).
MEASURED_TEMPLATE = np.array(
    [
        [46.24, 45.85],  # left eye
        [101.01, 45.65],  # right eye
        [73.41, 75.50],  # nose
        [51.73, 103.48],  # mouth left
        [95.04, 103.63],  # mouth right
    ],
    dtype=np.float32,
)

# (1, H, W, 3) float32 RGB 0..255 -> (anchors, 16) float32 rows (see the module doc).
Network = Callable[[np.ndarray], np.ndarray]


class RetinaFace:
    """RetinaFace-MobileNetV2 behind the :class:`~recognition.pipeline.detectors.Detector`
    protocol. Constructing one loads the model (raises loader.ModelNotInstalled):
    get the process's instance with ``detectors.get("retinaface")``. ``network`` replaces the
    graph (tests)."""

    name = "retinaface"
    default_score_threshold = DEFAULT_SCORE_THRESHOLD
    max_side = DEFAULT_MAX_SIDE
    template = align.scaled(MEASURED_TEMPLATE)

    def __init__(self, *, network: Network | None = None) -> None:
        self.network = network or load_network(loader.model_file("retinaface"))
        self.detect(np.zeros((64, 64, 3), np.uint8))  # fail now, not on the first photo
        self.network(np.zeros((1, REFINE_SIZE, REFINE_SIZE, 3), np.float32))  # plan refine()

    def detect(
        self,
        image: np.ndarray,
        *,
        min_face_size: int = 20,
        score_threshold: float | None = None,
        max_side: int = DEFAULT_MAX_SIDE,
        upscale: float = DEFAULT_UPSCALE,
        refine: bool = True,
    ) -> list[Detection]:
        """Find faces in an ``(H, W, 3)`` uint8 RGB image (as returned by ``load_image``).

        The image is searched resized by ``min(upscale, max_side / longer side)``.
        ``min_face_size``: faces whose box is smaller than this on its longer side are
        dropped, in pixels of ``image`` (the network itself finds faces from about 10 px of
        its input; on WIDER dev most of its false detections were that small).
        ``score_threshold``: face score to keep a face (None: ``DEFAULT_SCORE_THRESHOLD``).
        ``refine``: read each face's landmarks again on its own (:meth:`refine`).
        Returns detections sorted by score, highest first, in ``image``'s pixels.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}"
            )
        if score_threshold is None:
            score_threshold = DEFAULT_SCORE_THRESHOLD
        height, width = image.shape[:2]
        scale = min(upscale, max_side / max(height, width))
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        resized = image
        if size != (width, height):
            shrink = size[0] < width
            resized = cv2.resize(
                image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            )
        # Pad right and bottom with black to multiples of STRIDE; outputs are fractions of it.
        padded_h, padded_w = (-(-d // STRIDE) * STRIDE for d in resized.shape[:2])
        x = np.zeros((1, padded_h, padded_w, 3), np.float32)
        x[0, : resized.shape[0], : resized.shape[1]] = resized

        rows = self.network(x)
        rows = rows[rows[:, 15] >= score_threshold]
        # Fractions of the padded input -> pixels of ``image``.
        to_pixels = np.array([padded_w * width / size[0], padded_h * height / size[1]])
        boxes = rows[:, 0:4].reshape(-1, 2, 2) * to_pixels
        marks = rows[:, 4:14].reshape(-1, 5, 2) * to_pixels
        scores = rows[:, 15]
        order = _nms(boxes.reshape(-1, 4), scores, NMS_IOU)
        boxes, marks, scores = boxes[order].reshape(-1, 4), marks[order], scores[order]
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
        sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        keep = sides >= min_face_size
        return [
            Detection(
                box=tuple(float(v) for v in box),
                landmarks=(self.refine(image, lm) if refine else lm).astype(np.float32),
                score=float(p),
            )
            for box, lm, p in zip(boxes[keep], marks[keep], scores[keep], strict=True)
        ]

    def refine(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The face's ``(5, 2)`` landmarks read again on a square around it and on that
        square's mirror image, averaged (see :data:`REFINE_SIZE`); ``landmarks`` themselves
        when neither reading finds a face (the one nearest the square's centre is taken)."""
        eyes, mouth = landmarks[0:2].mean(axis=0), landmarks[3:5].mean(axis=0)
        scale = REFINE_SIZE / max(REFINE_SPAN * float(np.linalg.norm(mouth - eyes)), 1.0)
        shift = REFINE_SIZE / 2 - scale * landmarks.mean(axis=0)
        to_square = np.array([[scale, 0, shift[0]], [0, scale, shift[1]]], np.float32)
        square = cv2.warpAffine(image, to_square, (REFINE_SIZE, REFINE_SIZE))
        readings = []
        for mirrored in (False, True):
            view = np.ascontiguousarray(square[:, ::-1]) if mirrored else square
            found = self.detect(view, refine=False)
            if not found:
                continue
            points = min(found, key=_off_centre).landmarks.astype(np.float64)
            if mirrored:
                points[:, 0] = REFINE_SIZE - 1 - points[:, 0]  # as align mirrors
                points = points[_MIRROR_ORDER]
            readings.append((points - shift) / scale)
        return np.mean(readings, axis=0) if readings else landmarks


def convert(source: Path) -> bytes:
    """The frozen graph at ``source`` as a TFLite model, cut before its NMS (``install_models``
    runs this once; see ``loader.PACKAGED``). Raises RuntimeError if the converted model does
    not compute what the graph does.

    The graph is a TensorFlow 1 GraphDef: imported inside ``tf.compat.v1.wrap_function`` and
    pruned to :data:`GRAPH_INPUT` -> :data:`GRAPH_OUTPUT` (one function for any input size),
    then converted. TFLite's XNNPACK kernels run it in 28 ms per 640x480 photo here against
    TensorFlow's 46 (1280x960: about 135 ms against 190), with outputs equal to 1e-6.
    """
    tf = loader.import_tensorflow()
    graph = tf.compat.v1.GraphDef()
    graph.ParseFromString(source.read_bytes())
    wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph, name=""), [])
    pruned = wrapped.prune(GRAPH_INPUT, GRAPH_OUTPUT)
    function = tf.function(pruned).get_concrete_function(
        tf.TensorSpec([1, None, None, 3], tf.float32)
    )
    model = tf.lite.TFLiteConverter.from_concrete_functions([function], wrapped).convert()
    x = np.linspace(0.0, 255.0, 96 * 128 * 3, dtype=np.float32).reshape(1, 96, 128, 3)
    if not np.allclose(TfliteNet(model)(x)[0], pruned(tf.constant(x)).numpy(), atol=1e-4):
        raise RuntimeError(f"{source} converts to a TFLite model that computes otherwise")
    return model


def load_network(path: Path) -> Network:
    """The installed TFLite model at ``path`` (see :func:`convert`) as a :data:`Network`.

    Two interpreters: one for photos, resized to each photo's shape (its memory is that of
    the largest photo it has run, about 240 MB at 1280x960, reused by every smaller one: see
    :mod:`.tflite`), and one for :meth:`RetinaFace.refine`'s squares, so that refining a
    photo's faces does not re-plan the photo's interpreter.
    """
    model = path.read_bytes()
    photos, squares = TfliteNet(model, max_shapes=1), TfliteNet(model, max_shapes=1)

    def run(x: np.ndarray) -> np.ndarray:
        net = squares if x.shape[1:3] == (REFINE_SIZE, REFINE_SIZE) else photos
        return net(x)[0]

    run.nets = (photos, squares)  # tests and benchmarks read the interpreters kept
    return run


def _off_centre(face: Detection) -> float:
    """How far a face's box centre is from the refinement square's centre."""
    x1, y1, x2, y2 = face.box
    return float(np.hypot((x1 + x2 - REFINE_SIZE) / 2, (y1 + y2 - REFINE_SIZE) / 2))


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression (IoU) -> indices kept, best score first.

    Ties (many anchors score 1.0 in float32) keep anchor order, so the boxes kept above a
    threshold do not depend on the threshold the suppression ran at.
    """
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        inter = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        inter *= np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        union = areas[best] + areas[rest] - inter
        order = rest[inter <= threshold * np.maximum(union, 1e-9)]
    return np.asarray(keep, dtype=np.intp)
