"""Which crop of a detected face suits FaceExpressionNet best? Measured on FER2013 *train*.

FER2013's 48x48 files are already face crops, which is how face-api's net was trained to see
faces. To compare the crops the pipeline could feed it, each file is put back into a "photo":
upscaled 4x (192x192, bilinear) and framed by a gray border so the detector sees the whole
face. The project's detector runs on that, and the best face is cropped several ways:

- ``file``: the original 48x48 file (the reference: no detector involved);
- ``box``: the detection box, as face-api crops its own detections (``extractFaceTensors``);
- ``square``: ``expression.crop_for_expression``, the square on the box centre with side
  max(w, h), resized to 112x112;
- ``square_1.2``: the same for the box scaled 1.2x;
- ``chip``: the 150x150 aligned chip (``recognition.pipeline.align``), when that module exists;
- ``chip_wide``: the same alignment with the face at 80% of the chip's scale.

Accuracy is over the images where a face was found (the same set for every crop). Uses the
train split only, so nothing here is tuned on public_test.

Run from the repository root (a few minutes on 2 cores):
``.venv/bin/python bench/expression_crops.py [--per-class 300] [--json OUT]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recognition.pipeline import eval_expression, expression, loader
from recognition.pipeline.types import EXPRESSIONS, Detection

UPSCALE, BORDER, GRAY = 4, 64, 128


def scaled(detection: Detection, *, scale: float) -> Detection:
    """The box scaled about its centre."""
    x1, y1, x2, y2 = detection.box
    cx, cy, hw, hh = (x1 + x2) / 2, (y1 + y2) / 2, scale * (x2 - x1) / 2, scale * (y2 - y1) / 2
    return Detection((cx - hw, cy - hh, cx + hw, cy + hh), detection.landmarks, detection.score)


def box_crop(photo: np.ndarray, detection: Detection) -> np.ndarray:
    """face-api's crop: the box itself, rounded and clipped (predict pads it with black)."""
    x1, y1, x2, y2 = (max(0, round(v)) for v in detection.box)
    return np.ascontiguousarray(photo[y1:y2, x1:x2])


def crops(photo: np.ndarray, detection: Detection) -> dict[str, np.ndarray]:
    out = {
        "box": box_crop(photo, detection),
        "square": expression.crop_for_expression(photo, detection),
        "square_1.2": expression.crop_for_expression(photo, scaled(detection, scale=1.2)),
    }
    if importlib.util.find_spec("recognition.pipeline.align"):
        from recognition.pipeline import align

        out["chip"] = align.align(photo, detection.landmarks)
        # The same alignment with the face shrunk to 80% of the chip: more forehead and chin.
        centre = align.CHIP_SIZE / 2
        wide = (align.TEMPLATE - centre) * 0.8 + centre
        matrix = align.similarity(detection.landmarks, template=wide)
        size = (align.CHIP_SIZE, align.CHIP_SIZE)
        out["chip_wide"] = cv2.warpAffine(photo, matrix, size, flags=cv2.INTER_LINEAR)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-class", type=int, default=300, help="files per class (seeded)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    data = Path(os.environ.get("FACEWEB_DATA_DIR", ROOT / ".." / "shared" / "data"))
    train = data / "fer2013" / "train"

    detector = loader.get_detector()
    model = loader.get_net("expression")
    rng = random.Random(0)
    truth, predicted, missed = [], {}, 0
    for folder in sorted(train.iterdir()):
        label = EXPRESSIONS.index(eval_expression.FOLDER_LABELS[folder.name])
        files = sorted(folder.iterdir())
        for path in rng.sample(files, min(args.per_class, len(files))):
            face = eval_expression.read_rgb(path)
            photo = cv2.resize(face, None, fx=UPSCALE, fy=UPSCALE, interpolation=cv2.INTER_LINEAR)
            photo = cv2.copyMakeBorder(photo, *[BORDER] * 4, cv2.BORDER_CONSTANT, value=[GRAY] * 3)
            found = detector.detect(photo)
            if not found:
                missed += 1
                continue
            variants = {"file": face} | crops(photo, max(found, key=lambda d: d.score))
            for name, crop in variants.items():
                row = expression.predict(model, crop[None])[0]
                predicted.setdefault(name, []).append(int(row.argmax()))
            truth.append(label)

    truth_arr = np.array(truth)
    results = {"sampled": len(truth) + missed, "no_face": missed, "faces": len(truth)}
    for name, preds in predicted.items():
        summary = eval_expression.summarise(truth=truth_arr, predicted=np.array(preds))
        results[name] = {"accuracy": summary["accuracy"], "recall": summary["per_class_recall"]}
        recalls = " ".join(f"{k[:4]} {v:.2f}" for k, v in summary["per_class_recall"].items())
        print(f"{name:>11}: {summary['accuracy']:.2%}   {recalls}")
    print(f"{results['faces']} faces found in {results['sampled']} files ({missed} missed)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
