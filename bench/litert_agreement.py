"""How closely the LiteRT runtime (the installed ``.tflite`` files) agrees with the Keras
networks it was converted from, on real inputs:

- descriptors of the first ``--faces`` photos of LFW dev (sorted by path; each detected,
  aligned and mirrored as in ``analyse``): max abs difference of raw descriptors, of the
  final unit-length descriptors, and of the distances between all of them;
- expressions of ``--fer`` FER2013 public-test images (``eval_expression``'s fixed sample):
  how many get the same top-1 class, and the max abs probability difference.

    .venv/bin/python bench/litert_agreement.py [--faces 200] [--fer 200]

Needs the installed models, TensorFlow and ../shared/data (FACEWEB_DATA_DIR).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEWEB_DATA_DIR") or ROOT.parent / "shared" / "data")
sys.path.insert(0, str(ROOT))

from bench.embed_speed import tensorflow_embedder
from bench.expression_speed import tensorflow_predict
from recognition.pipeline import analyse, embed, eval_expression, expression, loader
from recognition.pipeline.image import load_image


def unit_mean(both: np.ndarray) -> np.ndarray:
    half = len(both) // 2
    mean = (both[:half] + both[half:]) / 2
    return mean / np.linalg.norm(mean, axis=1, keepdims=True)


def distances(x: np.ndarray) -> np.ndarray:
    return np.linalg.norm(x[:, None] - x[None], axis=-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=200)
    parser.add_argument("--fer", type=int, default=200)
    args = parser.parse_args()

    detector = loader.get_detector()
    chips, mirrored = [], []
    for path in sorted((DATA / "lfw-dev" / "images").glob("*/*.jpg")):
        image = load_image(path)
        found = detector.detect(image)
        if found:
            c, m = analyse.align_faces(image, [found[0].landmarks], template=detector.template)
            chips.append(c[0])
            mirrored.append(m[0])
        if len(chips) == args.faces:
            break
    both = np.concatenate([np.stack(chips), np.stack(mirrored)])
    ours = embed.embed(loader.get_embedder(), both)
    reference = tensorflow_embedder()
    theirs = np.concatenate([reference(both[i : i + 32]) for i in range(0, len(both), 32)])
    final_ours, final_theirs = unit_mean(ours), unit_mean(theirs)
    print(f"descriptors of {len(chips)} LFW dev faces (and their mirror images), LiteRT vs Keras:")
    print(f"  raw descriptor max abs difference   {np.abs(ours - theirs).max():.2e}")
    print(f"  unit descriptor max abs difference  {np.abs(final_ours - final_theirs).max():.2e}")
    print(
        "  pairwise distance max abs difference "
        f"{np.abs(distances(final_ours) - distances(final_theirs)).max():.2e}"
    )

    images = eval_expression.labelled_images(
        root=DATA / "fer2013" / "public_test", limit=args.fer
    )
    faces = np.stack([eval_expression.read_rgb(path) for path, _ in images])
    ours = expression.predict(loader.get_net("expression"), faces)
    theirs = tensorflow_predict()(faces)  # face-api's column order, which is EXPRESSIONS'
    same = int((ours.argmax(axis=1) == theirs.argmax(axis=1)).sum())
    print(f"expressions of {len(images)} FER2013 public-test images, LiteRT vs Keras:")
    print(f"  same top-1 class {same}/{len(images)}; "
          f"max abs probability difference {np.abs(ours - theirs).max():.2e}")


if __name__ == "__main__":
    main()
