"""Our own expression network: a small residual CNN trained on FER2013 in this repository
(``manage.py train_expressions``), for 48x48 grayscale faces.

Serving and training see faces the same way: :func:`to_input` turns the product's expression
crop of a detected face (``expression.crop_for_expression``, a square on the detection box)
into the network's input, and FER2013's own files (48x48 grayscale crops of about that
framing) go through the same function when training and evaluating.

The network (:func:`build`): a 3x3 convolution at 48x48, a strided one down to 24x24, then four
stages of two residual blocks (widths 32, 64, 128, 256 at 24, 12, 6 and 3 px; each block two
3x3 convolutions with batch normalisation, a 1x1 projection where the shape changes), global
average pooling, dropout and a 7-way softmax in ``types.EXPRESSIONS`` order. Where the first
full-resolution layers sit decides the cost: the whole stack at 48x48 trains at a quarter of
this speed on 2 cores (``../shared/MODELS.md``). The input is raw grey levels 0..255; the
network scales them itself, so the TFLite file needs nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from recognition.pipeline.types import EXPRESSIONS

if TYPE_CHECKING:  # Keras builds the net only to train or install it, never when analysing
    import keras

INPUT_SIZE = 48
WIDTHS = (32, 64, 128, 256)
BLOCKS = 2  # residual blocks per stage
DROPOUT = 0.3


def to_input(faces: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """A grey network's input for a batch of face crops: ``(N, size, size, 1)`` float32 grey
    0..255 (ours takes 48, fer's mini-Xception 64).

    ``faces``: ``(N, H, W, 3)`` uint8 RGB or ``(N, H, W)`` uint8 grey, square crops of any
    size (``expression.crop_for_expression``'s, or FER2013's files). Shrinking averages pixels
    (INTER_AREA), as the product's crop itself does.
    """
    faces = np.asarray(faces)
    if faces.dtype != np.uint8 or faces.ndim not in (3, 4):
        raise ValueError(f"expected (N, H, W[, 3]) uint8, got {faces.shape} {faces.dtype}")
    out = np.empty((len(faces), size, size, 1), np.float32)
    for i, face in enumerate(faces):
        grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY) if face.ndim == 3 else face
        if grey.shape != (size, size):
            smaller = grey.shape[0] > size
            grey = cv2.resize(grey, (size, size),
                              interpolation=cv2.INTER_AREA if smaller else cv2.INTER_LINEAR)
        out[i, :, :, 0] = grey
    return out


def _block(x: keras.KerasTensor, width: int, stride: int, name: str) -> keras.KerasTensor:
    from keras import layers

    def conv(y, size, step, suffix):
        return layers.Conv2D(width, size, strides=step, padding="same", use_bias=False,
                             kernel_initializer="he_normal", name=f"{name}_{suffix}")(y)

    y = layers.ReLU()(layers.BatchNormalization(name=f"{name}_bn1")(conv(x, 3, stride, "conv1")))
    y = layers.BatchNormalization(name=f"{name}_bn2")(conv(y, 3, 1, "conv2"))
    if stride != 1 or x.shape[-1] != width:
        x = layers.BatchNormalization(name=f"{name}_bnp")(conv(x, 1, stride, "proj"))
    return layers.ReLU()(layers.Add()([x, y]))


def build() -> keras.Model:
    """The untrained network: ``(N, 48, 48, 1)`` grey 0..255 to ``(N, 7)`` probabilities."""
    import keras
    from keras import layers

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="grey")
    x = layers.Rescaling(1 / 63.75, offset=-2.0)(inputs)  # 0..255 to -2..2
    for index, (width, stride) in enumerate(((WIDTHS[0], 1), (WIDTHS[0], 2))):
        x = layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False,
                          kernel_initializer="he_normal", name=f"stem{index}")(x)
        x = layers.ReLU()(layers.BatchNormalization(name=f"stem{index}_bn")(x))
    for stage, width in enumerate(WIDTHS):
        for block in range(BLOCKS):
            stride = 2 if stage > 0 and block == 0 else 1
            x = _block(x, width, stride, f"s{stage}b{block}")
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(DROPOUT)(x)
    # Probabilities in float32 even when training computes in bfloat16 (train_fer.precision).
    outputs = layers.Dense(len(EXPRESSIONS), activation="softmax", name="classes",
                           dtype="float32")(x)
    return keras.Model(inputs, outputs, name="fer_resnet")


def save_weights(model, path: Path) -> None:
    """Every weight of ``model`` by its path, in float16 (half the size; the same answers)."""
    np.savez_compressed(path, **{w.path: np.asarray(w.numpy(), np.float16)
                                 for w in model.weights})


def load_weights(model, path: Path) -> None:
    """Weights written by :func:`save_weights` into a model from ``fer_net.build()``."""
    with np.load(path) as stored:
        missing = [w.path for w in model.weights if w.path not in stored]
        if missing or len(stored.files) != len(model.weights):
            raise ValueError(f"{path} does not fit the network (missing {missing[:3]})")
        for w in model.weights:
            w.assign(stored[w.path].astype(np.float32))


def convert(source: Path) -> bytes:
    """The ``.tflite`` of the network with the weights in ``source`` (install_models)."""
    from recognition.pipeline import loader

    loader.import_tensorflow()
    model = build()
    load_weights(model, source)
    return loader.convert_keras(model)
