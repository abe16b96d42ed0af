"""Per-face descriptor time at batch 1 / 2 / 8 / 32: LiteRT (``embed.embed`` on the installed
``embedder.tflite``, the runtime) vs TensorFlow (the same Keras network built from face-api's
weights, called through one compiled ``tf.function``: the runtime before LiteRT).

    .venv/bin/python bench/embed_speed.py [--repeats 15]

Needs the installed models (``python manage.py install_models``) and TensorFlow. The two are
timed in alternation on the same random chips, so machine noise hits both alike.
``per_face_ms`` is reusable by the full benchmark.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recognition.pipeline import embed, loader, tfjs


def per_face_ms(fn: Callable[[np.ndarray], object], chips: np.ndarray) -> float:
    """Wall time of one ``fn(chips)`` call divided by the batch size, in ms."""
    start = time.perf_counter()
    np.asarray(fn(chips))
    return (time.perf_counter() - start) * 1000 / len(chips)


def tensorflow_embedder() -> Callable[[np.ndarray], np.ndarray]:
    """The Keras network from face-api's weights as one compiled call on uint8 chips."""
    tf = loader.import_tensorflow()
    model = embed.build_model(tfjs.read_manifest(loader.face_api_dir() / embed.MANIFEST))

    @tf.function(input_signature=[tf.TensorSpec([None, 150, 150, 3], tf.uint8)])
    def call(chips):
        return model(tf.cast(chips, tf.float32), training=False)

    return lambda x: call(x).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 8, 32])
    args = parser.parse_args()

    model = loader.get_embedder()
    variants = {"litert": lambda x: embed.embed(model, x), "tensorflow": tensorflow_embedder()}
    rng = np.random.default_rng(0)
    print(f"{'batch':>5} {'LiteRT ms/face':>15} {'TensorFlow ms/face':>19} {'ratio':>6}")
    for batch in args.batches:
        chips = rng.integers(0, 256, (batch, 150, 150, 3), dtype=np.uint8)
        for fn in variants.values():  # warm up: tracing, allocations
            fn(chips)
            fn(chips)
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.repeats):
            for name, fn in variants.items():
                times[name].append(per_face_ms(fn, chips))
        litert, tensorflow = (float(np.median(times[name])) for name in variants)
        print(f"{batch:>5} {litert:>15.2f} {tensorflow:>19.2f} {litert / tensorflow:>6.2f}")


if __name__ == "__main__":
    main()
