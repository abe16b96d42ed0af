"""The Keras port of face-api's AgeGenderNet, as installed (converted to TFLite), checked against
face-api itself (tests/fixtures/face_api_age_gender.json, bench/face_api_heads.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from bench.face_api_heads import build_input, sha256
from recognition.pipeline import age_gender, loader, quality

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("FACEWEB_DATA_DIR", ROOT / ".." / "shared" / "data"))
FIXTURE = json.loads((ROOT / "tests" / "fixtures" / "face_api_age_gender.json").read_text())


@pytest.fixture(scope="module")
def model():
    if not (loader.face_api_dir() / age_gender.MANIFEST).is_file():
        pytest.skip(f"face-api weights not found in {loader.face_api_dir()}: run `npm install`")
    loader.install_models(names=["age_gender"])
    return loader.get_net("age_gender")


@pytest.mark.parametrize("entry", FIXTURE["inputs"], ids=lambda e: e["name"])
def test_it_gives_face_apis_own_age_and_gender(model, entry):
    if "file" in entry and not (DATA / entry["file"]).is_file():
        pytest.skip(f"{entry['file']} not in the shared data")
    pixels = build_input(entry, data=DATA)
    assert sha256(pixels) == entry["sha256"]  # the very pixels face-api saw

    age, male, female = age_gender.predict(model, pixels[None])[0]

    assert abs(age - entry["outputs"][0]) < 0.01  # years
    np.testing.assert_allclose([male, female], entry["outputs"][1:], atol=1e-4)


def test_the_product_averages_each_face_with_its_mirror_image(model):
    faces = np.random.default_rng(5).integers(0, 256, (3, 112, 112, 3), np.uint8)
    read = age_gender.read(faces)
    mirrored = age_gender.read(np.ascontiguousarray(faces[:, :, ::-1]))

    np.testing.assert_allclose(read, mirrored, atol=1e-4)  # the same face either way round
    np.testing.assert_allclose(read[:, 1] + read[:, 2], 1, atol=1e-5)
    assert age_gender.read(faces[:0]).shape == (0, 3)
    with pytest.raises(ValueError, match="uint8 RGB"):
        age_gender.predict(model, faces.astype(np.float32))


def test_gender_is_the_likelier_one_with_how_sure():
    assert age_gender.gender(0.9) == ("male", 0.9)
    assert age_gender.gender(0.25) == ("female", 0.75)
    assert age_gender.gender(None) == (None, None)


def test_the_quality_score_is_one_for_a_big_sharp_frontal_face_and_falls_with_each_flaw():
    best = {"side": 120, "sharpness": 60, "yaw": 0, "pitch": 0, "detection": 1.0}
    assert quality.score(**best) == 1.0
    assert quality.score(**best | {"side": 40}) == pytest.approx(0.5)
    assert quality.score(**best | {"sharpness": 10}) == pytest.approx(0.25)
    assert quality.score(**best | {"yaw": 60}) == pytest.approx(0.5)
    assert quality.score(**best | {"yaw": 95}) == 0.0
    assert quality.score(**best | {"detection": 0.8}) == pytest.approx(0.8)

