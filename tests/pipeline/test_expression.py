"""The Keras port of face-api's FaceExpressionNet, as installed (converted to TFLite) and run by
``predict``, checked against face-api itself."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from bench.face_api_heads import build_input, sha256
from recognition.pipeline import expression, loader
from recognition.pipeline.image import load_image
from recognition.pipeline.tfjs import read_manifest
from recognition.pipeline.types import EXPRESSIONS, Detection

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("FACEWEB_DATA_DIR", ROOT / ".." / "shared" / "data"))
WEIGHTS = ROOT / "node_modules" / "@vladmandic" / "face-api" / "model" / expression.MANIFEST
FIXTURE = json.loads((ROOT / "tests" / "fixtures" / "face_api_expression.json").read_text())

needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"evaluation data not found at {DATA} (set FACEWEB_DATA_DIR)"
)


@pytest.fixture(scope="module")
def model():
    """The installed expression model (installs it first if needed)."""
    if not WEIGHTS.is_file():
        pytest.skip(f"face-api weights not found at {WEIGHTS}: run `npm install`")
    loader.install_models(names=["expression"])
    return loader.get_net("expression")


def _reference_cases() -> list:
    """Seeded noise needs nothing; photo crops need the shared data."""
    return [
        pytest.param(entry, id=entry["name"], marks=[] if "seed" in entry else [needs_data])
        for entry in FIXTURE["inputs"]
    ]


@pytest.mark.parametrize("entry", _reference_cases())
def test_it_gives_face_apis_own_probabilities(model, entry):
    pixels = build_input(entry, data=DATA)
    assert sha256(pixels) == entry["sha256"], "input differs from the one face-api was given"
    reference = np.array(entry["outputs"])[
        [FIXTURE["labels"].index(name) for name in EXPRESSIONS]
    ]

    probs = expression.predict(model, pixels[None])[0]

    assert np.abs(probs - reference).max() < 1e-4
    # Saturated softmax hides logit errors; compare logs where float32 still resolves them.
    resolved = reference > 1e-6
    assert np.abs(np.log(probs[resolved]) - np.log(reference[resolved])).max() < 1e-3


# Face boxes (x1, y1, x2, y2) from MTCNN on the EXIF-oriented photos, fixed so these tests
# check the expression stage alone. Smiles chosen by eye: wide, teeth showing.
SMILING = {
    "face_recognition_samples/examples/obama.jpg": (381, 85, 613, 416),
    "deepface_test_dataset/img1.jpg": (447, 184, 1003, 994),
    "deepface_test_dataset/img15.jpg": (608, 246, 873, 624),
    "deepface_test_dataset/img23.jpg": (907, 394, 1474, 1153),
    "deepface_test_dataset/img24.jpg": (334, 217, 878, 929),
    "deepface_test_dataset/img38.jpg": (413, 72, 651, 382),
    "deepface_test_dataset/img50.jpg": (136, 98, 290, 320),
}
STRAIGHT_FACED = {
    "deepface_test_dataset/img30.jpg": (370, 190, 812, 792),
    "deepface_test_dataset/img36.jpg": (656, 223, 908, 568),
}


@pytest.fixture(scope="module", params=["face-api", "shipped"])
def reader(request, model):
    """Crops to probabilities: face-api's net alone, and what the product ships."""
    if request.param == "face-api":
        return lambda crops: expression.predict(model, crops)
    loader.install_models(names=list(expression.NETS))
    return expression.read


def _scores(reader, photo: str, box: tuple) -> dict[str, float]:
    image = load_image(DATA / "samples" / photo)
    detection = Detection(box=box, landmarks=np.zeros((5, 2), np.float32), score=1.0)
    probs = reader(expression.crop_for_expression(image, detection)[None])[0]
    return dict(zip(EXPRESSIONS, probs.tolist(), strict=True))


@needs_data
@pytest.mark.parametrize("photo", SMILING)
def test_obviously_smiling_faces_come_out_happy(reader, photo):
    scores = _scores(reader, photo, SMILING[photo])

    assert max(scores, key=scores.get) == "happy", scores
    # face-api alone is all but certain; the shipped mean less so (our network is trained
    # with label smoothing and is never that sure).
    assert scores["happy"] > 0.8, scores


@needs_data
@pytest.mark.parametrize("photo", STRAIGHT_FACED)
def test_straight_faces_do_not_come_out_happy(reader, photo):
    scores = _scores(reader, photo, STRAIGHT_FACED[photo])

    assert max(scores, key=scores.get) == "neutral", scores


def test_the_crop_is_the_nets_input_size_and_black_beyond_the_image():
    image = np.full((100, 80, 3), 200, np.uint8)
    # A 60x40 box hanging 20 px off the left edge: its 60x60 square spans x -30..30.
    detection = Detection(box=(-20, 20, 20, 80), landmarks=np.zeros((5, 2)), score=1.0)

    crop = expression.crop_for_expression(image, detection)

    assert crop.shape == (expression.INPUT_SIZE, expression.INPUT_SIZE, 3)
    assert crop.dtype == np.uint8
    assert (crop[:, :50] == 0).all() and (crop[:, 62:] == 200).all()


def test_each_row_is_a_probability_distribution(model):
    faces = np.random.default_rng(7).integers(0, 256, (5, 60, 50, 3), dtype=np.uint8)

    probs = expression.predict(model, faces)

    assert probs.shape == (5, len(EXPRESSIONS)) and probs.dtype == np.float32
    assert (probs >= 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_a_face_gets_the_same_scores_alone_or_in_a_batch(model):
    faces = np.random.default_rng(8).integers(0, 256, (8, 90, 90, 3), dtype=np.uint8)

    batch = expression.predict(model, faces)
    alone = np.concatenate([expression.predict(model, face[None]) for face in faces])

    np.testing.assert_allclose(batch, alone, atol=1e-6)


def test_no_faces_give_no_rows(model):
    probs = expression.predict(model, np.zeros((0, 112, 112, 3), np.uint8))

    assert probs.shape == (0, len(EXPRESSIONS))


def test_it_refuses_anything_but_uint8_rgb(model):
    with pytest.raises(ValueError, match="uint8 RGB"):
        expression.predict(model, np.zeros((1, 112, 112, 3), np.float32))


def test_it_refuses_incomplete_or_foreign_weights():
    weights = {"fc/weights": np.zeros((256, 7), np.float32)}
    with pytest.raises(ValueError, match="lack"):
        expression.build_model(weights)
    if WEIGHTS.is_file():
        full = read_manifest(WEIGHTS)
        with pytest.raises(ValueError, match="unexpected"):
            expression.build_model({**full, "extra/bias": np.zeros(3, np.float32)})
