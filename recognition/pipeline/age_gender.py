"""Age and gender: a Keras 3 port of face-api's AgeGenderNet, built once by ``install_models`` and
run from its TFLite conversion (``age_gender.tflite``).

The net is face-api's ``TinyXception(2)`` feature extractor and two linear heads on its
7x7 average pool (512 features): age in years (a regression) and gender (two logits, male
first, turned into probabilities by a softmax). The extractor:

    x = relu(conv_in(x))                     # 3x3, stride 2: 112 -> 56
    x = reduction(x, activate_input=False)   # entry_flow/reduction_block_0: 56 -> 28
    x = reduction(x)                         # entry_flow/reduction_block_1: 28 -> 14
    x = main(x); x = main(x)                 # middle_flow/main_block_0, 1
    x = reduction(x)                         # exit_flow/reduction_block: 14 -> 7
    x = relu(separable_conv(x))              # exit_flow/separable_conv: 512 channels

    reduction(x) = maxpool3x3/2(sep1(relu(sep0(relu?(x))))) + expansion_conv1x1/2(x)
    main(x) = sep2(relu(sep1(relu(sep0(relu(x)))))) + x

Every convolution uses TF "same" padding, as TF.js does. The input is face-api's
(``expression``'s): the crop padded to a square with black, resized to 112 with TF1 bilinear
semantics, the mean RGB subtracted and divided by 255, so it reads the product's expression
crop (``expression.crop_for_expression``) unchanged.

The converted model answers one row per face: ``[age, p(male), p(female)]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from recognition.pipeline import expression, loader, tfjs
from recognition.pipeline.tflite import TfliteNet, run_batched

if TYPE_CHECKING:  # Keras builds the net only in install_models, never in an analysing process
    import keras

MANIFEST = "age_gender_model-weights_manifest.json"
INPUT_SIZE = expression.INPUT_SIZE
_BATCH = 8


def _separable(x, channels: int, name: str):
    from keras import layers

    return layers.SeparableConv2D(channels, 3, padding="same", name=name)(x)


def _reduction(x, channels: int, prefix: str, *, activate_input: bool = True):
    from keras import layers

    out = layers.ReLU()(x) if activate_input else x
    out = _separable(out, channels, f"{prefix}-separable_conv0")
    out = _separable(layers.ReLU()(out), channels, f"{prefix}-separable_conv1")
    out = layers.MaxPooling2D(3, strides=2, padding="same")(out)
    shortcut = layers.Conv2D(channels, 1, strides=2, padding="same",
                             name=f"{prefix}-expansion_conv")(x)
    return layers.Add()([out, shortcut])


def _main(x, channels: int, prefix: str):
    from keras import layers

    out = x
    for k in range(3):
        out = _separable(layers.ReLU()(out), channels, f"{prefix}-separable_conv{k}")
    return layers.Add()([out, x])


def _face_api_weights(layer: keras.layers.Layer) -> list[str]:
    """face-api weight names for one Keras layer, in the order ``layer.set_weights`` wants
    (Keras names may not hold "/": the layers are named with "-" in its place)."""
    import keras

    base = layer.name.replace("-", "/")
    if isinstance(layer, keras.layers.SeparableConv2D):
        return [f"{base}/depthwise_filter", f"{base}/pointwise_filter", f"{base}/bias"]
    if isinstance(layer, keras.layers.Conv2D):
        return [f"{base}/filters", f"{base}/bias"]
    return [f"{base}/weights", f"{base}/bias"]  # the Dense heads fc/age, fc/gender


def build_model(weights: dict[str, np.ndarray] | None = None) -> keras.Model:
    """Build AgeGenderNet; load face-api's weights when given (names as ``tfjs.read_manifest``
    returns them; every one must be used exactly once). Maps ``(N, 112, 112, 3)`` float32
    normalised RGB (``(rgb - mean) / 255``) to ``(N, 3)``: age, p(male), p(female)."""
    import keras
    from keras import layers

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="normalised_rgb")
    x = layers.Conv2D(32, 3, strides=2, padding="same", name="entry_flow-conv_in")(inputs)
    x = layers.ReLU()(x)
    x = _reduction(x, 64, "entry_flow-reduction_block_0", activate_input=False)
    x = _reduction(x, 128, "entry_flow-reduction_block_1")
    for k in range(2):
        x = _main(x, 128, f"middle_flow-main_block_{k}")
    x = _reduction(x, 256, "exit_flow-reduction_block")
    x = layers.ReLU()(_separable(x, 512, "exit_flow-separable_conv"))
    x = layers.Flatten()(layers.AveragePooling2D(7, strides=2, padding="valid")(x))
    age = layers.Dense(1, name="fc-age")(x)
    gender = layers.Softmax()(layers.Dense(2, name="fc-gender")(x))
    model = keras.Model(inputs, layers.Concatenate()([age, gender]), name="age_gender_net")
    if weights is not None:
        tfjs.load_weights(model, weights, _face_api_weights, what="age/gender")
    return model


def predict(model: TfliteNet, faces: np.ndarray) -> np.ndarray:
    """``(N, 3)`` float32 rows ``[age in years, p(male), p(female)]`` for ``(N, H, W, 3)``
    uint8 RGB face crops of any size, read as face-api does (see ``expression.predict``)."""
    faces = np.asarray(faces)
    if faces.dtype != np.uint8 or faces.ndim != 4 or faces.shape[-1] != 3:
        raise ValueError(f"expected (N, H, W, 3) uint8 RGB, got {faces.shape} {faces.dtype}")
    if len(faces) == 0:
        return np.zeros((0, 3), np.float32)
    return run_batched(model, expression.face_api_input(faces), chunk=_BATCH).astype(np.float32)


def read(faces: np.ndarray) -> np.ndarray:
    """What the product stores: :func:`predict` of the installed net, averaged over each face
    and its mirror image (a face and its mirror image are the same face; measured with
    ``manage.py evaluate_attributes``)."""
    net = loader.get_net("age_gender")
    faces = np.asarray(faces)
    if len(faces) == 0:
        return predict(net, faces)
    return (predict(net, faces) + predict(net, np.ascontiguousarray(faces[:, :, ::-1]))) / 2


def gender(male: float | None) -> tuple[str, float] | tuple[None, None]:
    """``("male" | "female", how sure)`` from the probability of "male" (None: not estimated)."""
    if male is None:
        return None, None
    return ("male", male) if male >= 0.5 else ("female", 1 - male)
