"""Alignment geometry on synthetic images: the fit, the chip, and the mirrored chip."""

import cv2
import numpy as np
import pytest

from recognition.pipeline import align


def rotation(degrees: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    t = np.radians(degrees)
    return np.array(
        [
            [scale * np.cos(t), -scale * np.sin(t), shift[0]],
            [scale * np.sin(t), scale * np.cos(t), shift[1]],
        ]
    )


def textured(height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_the_fit_recovers_a_known_similarity_exactly():
    known = rotation(20, 0.6, (12.0, -7.0))
    landmarks = np.hstack([align.TEMPLATE, np.ones((5, 1))]) @ np.vstack([known, [0, 0, 1]]).T

    # landmarks = known(TEMPLATE), so the fit must be known's inverse.
    matrix = align.similarity(landmarks[:, :2])

    inverse = np.linalg.inv(np.vstack([known, [0, 0, 1]]))[:2]
    np.testing.assert_allclose(matrix, inverse, atol=1e-9)


def test_landmarks_already_on_the_template_give_the_image_itself():
    image = textured(150, 150)
    chip = align.align(image, align.TEMPLATE)
    assert chip.shape == (150, 150, 3) and chip.dtype == np.uint8
    np.testing.assert_array_equal(chip, image)


def test_the_mirrored_chip_is_the_chip_of_the_mirror_image():
    image = textured(200, 260)
    landmarks = np.array([[90, 80], [150, 84], [118, 115], [96, 145], [146, 148]], np.float32)
    flipped_image = np.ascontiguousarray(image[:, ::-1])
    flipped = landmarks[[1, 0, 2, 4, 3]].copy()  # picture-left and -right swap
    flipped[:, 0] = image.shape[1] - 1 - flipped[:, 0]

    mirrored = align.align(image, landmarks, mirrored=True).astype(int)
    expected = align.align(flipped_image, flipped).astype(int)

    # Same map, so the same pixels up to bilinear rounding.
    assert np.abs(mirrored - expected).max() <= 1


@pytest.mark.parametrize("factor", [4.0, 0.5])
def test_large_and_small_faces_land_on_the_same_chip(factor):
    # A smooth picture, drawn at chip scale and at another scale: the chips agree closely,
    # so a large face is shrunk without aliasing and a small one is enlarged in place.
    y, x = np.mgrid[0:150, 0:150] / 150
    base = np.stack([128 + 100 * np.sin(6 * x), 128 + 100 * np.cos(5 * y), 128 + 60 * x * y], -1)
    base = base.astype(np.uint8)
    size = round(150 * factor)
    smooth = cv2.INTER_CUBIC if factor > 1 else cv2.INTER_AREA
    scaled = cv2.resize(base, (size, size), interpolation=smooth)
    chip = align.align(scaled, align.TEMPLATE * factor)

    inner = np.s_[10:-10, 10:-10]  # edges resample differently
    assert np.abs(chip[inner].astype(int) - base[inner]).mean() < 4
