"""Camera input made from real photos, for Chromium's fake camera (Y4M files) and for the
liveness checks: a webcam-like frame of a portrait, and that face turned aside by warping."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT = 640, 480


def webcam_frame(photo: Path) -> np.ndarray:
    """A 640x480 RGB frame of a portrait, framed as a webcam would (head and shoulders: the
    top of the photo, cut to 4:3)."""
    from recognition.pipeline.image import load_image

    with photo.open("rb") as f:
        rgb = load_image(f)
    return cv2.resize(rgb[: rgb.shape[1] * 3 // 4], (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)


def turned(frame: np.ndarray, landmarks: np.ndarray, amount: float) -> np.ndarray:
    """The face turned aside: the middle of the face (the nose most) pulled sideways by
    ``amount`` times the eyes' distance (> 0: towards the picture's right, as a person turning
    to their left), fading out towards the cheeks, as a nose that stands out of the face moves
    more than its sides when the head turns. ``landmarks``: the face's five points."""
    eyes = np.linalg.norm(landmarks[1] - landmarks[0])
    nose = landmarks[2]
    ys, xs = np.mgrid[0 : frame.shape[0], 0 : frame.shape[1]].astype(np.float32)
    bump = np.exp(-(((xs - nose[0]) / (0.45 * eyes)) ** 2) / 2
                  - ((ys - nose[1]) / (0.9 * eyes)) ** 2 / 2)
    shift = (amount * eyes * bump).astype(np.float32)
    return cv2.remap(frame, xs - shift, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def write_y4m(path: Path, frames: list[np.ndarray], *, fps: int = 10) -> Path:
    """Frames (RGB, 640x480) as a Y4M video that Chromium's fake camera plays in a loop."""
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path
