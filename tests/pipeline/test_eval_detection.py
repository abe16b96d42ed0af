"""Detection evaluation: WIDER-format parsing, one-to-one matching and the figures."""

import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from recognition.pipeline import detectors, eval_detection
from recognition.pipeline.types import Detection

# Two images: three faces (the third marked invalid), then one without faces, which WIDER
# writes with a single all-zero row.
GT = """\
a/one.jpg
3
10 10 50 60 0 0 0 0 0 0
100 10 20 20 2 0 0 0 0 0
150 100 45 45 0 0 0 1 0 0
b/none.jpg
0
0 0 0 0 0 0 0 0 0 0
"""
DIFFICULTY = "a/one.jpg\teasy=1,2\tmedium=1,2\thard=1,2,3\nb/none.jpg\teasy=\tmedium=\thard=\n"


@pytest.fixture
def wider(tmp_path: Path) -> Path:
    (tmp_path / "gt.txt").write_text(GT)
    (tmp_path / "difficulty.txt").write_text(DIFFICULTY)
    for name in ("a/one.jpg", "b/none.jpg"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.new("RGB", (200, 160)).save(tmp_path / name)
    return tmp_path


def face(x1, y1, x2, y2, score=0.99) -> Detection:
    return Detection(box=(x1, y1, x2, y2), landmarks=np.zeros((5, 2), np.float32), score=score)


def test_it_reads_boxes_as_corners_with_invalid_and_easy_flags(wider: Path):
    one, none = eval_detection.read_ground_truth(
        gt=wider / "gt.txt", difficulty=wider / "difficulty.txt"
    )
    assert one.path == "a/one.jpg" and none.path == "b/none.jpg"
    np.testing.assert_allclose(one.boxes[0], [10, 10, 60, 70])
    assert one.invalid.tolist() == [False, False, True]
    assert one.easy.tolist() == [True, True, False]
    assert none.boxes.shape == (0, 4) and none.easy.shape == (0,)


def test_a_truncated_file_is_refused(tmp_path: Path):
    (tmp_path / "gt.txt").write_text("a/one.jpg\n10 10 50 60 0 0 0 0 0 0\n")
    with pytest.raises(ValueError, match="face count"):
        eval_detection.read_ground_truth(gt=tmp_path / "gt.txt")


def test_each_face_is_matched_by_one_detection_at_most():
    faces = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], float)
    detections = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [40, 40, 50, 50]], float)
    matched, unmatched = eval_detection.match(detections, faces, iou=0.4)
    # The duplicate of face 0 and the box on nothing are both false positives.
    assert matched.tolist() == [True, False] and unmatched == 2


def test_it_counts_easy_and_large_recall_and_false_positives(wider: Path):
    truth = eval_detection.read_ground_truth(
        gt=wider / "gt.txt", difficulty=wider / "difficulty.txt"
    )
    calls = iter(
        [
            # Image one: finds the big face (easy, >= 40 px), misses the small easy one, finds
            # the invalid one (not a false positive) and reports one box on nothing.
            [face(12, 12, 60, 70), face(150, 100, 195, 145), face(0, 100, 30, 130, 0.5)],
            [face(5, 5, 50, 50)],  # image two has no face: a false positive
        ]
    )
    figures = eval_detection.evaluate(
        detector=lambda image: next(calls), images_dir=wider, ground_truth=truth
    )
    assert figures["easy_faces"] == 2 and figures["recall_easy"] == 0.5
    assert figures["large_faces"] == 1 and figures["recall_large"] == 1.0
    assert figures["false_positives"] == 2 and figures["false_positives_per_image"] == 1.0


@pytest.mark.slow
def test_the_command_reports_the_figures_on_wider_dev(data_dir: Path, tmp_path: Path, capsys):
    wider = data_dir / "widerface-dev"
    if not wider.is_dir():
        pytest.skip(f"WIDER FACE dev data not found at {wider}")
    call_command(
        "evaluate_detection",
        images=wider / "images",
        gt=wider / "gt_416x416.txt",
        limit=5,  # the difficulty file is found next to the boxes file
        json=tmp_path / "out.json",
    )
    figures = json.loads((tmp_path / "out.json").read_text())
    assert figures["images"] == 5 and figures["detector"] == detectors.default_name()
    assert figures["score_threshold"] == detectors.get(figures["detector"]).default_score_threshold
    assert 0 < figures["recall_easy"] <= 1 and figures["easy_faces"] > 0
    assert "recall, easy faces:" in capsys.readouterr().out

    for name in detectors.DETECTORS:  # every registered detector, by name
        call_command(
            "evaluate_detection",
            images=wider / "images",
            gt=wider / "gt_416x416.txt",
            limit=2,
            detector=name,
            score_threshold=0.8,
            json=tmp_path / "out.json",
        )
        figures = json.loads((tmp_path / "out.json").read_text())
        assert (figures["detector"], figures["score_threshold"]) == (name, 0.8)
    with pytest.raises(CommandError, match="choose one of mtcnn, retinaface"):
        call_command("evaluate_detection", images=wider, gt=wider / "gt_416x416.txt", detector="x")
