"""The Keras port of face-api's FaceRecognitionNet, checked against face-api itself.

``tests/fixtures/face_api_descriptors.json`` holds descriptors computed by face-api 1.7.15 in
Node (``node bench/face_api_reference.mjs`` rebuilds it) for the chips in ``CHIP_RECIPES``:
seeded synthetic chips, and fixed crops of photos in ``../shared/data/samples`` (the photos
themselves never enter the repository). ``python -m tests.pipeline.test_embed --write-chips DIR``
writes those chips for the Node script.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from recognition.pipeline import embed

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "face_api_descriptors.json"
DATA_DIR = Path(os.environ.get("FACEWEB_DATA_DIR", REPO / ".." / "shared" / "data"))
SAMPLES = DATA_DIR / "samples"

# Photo crops are (left, top, right, bottom) squares around faces that MTCNN found, resized to
# 150x150: roughly centred faces, not aligned chips, which is all a port check needs.
CHIP_RECIPES: list[dict] = [
    {"id": "noise", "kind": "noise", "seed": 0},
    {"id": "blocks", "kind": "blocks", "seed": 1},
    {
        "id": "obama",
        "kind": "photo",
        "path": "face_recognition_samples/examples/obama.jpg",
        "box": [305, 66, 681, 442],
    },
    {
        "id": "biden",
        "kind": "photo",
        "path": "face_recognition_samples/examples/biden.jpg",
        "box": [360, 150, 788, 578],
    },
    {
        "id": "obama2",
        "kind": "photo",
        "path": "face_recognition_samples/examples/obama2.jpg",
        "box": [106, 197, 561, 652],
    },
    {
        "id": "deepface_img1",
        "kind": "photo",
        "path": "deepface_test_dataset/img1.jpg",
        "box": [267, 128, 1180, 1041],
    },
    {
        "id": "two_people_right",
        "kind": "photo",
        "path": "face_recognition_samples/examples/two_people.jpg",
        "box": [755, 35, 979, 259],
    },
]


def make_chip(recipe: dict, *, samples_dir: Path = SAMPLES) -> np.ndarray:
    """The (150, 150, 3) uint8 RGB chip a recipe describes."""
    size = embed.CHIP_SIZE
    rng = np.random.default_rng(recipe.get("seed"))
    if recipe["kind"] == "noise":
        return rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    if recipe["kind"] == "blocks":  # smooth-ish structure: a 5x5 grid of random colours
        grid = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)
        return np.repeat(np.repeat(grid, size // 5, axis=0), size // 5, axis=1)
    from PIL import Image

    with Image.open(samples_dir / recipe["path"]) as image:
        crop = image.convert("RGB").crop(tuple(recipe["box"]))
        return np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def _sha256(chip: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(chip).tobytes()).hexdigest()


def write_chips(out_dir: Path) -> None:
    """Write ``chips.u8`` (N*150*150*3 bytes, RGB) and ``chips.json`` (recipes + sha256)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    chips = [make_chip(r) for r in CHIP_RECIPES]
    (out_dir / "chips.u8").write_bytes(np.stack(chips).tobytes())
    recipes = [{**r, "sha256": _sha256(c)} for r, c in zip(CHIP_RECIPES, chips, strict=True)]
    (out_dir / "chips.json").write_text(json.dumps(recipes, indent=1))


def _reference() -> list[dict | None]:
    if not FIXTURE.exists():  # fail below, rather than collect nothing
        return [None]
    return json.loads(FIXTURE.read_text())["chips"]


@pytest.fixture(scope="module")
def embedder():
    """The installed embedder (installs the converted weights first if needed)."""
    from recognition.pipeline import loader

    if not (loader.face_api_dir() / embed.MANIFEST).exists():
        pytest.skip(f"face-api weights missing in {loader.face_api_dir()}: run `npm install`")
    loader.install_models(names=["embedder"])
    return loader.get_embedder()


@pytest.mark.parametrize("reference", _reference(), ids=lambda r: r["id"] if r else "missing")
def test_port_agrees_with_face_api_on_the_reference_chips(embedder, reference):
    assert reference is not None, f"{FIXTURE} missing: run node bench/face_api_reference.mjs"
    if reference["kind"] == "photo" and not SAMPLES.is_dir():
        pytest.skip(f"sample photos absent at {SAMPLES} (set FACEWEB_DATA_DIR)")
    chip = make_chip(reference)
    # Same pixels as when the fixture was made, or the comparison would mean nothing.
    assert _sha256(chip) == reference["sha256"]

    ours = embed.embed(embedder, chip[None])[0]
    theirs = np.asarray(reference["descriptor"], np.float32)
    cosine = ours @ theirs / (np.linalg.norm(ours) * np.linalg.norm(theirs))
    assert cosine >= 0.999
    assert np.abs(ours - theirs).max() < 1e-3


def test_it_returns_one_128_float32_descriptor_per_chip(embedder):
    chips = np.stack([make_chip(r) for r in CHIP_RECIPES[:2]])
    descriptors = embed.embed(embedder, chips)
    assert descriptors.shape == (2, 128)
    assert descriptors.dtype == np.float32
    assert np.isfinite(descriptors).all()


def test_it_returns_an_empty_array_for_no_chips(embedder):
    descriptors = embed.embed(embedder, np.zeros((0, 150, 150, 3), np.uint8))
    assert descriptors.shape == (0, 128)
    assert descriptors.dtype == np.float32


def test_a_chip_gets_the_same_descriptor_alone_as_in_a_batch(embedder):
    rng = np.random.default_rng(7)
    batch = rng.integers(0, 256, (8, 150, 150, 3), dtype=np.uint8)
    together = embed.embed(embedder, batch)
    for i in (0, 5):
        alone = embed.embed(embedder, batch[i : i + 1])[0]
        np.testing.assert_allclose(alone, together[i], atol=1e-4)


def test_it_splits_large_inputs_without_changing_results(embedder):
    rng = np.random.default_rng(8)
    many = rng.integers(0, 256, (embed._BATCH + 3, 150, 150, 3), dtype=np.uint8)
    descriptors = embed.embed(embedder, many)
    assert descriptors.shape == (len(many), 128)
    np.testing.assert_allclose(embed.embed(embedder, many[-3:]), descriptors[-3:], atol=1e-4)


def test_any_number_of_chips_runs_in_a_few_batch_shapes(embedder):
    chips = np.zeros((embed._BATCH * 2 + 1, 150, 150, 3), np.uint8)
    for n in range(1, len(chips) + 1):
        embed.embed(embedder, chips[:n])
    # Parts of _BATCH chips, the last padded to a power of two: one interpreter each.
    assert sorted(shape[0][0] for shape in embedder.shapes) == [1, 2, 4, 8]


def test_it_rejects_chips_of_the_wrong_shape_or_dtype(embedder):
    with pytest.raises(ValueError, match="150, 150, 3"):
        embed.embed(embedder, np.zeros((1, 112, 112, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        embed.embed(embedder, np.zeros((1, 150, 150, 3), np.float32))


if __name__ == "__main__":  # used by bench/face_api_reference.mjs
    if len(sys.argv) != 3 or sys.argv[1] != "--write-chips":
        sys.exit("usage: python -m tests.pipeline.test_embed --write-chips OUT_DIR")
    write_chips(Path(sys.argv[2]))
