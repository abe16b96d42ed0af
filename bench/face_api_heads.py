"""Write tests/fixtures/face_api_<net>.json: what face-api's own expression net (7
probabilities) or age/gender net (age, p(male), p(female)) answers for a set of face crops.

Builds each input of ``RECIPE`` (seeded noise, or a PIL crop of a photo in the shared data),
feeds the raw RGB bytes to ``bench/face_api_heads.mjs`` (face-api in Node, TF.js CPU backend)
and stores, per input, the recipe, the SHA-256 of the bytes fed and the net's outputs. Tests
rebuild the inputs with ``build_input`` and check the hash, so the port and face-api provably
saw the same pixels. No image is stored.

Run from the repository root: ``.venv/bin/python bench/face_api_heads.py --net expression``
(or ``age_gender``; ``FACEWEB_DATA_DIR`` overrides ``../shared/data``).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
NETS = {
    "expression": "FaceExpressionNet output (predictExpressions on a Tensor3D)",
    "age_gender": "AgeGenderNet output (predictAgeAndGender on a Tensor3D): age, p(male), "
    "p(female)",
}

# Boxes (x1, y1, x2, y2) are MTCNN detections rounded to pixels, on the EXIF-oriented image,
# and a few deliberate variants: square with margin, tiny source (upscaled), 48x48 grayscale.
RECIPE: list[dict] = [
    {"name": "noise_112x112", "seed": 1, "shape": [112, 112, 3]},
    {"name": "noise_97x130", "seed": 2, "shape": [97, 130, 3]},
    {"name": "noise_131x64", "seed": 3, "shape": [131, 64, 3]},
    {
        "name": "obama_box",
        "file": "samples/face_recognition_samples/examples/obama.jpg",
        "box": [381, 85, 613, 416],
    },
    {
        "name": "obama_square_margin",
        "file": "samples/face_recognition_samples/examples/obama.jpg",
        "box": [331, 85, 663, 417],
    },
    {
        "name": "obama_small_box",
        "file": "samples/face_recognition_samples/examples/obama_small.jpg",
        "box": [110, 39, 213, 189],
    },
    {
        "name": "deepface_img1_box",
        "file": "samples/deepface_test_dataset/img1.jpg",
        "box": [447, 184, 1003, 994],
    },
    {
        "name": "deepface_img30_box",
        "file": "samples/deepface_test_dataset/img30.jpg",
        "box": [370, 190, 812, 792],
    },
    {
        "name": "two_people_right_box",
        "file": "samples/face_recognition_samples/examples/two_people.jpg",
        "box": [792, 45, 939, 253],
    },
    {
        "name": "lin_manuel_miranda_box",
        "file": "samples/face_recognition_samples/examples/lin-manuel-miranda.png",
        "box": [269, 123, 533, 494],
    },
    {"name": "fer_surprise_whole", "file": "fer2013/public_test/surprise/PublicTest_10709121.jpg"},
]


def data_dir() -> Path:
    """The shared evaluation data: ``$FACEWEB_DATA_DIR`` or ``../shared/data`` from the repo."""
    return Path(os.environ.get("FACEWEB_DATA_DIR", ROOT / ".." / "shared" / "data"))


def build_input(entry: dict, *, data: Path) -> np.ndarray:
    """The (h, w, 3) uint8 RGB input one recipe entry describes."""
    if "seed" in entry:
        return np.random.default_rng(entry["seed"]).integers(
            0, 256, size=entry["shape"], dtype=np.uint8
        )
    with Image.open(data / entry["file"]) as image:
        image = ImageOps.exif_transpose(image).convert("RGB")
        if "box" in entry:
            image = image.crop(tuple(entry["box"]))
        return np.asarray(image, dtype=np.uint8)


def sha256(pixels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--net", choices=NETS, default="expression")
    net = parser.parse_args().net
    fixture_path = FIXTURES / f"face_api_{net}.json"
    data = data_dir()
    arrays = {entry["name"]: build_input(entry, data=data) for entry in RECIPE}
    request = {
        "net": net,
        "inputs": [
            {"name": name, "shape": list(a.shape), "rgb": base64.b64encode(a.tobytes()).decode()}
            for name, a in arrays.items()
        ]
    }
    node = subprocess.run(
        ["node", str(ROOT / "bench" / "face_api_heads.mjs")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
    )
    reference = json.loads(node.stdout)
    fixture = {
        "about": f"face-api's own {NETS[net]} for each input; written by "
        f"bench/face_api_heads.py --net {net}, which holds the recipe code.",
        "face_api": reference["face_api"],
        "tfjs": reference["tfjs"],
        "backend": reference["backend"],
        "labels": reference["labels"],
        "inputs": [
            {
                **entry,
                "input_shape": list(arrays[entry["name"]].shape),
                "sha256": sha256(arrays[entry["name"]]),
                "outputs": reference["outputs"][entry["name"]],
            }
            for entry in RECIPE
        ],
    }
    FIXTURES.mkdir(parents=True, exist_ok=True)
    # One line per input keeps the fixture short and its diffs readable.
    rows = ",\n  ".join(json.dumps(row) for row in fixture.pop("inputs"))
    head = json.dumps(fixture, indent=1)[:-2]
    fixture_path.write_text(f'{head},\n "inputs": [\n  {rows}\n ]\n}}\n')
    print(f"wrote {fixture_path.relative_to(ROOT)} ({len(RECIPE)} inputs)")


if __name__ == "__main__":
    main()
