"""Face quality measures on real crops and landmarks."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition.pipeline import analyse, quality
from recognition.pipeline.image import load_image


def test_a_blurred_crop_is_less_sharp_than_the_same_crop_in_focus(samples_dir: Path):
    image = load_image(samples_dir / "face_recognition_samples" / "examples" / "obama.jpg")
    [face] = analyse.analyse_image(image).faces
    blurred = cv2.GaussianBlur(face.chip, (0, 0), 2.5)
    assert quality.sharpness(face.chip) > 8 > quality.sharpness(blurred)
    assert quality.sharpness(np.full((150, 150, 3), 128, np.uint8)) == 0


def _seen(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """The landmarks of quality.FACE_3D turned by these angles (degrees, quality.pose's
    convention), seen by a camera 60 cm away."""
    y, p, r = np.radians([-yaw, -pitch, roll])
    turn_y = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    turn_x = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    turn_z = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    points = quality.FACE_3D @ (turn_z @ turn_y @ turn_x).T + [0, 0, 520]
    return points[:, :2] / points[:, 2:] * 1000 + [320, 240]


@pytest.mark.parametrize("angles", [(0, 0, 0), (30, 0, 0), (-45, 0, 0), (0, 20, 0),
                                    (0, -15, 0), (0, 0, 25), (40, 10, -15), (-60, -5, 10)])
def test_pose_reads_back_the_angles_a_face_was_turned_by(angles):
    assert np.allclose(quality.pose(_seen(*angles)), angles, atol=2.0)


def test_pose_in_a_mirror_turns_and_tilts_the_other_way():
    landmarks = _seen(35, 10, 12)
    mirrored = landmarks[[1, 0, 2, 4, 3]] * [-1, 1]  # left and right swap in a mirror
    yaw, pitch, roll = quality.pose(landmarks)
    assert np.allclose(quality.pose(mirrored), (-yaw, pitch, -roll), atol=0.5)


def test_a_portrait_faces_the_camera(samples_dir: Path):
    image = load_image(samples_dir / "face_recognition_samples" / "examples" / "obama.jpg")
    [face] = analyse.analyse_image(image).faces
    yaw, pitch, roll = quality.pose(face.detection.landmarks)
    assert abs(yaw) < 15 and abs(roll) < 10
    # Pitch rests on where the nose sits between eyes and mouth, which differs from face to
    # face and moves with a smile (this one reads about 25 degrees down): coarse.
    assert abs(pitch) < 35
    assert quality.pose(np.zeros((5, 2))) == (0.0, 0.0, 0.0)  # no eye distance: no guess
