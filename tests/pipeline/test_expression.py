"""The Keras port of face-api's FaceExpressionNet, checked against face-api itself."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from bench.face_api_expressions import build_input, sha256
from recognition.pipeline import expression
from recognition.pipeline.tfjs import read_manifest
from recognition.pipeline.types import EXPRESSIONS

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("FACEWEB_DATA_DIR", ROOT / ".." / "shared" / "data"))
WEIGHTS = ROOT / "node_modules" / "@vladmandic" / "face-api" / "model" / expression.MANIFEST
FIXTURE = json.loads((ROOT / "tests" / "fixtures" / "face_api_expressions.json").read_text())

needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"evaluation data not found at {DATA} (set FACEWEB_DATA_DIR)"
)


@pytest.fixture(scope="module")
def model():
    if not WEIGHTS.is_file():
        pytest.skip(f"face-api weights not found at {WEIGHTS}: run `npm install`")
    return expression.build_model(read_manifest(WEIGHTS))


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
    reference = np.array(entry["probabilities"])[
        [FIXTURE["labels"].index(name) for name in EXPRESSIONS]
    ]

    probs = expression.predict(model, pixels[None])[0]

    assert np.abs(probs - reference).max() < 1e-4
    # Saturated softmax hides logit errors; compare logs where float32 still resolves them.
    resolved = reference > 1e-6
    assert np.abs(np.log(probs[resolved]) - np.log(reference[resolved])).max() < 1e-3


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
