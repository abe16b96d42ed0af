"""The MTCNN detector (detectors/mtcnn.py) on real photos: counts, geometry, odd inputs,
agreement with the package. What every detector must do: test_detectors.py."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from recognition.pipeline import detectors
from recognition.pipeline.detectors import mtcnn as detect
from recognition.pipeline.image import load_image
from recognition.pipeline.types import Detection
from tests.pipeline.test_detectors import iou

FR = "face_recognition_samples/examples"


@pytest.fixture(scope="module")
def detector() -> detect.MtcnnDetector:
    return detectors.get("mtcnn").nets


def assert_plausible_face(face: Detection, image: np.ndarray) -> None:
    x1, y1, x2, y2 = face.box
    assert 0 <= x1 < x2 <= image.shape[1] and 0 <= y1 < y2 <= image.shape[0]
    assert face.landmarks.shape == (5, 2) and face.landmarks.dtype == np.float32
    xs, ys = face.landmarks[:, 0], face.landmarks[:, 1]
    assert ((xs > x1) & (xs < x2) & (ys > y1) & (ys < y2)).all(), "landmarks inside the box"
    left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
    assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0], "picture-left first"
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_it_finds_exactly_one_face_in_single_portraits(detector, samples_dir: Path):
    # obama.jpg also holds a face-like patch the packaged mtcnn reports (MODELS.md); the
    # default score threshold keeps it out.
    for name in ("obama.jpg", "biden.jpg", "obama_small.jpg", "alex-lacamoire.png"):
        image = load_image(samples_dir / FR / name)
        faces = detect.detect(detector, image)
        assert len(faces) == 1, name
        assert faces[0].score >= 0.95
        assert_plausible_face(faces[0], image)


def test_it_finds_every_face_in_group_photos(detector, samples_dir: Path):
    expected = {
        f"{FR}/two_people.jpg": 2,
        f"{FR}/knn_examples/test/obama_and_biden.jpg": 3,
        "deepface_test_dataset/couple.jpg": 2,
    }
    for name, count in expected.items():
        image = load_image(samples_dir / name)
        faces = detect.detect(detector, image)
        assert len(faces) == count, name
        for face in faces:
            assert_plausible_face(face, image)
    selfie = load_image(samples_dir / "deepface_test_dataset/selfie-many-people.jpg")
    assert len(detect.detect(detector, selfie)) >= 4


def test_faces_come_sorted_by_score_and_do_not_overlap(detector, samples_dir: Path):
    faces = detect.detect(detector, load_image(samples_dir / FR / "two_people.jpg"))
    assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)
    assert iou(faces[0].box, faces[1].box) == 0


def test_it_finds_nothing_in_blank_or_noise_images(detector):
    rng = np.random.default_rng(0)
    for image in (
        np.zeros((480, 640, 3), np.uint8),
        np.full((300, 300, 3), 255, np.uint8),
        rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
        np.zeros((5, 7, 3), np.uint8),  # smaller than P-Net's 12 px window
    ):
        assert detect.detect(detector, image) == []


def test_grayscale_and_rgba_files_are_found_like_the_rgb_photo(
    detector, samples_dir: Path, tmp_path: Path
):
    # load_image turns any mode into RGB upstream; the detector must see the same face.
    path = samples_dir / FR / "obama.jpg"
    reference = detect.detect(detector, load_image(path))[0]
    with Image.open(path) as photo:
        photo.convert("L").save(tmp_path / "gray.jpg", quality=95)
        rgba = photo.convert("RGBA")
        rgba.putalpha(255)
        rgba.save(tmp_path / "rgba.png")
    for name in ("gray.jpg", "rgba.png"):
        image = load_image(tmp_path / name)
        faces = detect.detect(detector, image)
        assert len(faces) == 1, name
        assert iou(faces[0].box, reference.box) > 0.8, name
        assert_plausible_face(faces[0], image)


def test_it_finds_nothing_in_the_background_of_a_real_photo(detector, samples_dir: Path):
    image = load_image(samples_dir / FR / "two_people.jpg")
    faces = detect.detect(detector, image)
    # The strips left and right of the two faces, clear of them by 10 px.
    left = int(min(face.box[0] for face in faces)) - 10
    right = int(max(face.box[2] for face in faces)) + 10
    for strip in (image[:, :left], image[:, right:]):
        assert strip.shape[1] >= 100, "enough background to search"
        assert detect.detect(detector, np.ascontiguousarray(strip)) == []


def test_a_huge_photo_is_searched_downscaled_and_boxes_come_back_in_its_pixels(
    detector, samples_dir: Path
):
    image = load_image(samples_dir / FR / "two_people.jpg")  # 1126 x 661
    huge = cv2.resize(image, None, fx=4, fy=4, interpolation=cv2.INTER_LINEAR)  # 4504 x 2644
    small_faces = detect.detect(detector, image)
    huge_faces = detect.detect(detector, huge)
    assert len(huge_faces) == len(small_faces) == 2
    for small, big in zip(small_faces, huge_faces, strict=True):
        assert iou([v * 4 for v in small.box], big.box) > 0.8
        assert np.abs(small.landmarks * 4 - big.landmarks).max() < 0.05 * (big.box[2] - big.box[0])


def test_faces_well_below_min_face_size_are_not_searched(detector, samples_dir: Path):
    image = load_image(samples_dir / FR / "two_people.jpg")  # faces ~150 x 200 px
    assert len(detect.detect(detector, image, min_face_size=100)) == 2
    assert detect.detect(detector, image, min_face_size=400) == []


def test_it_refuses_arrays_that_are_not_rgb_uint8(detector):
    with pytest.raises(ValueError, match="uint8"):
        detect.detect(detector, np.zeros((40, 40, 3), np.float32))
    with pytest.raises(ValueError):
        detect.detect(detector, np.zeros((40, 40), np.uint8))


@pytest.mark.slow
# The mtcnn package (the reference here, not our detector) reads its weights through joblib,
# whose lz4 reader is flushed after its file is closed: on Python 3.13 an unraisable error.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_it_agrees_with_the_packaged_mtcnn_on_sample_photos(detector, samples_dir: Path):
    from recognition.pipeline.eval_detection import package_detector

    package = package_detector()
    names = [
        f"{FR}/obama.jpg",
        f"{FR}/two_people.jpg",
        f"{FR}/knn_examples/test/obama_and_biden.jpg",
        "deepface_test_dataset/img12.jpg",
        "deepface_test_dataset/img54.jpg",
    ]
    for name in names:
        image = load_image(samples_dir / name)
        ours = detect.detect(detector, image, score_threshold=0.8)  # the package's threshold
        theirs = [face for face in package(image) if face.score >= 0.9]
        assert theirs, name
        for reference in theirs:
            best = max(ours, key=lambda face: iou(face.box, reference.box))
            width = reference.box[2] - reference.box[0]
            assert iou(best.box, reference.box) > 0.8, name
            assert np.abs(best.landmarks - reference.landmarks).max() < 0.06 * width, name
            assert abs(best.score - reference.score) < 0.05, name
