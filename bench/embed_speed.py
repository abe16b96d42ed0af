"""Per-face descriptor time at batch 1 / 8 / 32: compiled ``embed.embed`` vs an eager call.

    .venv/bin/python bench/embed_speed.py [--repeats 15]

Needs the installed models (``python manage.py install_models``). The two are timed in
alternation on the same random chips, so machine noise hits both alike; the eager Keras call
(``model(x)``) is the in-run reference. ``per_face_ms`` is reusable by the full benchmark.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recognition.pipeline import embed, loader


def per_face_ms(fn: Callable[[np.ndarray], object], chips: np.ndarray) -> float:
    """Wall time of one ``fn(chips)`` call divided by the batch size, in ms."""
    start = time.perf_counter()
    np.asarray(fn(chips))
    return (time.perf_counter() - start) * 1000 / len(chips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args()

    model = loader.get_embedder()
    variants = {
        "compiled": lambda x: embed.embed(model, x),
        "eager": lambda x: model(x.astype(np.float32), training=False),
    }
    rng = np.random.default_rng(0)
    print(f"{'batch':>5} {'compiled ms/face':>17} {'eager ms/face':>14} {'ratio':>6}")
    for batch in args.batches:
        chips = rng.integers(0, 256, (batch, 150, 150, 3), dtype=np.uint8)
        for fn in variants.values():  # warm up: tracing, allocations
            fn(chips)
            fn(chips)
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.repeats):
            for name, fn in variants.items():
                times[name].append(per_face_ms(fn, chips))
        compiled, eager = (float(np.median(times[name])) for name in variants)
        print(f"{batch:>5} {compiled:>17.2f} {eager:>14.2f} {compiled / eager:>6.2f}")


if __name__ == "__main__":
    main()
