"""analyse_image end to end with the real models on real photos (skipped without the data)."""

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from recognition.pipeline import analyse, embed, loader, matching, spec
from recognition.pipeline.image import load_image
from recognition.pipeline.types import EXPRESSIONS, ImageAnalysis

FR = "face_recognition_samples/examples"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def analysed(samples_dir: Path) -> dict[str, ImageAnalysis]:
    """Each sample photo analysed once for the whole module."""
    if not (loader.face_api_dir() / embed.MANIFEST).exists():
        pytest.skip(f"face-api weights missing in {loader.face_api_dir()}: run `npm install`")
    loader.install_models()  # idempotent: converts only what is missing
    names = ("obama.jpg", "obama2.jpg", "obama-480p.jpg", "biden.jpg", "two_people.jpg")
    return {name: analyse.analyse_image(load_image(samples_dir / FR / name)) for name in names}


def only_face(analysis: ImageAnalysis):
    assert len(analysis.faces) == 1
    return analysis.faces[0]


def is_same(a: np.ndarray, b: np.ndarray) -> bool:
    return matching.is_match(matching.distance(a, b), spec.DEFAULT_THRESHOLD)


def test_the_same_person_is_closer_than_the_threshold_and_others_farther(analysed):
    obama, obama2 = only_face(analysed["obama.jpg"]), only_face(analysed["obama2.jpg"])
    biden = only_face(analysed["biden.jpg"])

    same = matching.distance(obama.embedding, obama2.embedding)
    different = matching.distance(obama.embedding, biden.embedding)

    assert same < spec.DEFAULT_THRESHOLD < different
    assert is_same(obama.embedding, obama2.embedding)
    assert not is_same(obama2.embedding, biden.embedding)


def test_it_recognises_both_people_in_a_photo_of_two(analysed):
    # two_people.jpg: Obama on the left, Biden on the right.
    faces = sorted(analysed["two_people.jpg"].faces, key=lambda f: f.detection.box[0])
    assert len(faces) == 2
    obama, biden = only_face(analysed["obama.jpg"]), only_face(analysed["biden.jpg"])

    assert is_same(faces[0].embedding, obama.embedding)
    assert not is_same(faces[0].embedding, biden.embedding)
    assert is_same(faces[1].embedding, biden.embedding)
    assert not is_same(faces[1].embedding, obama.embedding)


def test_a_smiling_face_comes_out_happy(analysed):
    face = only_face(analysed["obama-480p.jpg"])
    assert face.expression == "happy"
    assert face.expression_scores["happy"] > 0.9


def test_every_face_has_a_unit_descriptor_a_chip_and_all_expression_scores(analysed):
    for name, analysis in analysed.items():
        for face in analysis.faces:
            assert face.embedding.shape == (128,) and face.embedding.dtype == np.float32
            assert np.linalg.norm(face.embedding) == pytest.approx(1.0, abs=1e-5), name
            assert face.chip.shape == (150, 150, 3) and face.chip.dtype == np.uint8
            assert list(face.expression_scores) == list(EXPRESSIONS)
            assert sum(face.expression_scores.values()) == pytest.approx(1.0, abs=1e-3)
            assert face.expression == max(face.expression_scores, key=face.expression_scores.get)


def test_it_reports_the_image_size_and_the_time_of_every_stage(analysed, samples_dir):
    analysis = analysed["obama.jpg"]
    height, width = load_image(samples_dir / FR / "obama.jpg").shape[:2]
    assert (analysis.width, analysis.height) == (width, height)
    assert set(analysis.timings_ms) == {"detect", "align", "embed", "expression", "attributes"}
    assert all(ms >= 0 for ms in analysis.timings_ms.values())
    assert analysis.timings_ms["detect"] > 0 and analysis.timings_ms["embed"] > 0


def test_it_estimates_age_and_gender_unless_told_not_to(analysed, samples_dir):
    [face] = analysed["obama.jpg"].faces
    assert 35 < face.age < 65 and face.male > 0.9  # a man in his late forties

    image = load_image(samples_dir / FR / "obama.jpg")
    analysis = analyse.analyse_image(image, attributes=False)
    assert [(f.age, f.male) for f in analysis.faces] == [(None, None)]
    assert "attributes" not in analysis.timings_ms


def test_an_image_without_faces_gives_no_faces(analysed):
    # A sky-to-ground gradient with soft blotches: photo-like texture, no face.
    rng = np.random.default_rng(0)
    y = np.linspace(0, 1, 480)[:, None, None]
    sky, ground = np.array([120, 170, 230]), np.array([70, 110, 40])
    image = (1 - y) * sky + y * ground + np.zeros((480, 640, 3))
    blotches = cv2.GaussianBlur(rng.normal(0, 40, (480, 640, 3)), (0, 0), 8)
    image = np.clip(image + blotches, 0, 255).astype(np.uint8)

    analysis = analyse.analyse_image(image)

    assert analysis.faces == []
    assert (analysis.width, analysis.height) == (640, 480)
    assert set(analysis.timings_ms) == {"detect", "align", "embed", "expression", "attributes"}


def test_a_big_photo_gives_the_same_faces_in_its_own_pixels_as_at_full_size(
    analysed, samples_dir, tmp_path
):
    """analyse_file decodes a big JPEG at reduced size and maps the faces back."""
    with Image.open(samples_dir / FR / "obama.jpg") as photo:
        canvas = Image.new("RGB", (6000, 4000), "white")
        canvas.paste(photo.resize((photo.width * 3, photo.height * 3)), (2000, 1000))
    path = tmp_path / "big.jpg"
    canvas.save(path, quality=92)

    reduced = analyse.analyse_file(path)
    full = analyse.analyse_image(load_image(path))
    assert (reduced.width, reduced.height) == (full.width, full.height) == (6000, 4000)
    face, expected = only_face(reduced), only_face(full)
    assert np.allclose(face.detection.box, expected.detection.box, atol=12)
    assert np.allclose(face.detection.landmarks, expected.detection.landmarks, atol=12)
    assert matching.distance(face.embedding, expected.embedding) < 0.1


def test_analysing_a_photo_imports_neither_tensorflow_nor_keras(analysed, samples_dir: Path):
    # Every model runs in the LiteRT interpreter: TensorFlow is for install_models only.
    code = (
        "import sys; from recognition.pipeline import analyse, spec;"
        "spec.warm_up();"
        f"faces = analyse.analyse_file({str(samples_dir / FR / 'two_people.jpg')!r}).faces;"
        "print(len(faces), sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.split("\n")[-2] == "2 []"


def test_the_crop_of_a_face_cut_by_the_photos_edge_has_no_black_wedge(samples_dir: Path):
    image = load_image(samples_dir / "face_recognition_samples" / "examples" / "obama.jpg")
    face = only_face(analyse.analyse_image(image))
    x1, _, x2, _ = face.detection.box
    cut = np.ascontiguousarray(image[:, int(x1 + (x2 - x1) * 0.15):])  # the face's left edge gone
    found = only_face(analyse.analyse_image(cut))
    network_chip = analyse.align_faces(cut, [found.detection.landmarks])[0][0]
    black = (network_chip.max(axis=2) == 0).mean()
    assert black > 0.02  # what the network sees: black beyond the photo, as dlib's chips
    assert (found.chip.max(axis=2) == 0).mean() < black / 10  # what people see: the edge
