"""Per-face time of the expression model at batch 1 and 8, on 150x120 crops and on the 112x112
ones the pipeline gives it (median of repeated runs): LiteRT
(``expression.predict`` on the installed ``expression.tflite``, the runtime) vs TensorFlow
(the same Keras network built from face-api's weights, one compiled call: the runtime
before LiteRT).

Both take the same uint8 crops and pad, resize and normalise them (``predict`` in
numpy, the TensorFlow call inside its graph), so the ratio compares the whole step in one run,
independent of how busy the machine is.

Run from the repository root: ``.venv/bin/python bench/expression_speed.py [--repeats 50]``
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recognition.pipeline import expression, loader, tfjs


def median_ms_per_face(fn, faces: np.ndarray, *, repeats: int) -> float:
    fn(faces)  # warm-up (tracing, allocations)
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn(faces)
        times.append(time.perf_counter() - tic)
    return 1000 * statistics.median(times) / len(faces)


def tensorflow_predict():
    """The Keras network from face-api's weights, with face-api's pad, TF1 resize and
    normalisation, as one compiled call on uint8 crops of one size."""
    tf = loader.import_tensorflow()
    manifest = loader.face_api_dir() / expression.MANIFEST
    model = expression.build_model(tfjs.read_manifest(manifest))

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
    def call(faces):
        x = tf.cast(faces, tf.float32)
        height, width = tf.shape(x)[1], tf.shape(x)[2]
        diff = tf.abs(height - width)
        after = (diff + 1) // 2
        pad = tf.stack([diff - after, after])
        zero = tf.zeros(2, tf.int32)
        x = tf.pad(x, tf.stack([zero, tf.where(height < width, pad, zero),
                                tf.where(width < height, pad, zero), zero]))
        x = tf.raw_ops.ResizeBilinear(images=x, size=[112, 112], align_corners=False,
                                      half_pixel_centers=False)
        return model((x - tf.constant((122.782, 117.001, 104.298))) / 255.0, training=False)

    return lambda x: call(x).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    model = loader.get_net("expression")
    reference = tensorflow_predict()
    rng = np.random.default_rng(0)
    print("   crop  batch  LiteRT ms/face  TensorFlow ms/face  ratio  max abs difference")
    for (height, width), batch in itertools.product(((150, 120), (112, 112)), (1, 8)):
        faces = rng.integers(0, 256, (batch, height, width, 3), dtype=np.uint8)
        ours = median_ms_per_face(
            lambda x: expression.predict(model, x), faces, repeats=args.repeats
        )
        theirs = median_ms_per_face(reference, faces, repeats=args.repeats)
        # predict reorders columns to EXPRESSIONS; face-api's order happens to be the same.
        difference = np.abs(expression.predict(model, faces) - reference(faces)).max()
        print(f"{height}x{width}  {batch:>5}  {ours:>14.2f}  {theirs:>18.2f}  {ours / theirs:>5.2f}  {difference:.1e}")


if __name__ == "__main__":
    main()
