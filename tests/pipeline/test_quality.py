"""Face quality measures on real crops and landmarks."""

from pathlib import Path

import cv2
import numpy as np

from recognition.pipeline import analyse, quality
from recognition.pipeline.image import load_image


def test_a_blurred_crop_is_less_sharp_than_the_same_crop_in_focus(samples_dir: Path):
    image = load_image(samples_dir / "face_recognition_samples" / "examples" / "obama.jpg")
    [face] = analyse.analyse_image(image).faces
    blurred = cv2.GaussianBlur(face.chip, (0, 0), 2.5)
    assert quality.sharpness(face.chip) > 8 > quality.sharpness(blurred)
    assert quality.sharpness(np.full((150, 150, 3), 128, np.uint8)) == 0


def test_turn_is_zero_facing_the_camera_and_grows_as_the_nose_moves_aside():
    eyes = [[40.0, 50.0], [80.0, 50.0]]
    mouth = [[45.0, 90.0], [75.0, 90.0]]
    facing = np.array([eyes[0], eyes[1], [60.0, 70.0], *mouth])
    aside = np.array([eyes[0], eyes[1], [76.0, 70.0], *mouth])
    assert quality.turn(facing) == 0.0 and quality.turn(aside) == 0.4
    # The measure follows the eye line, so a tilted head reads the same.
    angle = np.radians(30)
    rotate = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    assert abs(quality.turn(aside @ rotate.T) - 0.4) < 1e-9
