"""Face descriptor: a Keras 3 port of face-api's FaceRecognitionNet (dlib's 29-conv ResNet),
built once by ``install_models`` and run from its TFLite conversion (``embedder.tflite``).

Input: aligned 150x150 RGB chips laid out like dlib's face chips (see ``align``).
Output: one 128-d float32 descriptor per chip; two chips show the same person when the
Euclidean distance between their descriptors is below ~0.6 (dlib's threshold).

The network takes raw RGB pixel values (0..255, float) and normalises them itself, the way
face-api does: ``(x - mean_rgb) / 255``. Each face-api "conv layer" is a convolution followed
by a per-channel affine "scale" layer; the two are folded into one ``Conv2D`` when the
weights are loaded (``kernel * w``, ``bias * w + b``), which is exact algebra and saves an
elementwise pass per layer.
"""

from __future__ import annotations

import numpy as np

from recognition.pipeline.tflite import TfliteNet, run_batched

MANIFEST = "face_recognition_model-weights_manifest.json"
CHIP_SIZE = 150
DESCRIPTOR_SIZE = 128
MEAN_RGB = (122.782, 117.001, 104.298)  # face-api's constants, in RGB order
_BATCH = 8  # chips run together; see tflite.run_batched

# (block name, output channels, is a down-sampling block), in network order.
_BLOCKS: tuple[tuple[str, int, bool], ...] = (
    ("conv32_1", 32, False),
    ("conv32_2", 32, False),
    ("conv32_3", 32, False),
    ("conv64_down", 64, True),
    ("conv64_1", 64, False),
    ("conv64_2", 64, False),
    ("conv64_3", 64, False),
    ("conv128_down", 128, True),
    ("conv128_1", 128, False),
    ("conv128_2", 128, False),
    ("conv256_down", 256, True),
    ("conv256_1", 256, False),
    ("conv256_2", 256, False),
    ("conv256_down_out", 256, True),
)


def _conv_prefixes() -> list[str]:
    """Manifest prefixes of every conv+scale layer, in network order (``a/b`` form)."""
    return ["conv32_down"] + [
        f"{name}/{part}" for name, _, _ in _BLOCKS for part in ("conv1", "conv2")
    ]


def _layer_name(prefix: str) -> str:
    return prefix.replace("/", "_")  # Keras layer names may not contain "/"


def build_model(weights: dict[str, np.ndarray] | None = None):
    """Build the network; load ``weights`` (face-api names -> float32 arrays) when given.

    ``weights`` is what ``tfjs.read_manifest`` returns for ``MANIFEST``. Without weights the
    layers are randomly initialised (use ``model.load_weights`` on an installed file).
    The model maps ``(N, 150, 150, 3)`` float32 RGB 0..255 to ``(N, 128)`` float32.
    """
    import keras
    from keras import layers, ops

    def conv(x, prefix: str, filters: int, size: int, *, strides: int = 1, relu: bool = True):
        # dlib pads stride-1 convs to keep the size, but not the stride-2 ones ("valid"):
        # "same" there still fits every shape and silently gives wrong descriptors.
        return layers.Conv2D(
            filters,
            size,
            strides=strides,
            padding="same" if strides == 1 else "valid",
            activation="relu" if relu else None,
            name=_layer_name(prefix),
        )(x)

    def residual(x, name: str, filters: int, down: bool):
        out = conv(x, f"{name}/conv1", filters, 3, strides=2 if down else 1)
        out = conv(out, f"{name}/conv2", filters, 3, relu=False)
        if down:
            x = layers.AveragePooling2D(2, 2, padding="valid", name=f"{name}_pool")(x)
            # On odd inputs the "valid" stride-2 conv comes out one row/column smaller than
            # the 2x2 pooling (3 vs 4, 1 vs 2): face-api appends zeros at the bottom/right.
            missing = x.shape[1] - out.shape[1]
            if missing:
                out = layers.ZeroPadding2D(((0, missing), (0, missing)), name=f"{name}_pad")(out)
            # The shortcut gets the extra channels as zeros.
            extra = filters - x.shape[-1]
            if extra:
                x = layers.Lambda(
                    lambda t, n=extra: ops.pad(t, [[0, 0], [0, 0], [0, 0], [0, n]]),
                    name=f"{name}_chpad",
                )(x)
        return layers.ReLU(name=f"{name}_relu")(layers.Add(name=f"{name}_add")([out, x]))

    inputs = keras.Input((CHIP_SIZE, CHIP_SIZE, 3), name="chip_rgb")
    # (x - mean) / sqrt(255^2): face-api's normalisation.
    x = layers.Normalization(mean=MEAN_RGB, variance=[255.0**2] * 3, name="normalize")(inputs)
    x = conv(x, "conv32_down", 32, 7, strides=2)
    x = layers.MaxPooling2D(3, 2, padding="valid", name="pool")(x)
    for name, filters, down in _BLOCKS:
        x = residual(x, name, filters, down)
    x = layers.GlobalAveragePooling2D(name="mean")(x)
    outputs = layers.Dense(DESCRIPTOR_SIZE, use_bias=False, name="fc")(x)
    model = keras.Model(inputs, outputs, name="face_recognition_net")
    if weights is not None:
        _set_weights(model, weights)
    return model


def _set_weights(model, weights: dict[str, np.ndarray]) -> None:
    """Fold each conv+scale pair into its Conv2D; fail on any missing or unused weight."""
    used = set()
    for prefix in _conv_prefixes():
        names = [
            f"{prefix}/{n}" for n in ("conv/filters", "conv/bias", "scale/weights", "scale/biases")
        ]
        filters, bias, scale, shift = (weights[n] for n in names)
        used.update(names)
        model.get_layer(_layer_name(prefix)).set_weights([filters * scale, bias * scale + shift])
    model.get_layer("fc").set_weights([weights["fc"]])
    used.add("fc")
    unused = sorted(set(weights) - used)
    if unused:
        raise ValueError(f"unexpected weights for FaceRecognitionNet: {unused[:5]}")


def embed(model: TfliteNet, chips: np.ndarray) -> np.ndarray:
    """Descriptors of aligned chips.

    ``model``: the installed network (``loader.get_embedder()``). ``chips``:
    ``(N, 150, 150, 3)`` uint8 RGB (N may be 0). Returns ``(N, 128)`` float32.
    """
    chips = np.asarray(chips)
    if chips.dtype != np.uint8 or chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
        raise ValueError(
            f"expected (N, 150, 150, 3) uint8 RGB chips, got {chips.shape} {chips.dtype}"
        )
    if len(chips) == 0:
        return np.zeros((0, DESCRIPTOR_SIZE), np.float32)
    return run_batched(model, chips.astype(np.float32), chunk=_BATCH)
