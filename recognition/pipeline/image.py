"""Decode uploaded image files into oriented RGB arrays, and resize them for detection.

Everything downstream works on ``(H, W, 3)`` uint8 RGB arrays in the orientation a person
sees (EXIF orientation applied). Errors are :class:`ImageError` subclasses whose messages can
be shown to the person who uploaded the file.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError
from pillow_heif import register_heif_opener

register_heif_opener()  # HEIC/HEIF, the iPhone's default, opens like any other format

# Pillow format names we decode; the first frame of animated GIFs/WebPs/TIFFs is used.
ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "AVIF", "HEIF", "BMP", "GIF", "TIFF")
ACCEPTED_FORMATS_TEXT = "JPEG, PNG, WebP, AVIF, HEIC, BMP, GIF or TIFF"
# Of those, what a browser cannot show: pages get a JPEG of these instead.
NOT_FOR_BROWSERS = frozenset({"HEIF", "TIFF"})

# 50 megapixels covers every phone and most DSLR photos (8,660 x 5,773) while keeping one
# decoded image under ~150 MB of RGB; larger uploads are far more likely to be hostile.
DEFAULT_MAX_PIXELS = 50_000_000

ORIENTATION_TAG = 0x0112  # EXIF: how to turn the stored pixels for display (1 = as stored)
EXIF_IFD, DATE_TIME, DATE_TIME_ORIGINAL, OFFSET_TIME_ORIGINAL = 0x8769, 0x0132, 0x9003, 0x9011
# Orientation -> the stored (H, W, C) array turned for display (the EXIF standard's 2-8).
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
    8: lambda a: np.rot90(a),
}
_BAND = 256  # rows copied out of Pillow at a time


class ImageError(ValueError):
    """The upload cannot be used as a photo; the message is meant for the person who sent it."""


class UnsupportedImage(ImageError):
    """The file is not an image, or not in an accepted format."""


class CorruptImage(ImageError):
    """The file looks like an image but cannot be decoded (truncated or damaged)."""


class ImageTooLarge(ImageError):
    """The image has more pixels than the configured limit."""


def identify(file: BinaryIO, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> str:
    """The format of an image file (one of ``ACCEPTED_FORMATS``), read from its header alone,
    without decoding it; ``file`` is rewound. A truncated photo passes (decoding it later says
    it is damaged); anything that is not an accepted image, or has more than ``max_pixels``,
    does not.

    Raises UnsupportedImage, CorruptImage or ImageTooLarge (all ImageError).
    """
    try:
        with _open(file, max_pixels=max_pixels) as image:
            return image.format
    finally:
        file.seek(0)


def capture_time(file: BinaryIO) -> tuple[datetime, timezone | None] | None:
    """When a photo was taken, from its EXIF (DateTimeOriginal, else DateTime): the local time
    it states, and its UTC offset when it has one (OffsetTimeOriginal). None when it says
    nothing readable. Reads the header only: the first 64 KB of a JPEG are enough."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(file) as image:
                exif = image.getexif()
                details = exif.get_ifd(EXIF_IFD)
    except (OSError, SyntaxError, ValueError, KeyError, TypeError, IndexError, struct.error,
            Image.DecompressionBombError):  # a header Pillow cannot read: no date, no harm
        return None
    stamp = details.get(DATE_TIME_ORIGINAL) or exif.get(DATE_TIME)
    try:
        taken = datetime.strptime(str(stamp).strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = str(details.get(OFFSET_TIME_ORIGINAL, "")).strip("\x00 ")
    try:
        sign = -1 if offset.startswith("-") else 1
        hours, minutes = (int(part) for part in offset.lstrip("+-").split(":"))
        zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    except ValueError:
        zone = None
    return taken, zone


def load_image(
    source: bytes | str | Path | BinaryIO, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decode an image file into an ``(H, W, 3)`` uint8 RGB array, EXIF orientation applied.

    ``source`` is the file's bytes, a path, or a binary file-like object (e.g. a Django
    ``UploadedFile``). Grayscale, palette, CMYK, 16-bit and alpha images become RGB (alpha is
    composited over white). The pixel count is checked from the header before decoding, so a
    decompression bomb never gets decoded.

    Raises UnsupportedImage, CorruptImage or ImageTooLarge (all ImageError).
    """
    return load_reduced(source, side=None, max_pixels=max_pixels)[0]


def load_reduced(
    source: bytes | str | Path | BinaryIO, *, side: int | None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[np.ndarray, tuple[int, int]]:
    """``load_image``, but a JPEG whose longer side exceeds ``side`` is decoded at 1/2, 1/4 or
    1/8 of its size (the JPEG decoder's draft mode: less time, a fraction of the memory), never
    below ``side``. Returns the array and the upright image's full ``(width, height)``, for
    mapping coordinates back. Other formats decode at full size."""
    if isinstance(source, bytes | bytearray | memoryview):
        source = io.BytesIO(bytes(source))
    with _open(source, max_pixels=max_pixels) as image:
        full = image.size
        if side and image.format == "JPEG" and max(full) > side:
            k = side / max(full)
            image.draft("RGB", (math.ceil(full[0] * k), math.ceil(full[1] * k)))
        try:
            image.load()
        except Exception as exc:  # decoders raise OSError, SyntaxError, struct.error, ...
            raise CorruptImage(
                "This image file is damaged or incomplete and cannot be read."
            ) from exc
        try:
            orientation = image.getexif().get(ORIENTATION_TAG, 1)
        except (OSError, ValueError, KeyError, TypeError, SyntaxError):
            # A malformed EXIF block should not cost the photo: keep it as stored.
            orientation = 1
        stored = _to_rgb(image)
    # Turned as numpy views and copied once, after Pillow's copy of the pixels is freed.
    upright = np.ascontiguousarray(_ORIENT.get(orientation, lambda a: a)(stored))
    turned = upright.shape[:2] != stored.shape[:2]  # a quarter turn swaps width and height
    return upright, (full[::-1] if turned else full)


def _open(source: str | Path | BinaryIO, *, max_pixels: int) -> Image.Image:
    """Open an image reading only its header; refuse what is not an accepted format or has
    more than ``max_pixels`` (see ``load_image``)."""
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own bomb limit; ours is checked just below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source, formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        raise UnsupportedImage(
            f"This file is not a supported image. Please upload a {ACCEPTED_FORMATS_TEXT} file."
        ) from None
    except Image.DecompressionBombError:
        raise _too_large(max_pixels) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptImage("This image file is damaged and cannot be read.") from exc
    if image.width * image.height > max_pixels:
        image.close()
        raise _too_large(max_pixels, image.width, image.height)
    return image


def downscale(image: np.ndarray, *, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink ``image`` (H, W, C) so its longer side is at most ``max_side`` pixels.

    Returns ``(resized, scale)`` where ``scale = resized size / original size`` (1.0 and the
    same array when no shrinking is needed). Map coordinates back with ``xy / scale``.
    """
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # INTER_AREA averages source pixels, so small faces are not aliased away.
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def _too_large(
    max_pixels: int, width: int | None = None, height: int | None = None
) -> ImageTooLarge:
    size = f" ({width} x {height} pixels)" if width else ""
    return ImageTooLarge(
        f"This image is too large{size}. The limit is {max_pixels / 1e6:g} megapixels; "
        "please upload a smaller version."
    )


def _to_rgb(image: Image.Image) -> np.ndarray:
    """Any Pillow mode -> (H, W, 3) uint8 RGB."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # High bit-depth grayscale: Pillow's own conversion clips at 255 (mostly white).
        values = np.asarray(image, dtype=np.float32)
        peak = 1.0 if image.mode == "F" and values.max(initial=0) <= 1.0 else 65535.0
        if image.mode == "I" and values.max(initial=0) <= 255:
            peak = 255.0
        gray = np.clip(values * (255.0 / peak) + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if (image.mode == "P" and "transparency" in image.info) or image.mode in ("PA", "LA", "La"):
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "RGBa"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    if image.mode != "RGB":
        image = image.convert("RGB")
    # Copied out in bands: np.asarray(image) would first join all pixels into one bytes object,
    # so a big photo briefly took Pillow's copy + those bytes + the array (~3x the array).
    rgb = np.empty((image.height, image.width, 3), np.uint8)
    for top in range(0, image.height, _BAND):
        bottom = min(top + _BAND, image.height)
        rgb[top:bottom] = np.asarray(image.crop((0, top, image.width, bottom)))
    return rgb
