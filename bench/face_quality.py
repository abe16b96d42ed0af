"""Sharpness and pose (recognition/pipeline/quality.py) of the faces the product detects on
WIDER FACE, by WIDER's own labels: blur (0 clear, 1 normal, 2 heavy) and pose (0 typical,
1 atypical); and the pose of the faces in LFW (mostly portraits). Prints percentiles per label
and, for candidate thresholds, the share of each label that a threshold would refuse: how
FACEWEB_MIN_SHARPNESS and FACEWEB_ENROL_MAX_YAW were chosen (dev data only).

    .venv/bin/python bench/face_quality.py [--images DIR --gt FILE] [--limit N]
        [--lfw DIR] [--lfw-every K]

Faces of at least 40 px, matched to a detection at IoU >= 0.5 (the product's crop and
landmarks of that detection).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEWEB_DATA_DIR") or ROOT.parent / "shared" / "data")
WIDER = DATA / "widerface-dev-restored"


def labelled_faces(gt: Path):
    """(path, boxes (N, 4) x1y1x2y2, blur (N,), pose (N,), invalid (N,)) per image."""
    lines = [line.strip() for line in gt.read_text().splitlines() if line.strip()]
    at = 0
    while at < len(lines):
        path, count = lines[at], int(lines[at + 1])
        rows = np.array([line.split() for line in lines[at + 2 : at + 2 + count]],
                        dtype=np.float64).reshape(-1, 10)
        at += 2 + count
        if count == 0 and at < len(lines) and len(lines[at].split()) == 10:
            at += 1
        boxes = np.concatenate([rows[:, :2], rows[:, :2] + rows[:, 2:4]], axis=1)
        yield path, boxes, rows[:, 4], rows[:, 9], rows[:, 7] > 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, default=WIDER / "images")
    parser.add_argument("--gt", type=Path, default=WIDER / "gt.txt")
    parser.add_argument("--limit", type=int, help="only the first N images")
    parser.add_argument("--lfw", type=Path, default=DATA / "lfw-dev" / "images")
    parser.add_argument("--lfw-every", type=int, default=5, help="every K-th LFW photo")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "faceweb.settings")
    import django

    django.setup()
    from recognition.pipeline import analyse, quality
    from recognition.pipeline.eval_detection import match
    from recognition.pipeline.image import load_image

    found: dict[str, list[tuple[float, float, int, int]]] = {"sharp": []}
    for i, (path, boxes, blur, pose, invalid) in enumerate(labelled_faces(args.gt)):
        if args.limit is not None and i >= args.limit:
            break
        big = ~invalid & (np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= 40)
        if not big.any():
            continue
        faces = analyse.analyse_image(load_image(args.images / path)).faces
        for face in faces:
            box = np.asarray(face.detection.box)[None]
            matched, _ = match(box, boxes[big], iou=0.5)
            if matched.any():
                k = int(np.flatnonzero(matched)[0])
                yaw, pitch, _ = quality.pose(face.detection.landmarks)
                found["sharp"].append((quality.sharpness(face.chip), abs(yaw), abs(pitch),
                                       int(blur[big][k]), int(pose[big][k])))
    rows = np.array(found["sharp"])
    print(f"{len(rows)} labelled faces of >= 40 px found")
    for name, column, label, values in (("sharpness", 0, 3, (0, 1, 2)), ("|yaw|", 1, 4, (0, 1)),
                                        ("|pitch|", 2, 4, (0, 1))):
        print(f"\n{name} by WIDER {'blur' if label == 3 else 'pose'} label: "
              "count, 10th / 50th / 90th percentile")
        for value in values:
            picked = rows[rows[:, label] == value, column]
            if len(picked):
                p10, p50, p90 = np.percentile(picked, [10, 50, 90])
                print(f"  {value}: {len(picked):4d}  {p10:8.1f} {p50:8.1f} {p90:8.1f}")
    print("\nsharpness threshold: share refused among clear / normal / heavy blur")
    for t in (5, 8, 10, 12, 15, 20, 30):
        shares = [(rows[rows[:, 3] == v, 0] < t).mean() if (rows[:, 3] == v).any() else
                  float("nan") for v in (0, 1, 2)]
        print(f"  < {t:3d}: " + " / ".join(f"{s:.1%}" for s in shares))

    # LFW: one face per photo (the largest), nearly all facing the camera more or less.
    lfw = []
    for path in sorted(args.lfw.glob("*/*.jpg"))[:: args.lfw_every]:
        faces = analyse.analyse_image(load_image(path)).faces
        if faces:
            face = max(faces, key=lambda f: f.detection.box[2] - f.detection.box[0])
            lfw.append([abs(v) for v in quality.pose(face.detection.landmarks)[:2]])
    lfw_rows = np.array(lfw).reshape(-1, 2)
    print(f"\nLFW: {len(lfw_rows)} faces; |yaw| 50th / 90th / 99th percentile "
          + " / ".join(f"{v:.1f}" for v in np.percentile(lfw_rows[:, 0], [50, 90, 99])))
    print("\n|yaw| threshold: share refused among WIDER typical / atypical pose, LFW")
    for t in (25, 30, 35, 40, 45, 50, 60):
        shares = [(rows[rows[:, 4] == v, 1] > t).mean() if (rows[:, 4] == v).any() else
                  float("nan") for v in (0, 1)] + [(lfw_rows[:, 0] > t).mean()]
        print(f"  > {t:3d}: " + " / ".join(f"{s:.1%}" for s in shares))


if __name__ == "__main__":
    main()
