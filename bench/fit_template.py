"""Fit a detector's measured alignment template (``align.MEASURED_TEMPLATE`` for MTCNN,
``detectors.retinaface.MEASURED_TEMPLATE``): where its five keypoints fall in dlib's 150x150
face chip (``dlib.get_face_chip``, padding 0.25), the layout the descriptor was trained on. (The
detector's ``template`` is this, shrunk by ``align.TEMPLATE_SCALE``, tuned on LFW dev.)

Two stages, because dlib and TensorFlow live in different virtualenvs:

1. ``--dlib-chips OUT.npz`` (run by the dlib virtualenv): on every face dlib's HOG detector finds
   in the fitting photos, dlib's 5-point shape predictor and ``dlib.get_face_chip`` cut a 300x300
   chip with padding 1.0. That chip has the same scale as the 150x150 / padding 0.25 chip and the
   same centre, so a point at ``x`` in it sits at ``x - 75`` in the 150 chip (checked: the centre
   150x150 of the wide chip matches dlib's own 150 chip to resampling noise only at offset 75).
   The wide chip gives the detector the whole head to look at, as it has in a real photo.
2. Default (project virtualenv): runs the project's detector (``--detector NAME``, default the
   product's) on each wide chip, keeps the detection nearest the centre, shifts its keypoints
   by -75 and prints the per-point median.

Fitting photos are faces we never evaluate on: ``nuaa-dev/real`` and ``samples/`` from
``../shared/data`` (not LFW). Usage, from the repository root::

    .venv/bin/python bench/fit_template.py [--data ../shared/data] [--detector NAME] \\
        [--bench-python .bench-venv/bin/python]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere
WIDE_SIZE, WIDE_PADDING, OFFSET = 300, 1.0, 75.0
POINTS = ("left eye", "right eye", "nose", "mouth left", "mouth right")


def fitting_photos(data: Path) -> dict[str, list[Path]]:
    """Photo paths per source group; none of them is LFW."""
    samples = sorted(
        p for p in (data / "samples").rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"}
    )
    return {"nuaa": sorted((data / "nuaa-dev" / "real").glob("*.jpg")), "samples": samples}


def dlib_chips(*, data: Path, out: Path) -> None:
    """Stage 1 (dlib virtualenv): write wide dlib chips (N, 300, 300, 3) uint8 RGB and groups."""
    import dlib
    import face_recognition_models
    from PIL import Image

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(
        face_recognition_models.pose_predictor_five_point_model_location()
    )
    chips, groups = [], []
    for group, paths in fitting_photos(data).items():
        for path in paths:
            image = np.asarray(Image.open(path).convert("RGB"))
            for rect in detector(image, 1):
                shape = predictor(image, rect)
                chips.append(dlib.get_face_chip(image, shape, size=WIDE_SIZE, padding=WIDE_PADDING))
                groups.append(group)
    np.savez_compressed(out, chips=np.stack(chips), groups=np.array(groups))


def chip_keypoints(chips: np.ndarray, *, detector_name: str) -> np.ndarray:
    """Detector keypoints in 150-chip coordinates, (N, 5, 2) float32; NaN where nothing found."""
    from recognition.pipeline import detectors

    detector = detectors.get(detector_name)
    centre = np.array([WIDE_SIZE / 2, WIDE_SIZE / 2])
    out = np.full((len(chips), 5, 2), np.nan, np.float32)
    for i, chip in enumerate(chips):
        faces = detector.detect(chip)
        if faces:
            best = min(faces, key=lambda f: np.linalg.norm(f.landmarks.mean(0) - centre))
            out[i] = best.landmarks - OFFSET
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / ".." / "shared" / "data")
    parser.add_argument("--bench-python", default=str(ROOT / ".bench-venv" / "bin" / "python"))
    parser.add_argument("--dlib-chips", type=Path, help="stage 1 only: write chips here")
    parser.add_argument("--detector", help="a registered detector (default: the product's)")
    args = parser.parse_args()
    if args.dlib_chips:
        dlib_chips(data=args.data, out=args.dlib_chips)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chips.npz"
        stage1 = [args.bench_python, __file__, "--data", str(args.data), "--dlib-chips", str(path)]
        subprocess.run(stage1, check=True, env={**os.environ, "PYTHONPATH": ""})
        stored = np.load(path)
        chips, groups = stored["chips"], stored["groups"]
    from recognition.pipeline import detectors

    points = chip_keypoints(chips, detector_name=args.detector or detectors.default_name())
    found = ~np.isnan(points[:, 0, 0])
    print(f"{len(chips)} dlib chips, detector found a face in {found.sum()}", file=sys.stderr)
    for group in (*np.unique(groups), "all"):
        mask = found & ((groups == group) if group != "all" else True)
        median = np.median(points[mask], axis=0)
        spread = np.median(np.abs(points[mask] - median), axis=0)  # MAD, px
        print(f"{group} (n={mask.sum()}): median, then MAD in px")
        for name, (x, y), (dx, dy) in zip(POINTS, median, spread, strict=True):
            print(f"  {name:12s} ({x:7.3f}, {y:7.3f})   ±({dx:.2f}, {dy:.2f})")


if __name__ == "__main__":
    main()
