"""A converted TFLite network called like a function on numpy arrays (the detectors' runtime).

TFLite's XNNPACK kernels run the detectors' convolutions faster than TensorFlow's own on a
2-core CPU, but an interpreter is planned for one input shape: re-planning (new memory, new
XNNPACK packing) costs about one or two runs. So one interpreter is kept per recently seen
input shape, the least recently used dropped first.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict

import numpy as np


class TfliteNet:
    """``net(*inputs) -> outputs``: numpy arrays in, a tuple of numpy arrays out, in the order
    the converted function returns them. Thread-safe.

    ``max_shapes``: interpreters kept. ``max_elements``: also drop the oldest while the kept
    interpreters' inputs hold more elements than this together (an interpreter's memory grows
    with its input: about 70 MB at 640x480 for RetinaFace, 240 MB at 1280x960), always keeping
    the newest.
    """

    def __init__(
        self, model: bytes, *, max_shapes: int = 48, max_elements: int | None = None
    ) -> None:
        self._model, self._max_shapes, self._max_elements = model, max_shapes, max_elements
        self._interpreters: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, *inputs: np.ndarray) -> tuple[np.ndarray, ...]:
        key = tuple(x.shape for x in inputs)
        with self._lock:
            interpreter = self._interpreters.pop(key, None) or self._new(inputs)
            self._interpreters[key] = interpreter
            while len(self._interpreters) > 1 and (
                len(self._interpreters) > self._max_shapes or self._too_large()
            ):
                self._interpreters.popitem(last=False)
            for spec, x in zip(interpreter.get_input_details(), inputs, strict=True):
                interpreter.set_tensor(spec["index"], x)
            interpreter.invoke()
            # Outputs are named Identity, Identity_1, ... in the order the function returns them.
            outputs = sorted(interpreter.get_output_details(), key=_output_position)
            return tuple(interpreter.get_tensor(d["index"]) for d in outputs)

    @property
    def shapes(self) -> list[tuple]:
        """The input shapes with an interpreter, oldest first."""
        return list(self._interpreters)

    def _too_large(self) -> bool:
        if self._max_elements is None:
            return False
        held = sum(int(np.prod(shape)) for key in self._interpreters for shape in key)
        return held > self._max_elements

    def _new(self, inputs: tuple[np.ndarray, ...]):
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
            # Two threads: the target machine's cores.
            interpreter = tf.lite.Interpreter(model_content=self._model, num_threads=2)
        for spec, x in zip(interpreter.get_input_details(), inputs, strict=True):
            interpreter.resize_tensor_input(spec["index"], x.shape, strict=True)
        interpreter.allocate_tensors()
        return interpreter


def _output_position(spec: dict) -> int:
    _, _, number = spec["name"].partition("_")
    return int(number or 0)
