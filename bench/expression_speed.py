"""Per-face time of the expression model at batch 1 and 8 (median of repeated runs).

``predict`` (one compiled call: pad, resize, normalise, network) is timed on 150x120 uint8
crops. The reference, timed in the same run on the same inputs, is an eager Keras call of the
same network on already-preprocessed 112x112 input — so the ratio shows what compiling buys,
independent of how busy the machine is.

Run from the repository root: ``.venv/bin/python bench/expression_speed.py [--repeats 50]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recognition.pipeline import expression, loader


def median_ms_per_face(fn, faces: np.ndarray, *, repeats: int) -> float:
    fn(faces)  # warm-up (tracing, allocations)
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn(faces)
        times.append(time.perf_counter() - tic)
    return 1000 * statistics.median(times) / len(faces)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    model = loader.get_expression_model()
    rng = np.random.default_rng(0)
    print("batch  predict ms/face  eager ms/face  ratio")
    for batch in (1, 8):
        faces = rng.integers(0, 256, (batch, 150, 120, 3), dtype=np.uint8)
        ready = rng.normal(0, 0.3, (batch, 112, 112, 3)).astype(np.float32)
        fast = median_ms_per_face(
            lambda x: expression.predict(model, x), faces, repeats=args.repeats
        )
        eager = median_ms_per_face(
            lambda x: np.asarray(model(x, training=False)), ready, repeats=args.repeats
        )
        print(f"{batch:>5}  {fast:>15.2f}  {eager:>13.2f}  {fast / eager:>5.2f}")


if __name__ == "__main__":
    main()
