"""A converted TFLite network called like a function on numpy arrays (the detectors' runtime).

TFLite's XNNPACK kernels run the detectors' convolutions faster than TensorFlow's own on a
2-core CPU, but an interpreter is planned for one input shape. A new interpreter for a new
shape costs about one extra run (new memory, paged in on the first run: ~160 ms for a
1152x928 photo here), while resizing an interpreter that already ran a larger input costs
~15 ms and its first run is as fast as the next. So one interpreter is kept per recently seen
input shape, and when a new shape would exceed ``max_shapes`` the least recently used one is
resized for it rather than replaced.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict

import numpy as np


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
            # Outputs are named Identity, Identity_1, ... in the order the function returns them.
            outputs = sorted(interpreter.get_output_details(), key=_output_position)
            return tuple(interpreter.get_tensor(d["index"]) for d in outputs)

    @property
    def shapes(self) -> list[tuple]:
        """The input shapes with an interpreter, oldest first."""
        return list(self._interpreters)

    def _new(self):
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
            # Two threads: the target machine's cores.
            return tf.lite.Interpreter(model_content=self._model, num_threads=2)

    @staticmethod
    def _plan(interpreter, inputs: tuple[np.ndarray, ...]):
        for spec, x in zip(interpreter.get_input_details(), inputs, strict=True):
            interpreter.resize_tensor_input(spec["index"], x.shape, strict=True)
        interpreter.allocate_tensors()
        return interpreter


def _output_position(spec: dict) -> int:
    _, _, number = spec["name"].partition("_")
    return int(number or 0)
