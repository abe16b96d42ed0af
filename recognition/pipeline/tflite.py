"""A converted TFLite network called like a function on numpy arrays: the runtime of every
model (detectors, embedder, expression).

The standalone LiteRT interpreter (package ``ai-edge-litert``) runs the ``.tflite`` files that
``install_models`` writes, so an analysing process never imports TensorFlow (whose import
alone held about 510 MiB). Its XNNPACK kernels also run the convolutions faster than
TensorFlow's own on a 2-core CPU, but an interpreter is planned for one input shape. A new
interpreter for a new shape costs about one extra run (new memory, paged in on the first run:
~160 ms for a 1152x928 photo here), while resizing an interpreter that already ran a larger
input costs ~15 ms and its first run is as fast as the next. So one interpreter is kept per
recently seen input shape, and when a new shape would exceed ``max_shapes`` the least
recently used one is resized for it rather than replaced. Batches of any length are cut into
a few fixed sizes (:func:`run_batched`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

# Threads for each interpreter made from now on (the app sets FACEWEB_MODEL_THREADS at start).
THREADS = 2


class TfliteNet:
    """``net(*inputs) -> outputs``: numpy arrays in, a tuple of numpy arrays out, in the order
    the converted function returns them. Thread-safe.

    ``max_shapes``: interpreters kept; beyond it the least recently used one is resized for
    the new shape. An interpreter's memory grows with its input (RetinaFace: about 70 MB at
    640x480, 240 MB at 1280x960) and stays that of the largest input it ran.
    """

    def __init__(self, model: bytes, *, max_shapes: int = 48) -> None:
        self._model, self._max_shapes = model, max_shapes
        self._interpreters: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        key = tuple(x.shape for x in inputs)
        with self._lock:
            interpreter = self._interpreters.pop(key, None)
            if interpreter is None:
                spare = None
                if self._interpreters and len(self._interpreters) >= self._max_shapes:
                    spare = self._interpreters.popitem(last=False)[1]
                interpreter = self._plan(spare or self._new(), inputs)
            self._interpreters[key] = interpreter
            for spec, x in zip(interpreter.get_input_details(), inputs, strict=True):
                interpreter.set_tensor(spec["index"], x)
            interpreter.invoke()
            outputs = interpreter.get_output_details()
            if len(outputs) > 1:
                # A converted function's outputs are named Identity, Identity_1, ... in the
                # order it returns them.
                outputs = sorted(outputs, key=_output_position)
            return tuple(interpreter.get_tensor(d["index"]) for d in outputs)

    @property
    def shapes(self) -> list[tuple]:
        """The input shapes with an interpreter, oldest first."""
        return list(self._interpreters)

    def _new(self):
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter(model_content=self._model, num_threads=THREADS)

    @staticmethod
    def _plan(interpreter, inputs: tuple[np.ndarray, ...]):
        for spec, x in zip(interpreter.get_input_details(), inputs, strict=True):
            interpreter.resize_tensor_input(spec["index"], x.shape, strict=True)
        interpreter.allocate_tensors()
        return interpreter


def _output_position(spec: dict) -> int:
    _, _, number = spec["name"].partition("_")
    return int(number or 0)


def run_batched(net: TfliteNet, x: np.ndarray, *, chunk: int) -> np.ndarray:
    """``net(x)[0]`` for a batch ``x`` of any length, run in parts of ``chunk`` rows; the last
    part is padded with zeros to a power of two, so the net sees at most ``log2(chunk) + 1``
    batch shapes (one interpreter each). Rows do not affect each other: results are those
    of running each row alone, to float rounding."""
    parts = []
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk]
        padded = 1 << (len(part) - 1).bit_length()
        if padded != len(part):
            part = np.concatenate([part, np.zeros((padded - len(part), *part.shape[1:]), x.dtype)])
        parts.append(net(part)[0][: min(chunk, len(x) - start)])
    return np.concatenate(parts)
