"""Passive liveness: is a face in a camera frame a live person's, or a printed photo held up to
the camera? One frame, no help from the person.

A face is cut as a square on its detection box and shrunk to 64x64 (:func:`crop`). Its
features (:func:`features`) are colour texture: uniform local binary patterns (the sign of each
pixel's difference with its 8 neighbours, 58 "uniform" codes and one for the rest) of each
channel of the face in HSV and in YCrCb, counted over a 2x2 grid and square-rooted. A print
re-photographed by a webcam loses fine skin texture and shifts colour in ways these counts
show. A logistic regression trained here on NUAA (``manage.py train_liveness``; model card
``weights/liveness.md``) turns them into the probability that the face is live: the
``liveness`` network, one weighted sum and a sigmoid, run from its TFLite conversion
like the other models.

What it does not cover: screens replaying a video, masks, and cameras or lighting far from
NUAA's (see the model card).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from recognition.pipeline import loader
from recognition.pipeline.types import Detection

CROP_SIZE = 64
GRID = 2
_SPACES = (cv2.COLOR_RGB2HSV, cv2.COLOR_RGB2YCrCb)


def _uniform_table() -> tuple[np.ndarray, int]:
    """Each 8-bit pattern's bin: its own for the 58 with at most two 0/1 transitions around
    the circle, one shared bin for the rest."""
    table = np.zeros(256, np.int32)
    bins = 0
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        if sum(bits[i] != bits[(i + 1) % 8] for i in range(8)) <= 2:
            table[code] = bins
            bins += 1
        else:
            table[code] = -1
    table[table < 0] = bins
    return table, bins + 1


_TABLE, _BINS = _uniform_table()
# The 8 neighbours at distance 1, going round.
_NEIGHBOURS = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))
FEATURES = len(_SPACES) * 3 * GRID * GRID * _BINS


def crop(image: np.ndarray, detection: Detection) -> np.ndarray:
    """The face as the liveness model sees it: ``(64, 64, 3)`` uint8 RGB, a square on the
    detection box (edges repeated where it reaches past the image)."""
    x1, y1, x2, y2 = detection.box
    half = max(x2 - x1, y2 - y1) / 2
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    source = np.float32([[cx - half, cy - half], [cx + half, cy - half], [cx - half, cy + half]])
    target = np.float32([[0, 0], [CROP_SIZE, 0], [0, CROP_SIZE]])
    shrinking = 2 * half > CROP_SIZE
    return cv2.warpAffine(
        image, cv2.getAffineTransform(source, target), (CROP_SIZE, CROP_SIZE),
        flags=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE,
    )


def _lbp(channel: np.ndarray) -> np.ndarray:
    """Uniform LBP bins of the inner pixels of one ``(H, W)`` uint8 channel."""
    height, width = channel.shape
    centre = channel[1:-1, 1:-1]
    codes = np.zeros(centre.shape, np.int32)
    for bit, (dy, dx) in enumerate(_NEIGHBOURS):
        neighbour = channel[1 + dy : height - 1 + dy, 1 + dx : width - 1 + dx]
        codes |= (neighbour >= centre).astype(np.int32) << bit
    return _TABLE[codes]


def features(crops: np.ndarray) -> np.ndarray:
    """``(N, FEATURES)`` float32 for ``(N, 64, 64, 3)`` uint8 RGB crops from :func:`crop`."""
    out = np.zeros((len(crops), FEATURES), np.float32)
    for i, face in enumerate(crops):
        parts = []
        for space in _SPACES:
            converted = cv2.cvtColor(face, space)
            for c in range(3):
                bins = _lbp(converted[..., c])
                side = bins.shape[0] // GRID
                for row in range(GRID):
                    for col in range(GRID):
                        cell = bins[row * side : (row + 1) * side, col * side : (col + 1) * side]
                        parts.append(np.bincount(cell.ravel(), minlength=_BINS) / cell.size)
        out[i] = np.sqrt(np.concatenate(parts))
    return out


def scores(crops: np.ndarray) -> np.ndarray:
    """The probability that each face is live, ``(N,)`` float32 (raises ModelNotInstalled)."""
    if not len(crops):
        return np.zeros(0, np.float32)
    return loader.get_net("liveness")(features(crops))[0][:, 0].astype(np.float32)


def build(*, weights: np.ndarray, bias: float):
    """The Keras model of a trained regression (standardisation folded into ``weights``)."""
    import keras

    inputs = keras.Input((FEATURES,), name="features")
    outputs = keras.layers.Dense(1, activation="sigmoid", name="live")(inputs)
    model = keras.Model(inputs, outputs, name="liveness")
    model.get_layer("live").set_weights([np.float32(weights).reshape(-1, 1),
                                         np.float32([bias])])
    return model


def save(path: Path, *, weights: np.ndarray, bias: float) -> None:
    np.savez_compressed(path, weights=np.float32(weights), bias=np.float32(bias))


def convert(source: Path) -> bytes:
    """The ``.tflite`` of the regression stored in ``source`` (install_models)."""
    loader.import_tensorflow()
    with np.load(source) as stored:
        model = build(weights=stored["weights"], bias=float(stored["bias"]))
    return loader.convert_keras(model)
