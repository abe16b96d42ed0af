"""load_image: real sample photos and generated edge cases (orientation, modes, bad files)."""

import io
import struct
import subprocess
import sys
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from recognition.pipeline.image import (
    CorruptImage,
    ImageError,
    ImageTooLarge,
    UnsupportedImage,
    capture_time,
    downscale,
    identify,
    load_image,
    load_reduced,
)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def marked_rgb(width: int = 60, height: int = 40) -> np.ndarray:
    """A grey picture with a red block in its top-left corner, to follow the orientation."""
    pixels = np.full((height, width, 3), 128, np.uint8)
    pixels[:10, :15] = (255, 0, 0)
    return pixels


def test_it_decodes_real_photos_of_every_sample_kind_to_rgb_uint8(samples_dir: Path):
    paths = [
        "face_recognition_samples/examples/obama.jpg",  # JPEG with an EXIF orientation tag
        "face_recognition_samples/examples/alex-lacamoire.png",  # RGBA PNG
        "face_recognition_samples/tests/test_images/32bit.png",
        "deepface_test_dataset/img47.jpg",  # a WebP file named .jpg
    ]
    for path in paths:
        image = load_image(samples_dir / path)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, path
        assert image.std() > 10, f"{path} decoded to a flat picture"


def test_it_accepts_bytes_paths_and_file_objects_alike(tmp_path: Path):
    data = encode(Image.fromarray(marked_rgb()), "PNG")
    path = tmp_path / "photo.png"
    path.write_bytes(data)
    from_bytes = load_image(data)
    assert np.array_equal(from_bytes, load_image(path))
    assert np.array_equal(from_bytes, load_image(str(path)))
    assert np.array_equal(from_bytes, load_image(io.BytesIO(data)))
    assert np.array_equal(from_bytes, marked_rgb())


def test_it_turns_a_photo_the_way_its_exif_orientation_says():
    stored = Image.fromarray(marked_rgb(60, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    image = load_image(encode(stored, "JPEG", quality=95, exif=exif.tobytes()))
    assert image.shape == (60, 40, 3)
    # The red block was top-left as stored; shown rotated clockwise it is top-right.
    assert image[:10, -10:, 0].mean() > 200 and image[:10, -10:, 1].mean() < 60
    assert image[-10:, :10, 0].mean() < 160


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_turns_the_pixels_as_pillow_does(orientation: int):
    stored = np.random.default_rng(orientation).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(Image.fromarray(stored), "PNG", exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    image, (width, height) = load_reduced(data, side=None)
    assert np.array_equal(image, expected) and image.flags.c_contiguous
    assert (height, width) == expected.shape[:2]


def test_it_puts_transparent_pixels_on_white():
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[:, :10] = (0, 0, 255, 255)  # opaque blue left half, transparent right half
    image = load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert image.shape == (20, 20, 3)
    assert (image[:, :10] == (0, 0, 255)).all()
    assert (image[:, 10:] == 255).all()


def test_it_repeats_grayscale_into_three_equal_channels():
    gray = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (8, 1))
    image = load_image(encode(Image.fromarray(gray, "L"), "PNG"))
    assert image.shape == (8, 25, 3)
    assert (image[..., 0] == gray).all() and (image[..., 1] == gray).all()


def test_it_scales_16_bit_images_down_instead_of_clipping_them_white():
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (4, 1))
    image = load_image(encode(Image.fromarray(ramp), "PNG"))
    assert image[0, 0, 0] == 0 and image[0, -1, 0] == 255
    assert 120 <= image[0, 32, 0] <= 135  # mid-grey stays mid-grey


def test_it_converts_palette_cmyk_and_animated_gifs_to_rgb():
    rgb = Image.fromarray(marked_rgb())
    for data in (
        encode(rgb.convert("P"), "GIF"),
        encode(rgb.convert("CMYK"), "JPEG", quality=95),
        encode(rgb.convert("CMYK"), "TIFF"),
        encode(rgb, "BMP"),
        encode(rgb, "WEBP", lossless=True),
    ):
        image = load_image(data)
        assert image.shape == (40, 60, 3)
        assert image[2, 2, 0] > 200 and image[2, 2, 1] < 60, "the red corner survives"
    frames = [Image.new("RGB", (10, 10), colour) for colour in ("red", "blue")]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    assert load_image(gif.getvalue())[5, 5, 0] > 200, "the first frame is used"


def test_a_truncated_file_is_reported_as_corrupt(samples_dir: Path):
    data = (samples_dir / "face_recognition_samples/examples/obama.jpg").read_bytes()
    with pytest.raises(CorruptImage, match="damaged"):
        load_image(data[: len(data) // 2])
    png = encode(Image.fromarray(marked_rgb()), "PNG")
    with pytest.raises(CorruptImage):
        load_image(png[:60])


def test_a_text_file_is_reported_as_unsupported_naming_the_accepted_formats():
    with pytest.raises(UnsupportedImage, match="JPEG, PNG, WebP, AVIF, HEIC, BMP, GIF or TIFF") as caught:
        load_image(b"name,score\nobama,0.9\n")
    assert isinstance(caught.value, ImageError) and isinstance(caught.value, ValueError)


def test_a_format_outside_the_list_is_unsupported_even_if_pillow_reads_it():
    with pytest.raises(UnsupportedImage):
        load_image(encode(Image.fromarray(marked_rgb()), "PPM"))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels, as a bomb's would."""
    data = bytearray(encode(Image.new("L", (8, 8)), "PNG"))
    header = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[12:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(header))
    return bytes(data)


def test_a_decompression_bomb_is_refused_from_its_header_before_decoding():
    with pytest.raises(ImageTooLarge, match="8000 x 8000 pixels.*50 megapixels"):
        load_image(png_claiming(8000, 8000))
    with pytest.raises(ImageTooLarge, match="50 megapixels"):  # past Pillow's own limit too
        load_image(png_claiming(20_000, 20_000))
    with pytest.raises(ImageTooLarge, match="0.001 megapixels"):
        load_image(encode(Image.fromarray(marked_rgb()), "PNG"), max_pixels=1_000)


def test_downscale_shrinks_the_longer_side_and_reports_the_scale():
    image = np.zeros((1000, 2000, 3), np.uint8)
    small, scale = downscale(image, max_side=500)
    assert small.shape == (250, 500, 3) and scale == 0.25
    same, scale = downscale(image, max_side=4000)
    assert same is image and scale == 1.0


def test_a_big_jpeg_is_decoded_at_reduced_size_never_below_the_side_asked_for():
    pixels = np.zeros((4000, 6000, 3), np.uint8)
    pixels[:400, :600] = (255, 0, 0)  # the top-left tenth, red
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side: shown turned a quarter clockwise
    data = encode(Image.fromarray(pixels), "JPEG", quality=90, exif=exif)

    reduced, full = load_reduced(data, side=1000)
    assert full == (4000, 6000)  # the upright photo's size: taller than wide
    assert reduced.shape == (1500, 1000, 3)  # 1/4; 1/8 would be 750 pixels, below 1000
    assert reduced[5, -5, 0] > 200 and reduced[5, -5, 1] < 60  # stored top-left, shown top-right
    assert reduced[-5, 5, 0] < 60


def test_other_formats_and_small_jpegs_decode_at_full_size():
    png = encode(Image.fromarray(marked_rgb(3000, 2000)), "PNG")
    assert load_reduced(png, side=1000)[0].shape == (2000, 3000, 3)
    jpeg = encode(Image.fromarray(marked_rgb(900, 600)), "JPEG")
    image, full = load_reduced(jpeg, side=1000)
    assert image.shape == (600, 900, 3) and full == (900, 600)


DECODE_PEAK = """
import io, numpy as np
from PIL import Image
from recognition.pipeline.image import load_reduced
noise = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
buffer = io.BytesIO()
Image.fromarray(noise).resize((4000, 3000)).save(buffer, "JPEG", quality=90)
def mib(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith(field))
small = io.BytesIO()
Image.fromarray(noise).save(small, "JPEG")
load_reduced(small, side=None)  # the decoder's own set-up is not the photo's cost
buffer.seek(0)
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")  # peak RSS := RSS now
before = mib("VmRSS")
image, _ = load_reduced(buffer, side=None)
print((mib("VmHWM") - before) / (image.nbytes / 2**20))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_a_12_mp_photo_decodes_in_little_more_than_pillows_copy_and_the_array():
    """Pillow holds 4 bytes per pixel, the array 3: a peak of 7/3 of the array. Turning it into
    an array through one joined bytes object (and EXIF turning by copy) took over 5x."""
    ratio = float(
        subprocess.run(
            [sys.executable, "-c", DECODE_PEAK], check=True, capture_output=True, text=True
        ).stdout
    )
    assert ratio < 3.2


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_a_real_photo_saved_as_heic_or_avif_decodes_like_the_jpeg(samples_dir: Path, fmt: str):
    path = samples_dir / "face_recognition_samples" / "examples" / "obama.jpg"
    jpeg = load_image(path)
    data = encode(Image.fromarray(jpeg), fmt, quality=90)
    assert identify(io.BytesIO(data)) == fmt
    again = load_image(data)
    assert again.shape == jpeg.shape
    assert np.abs(again.astype(int) - jpeg).mean() < 4  # lossy, but the same picture


def exif_with(**tags) -> bytes:
    exif = Image.Exif()
    details = exif.get_ifd(0x8769)
    for name, value in tags.items():
        if name == "DateTime":
            exif[0x0132] = value
        else:
            details[{"DateTimeOriginal": 0x9003, "OffsetTimeOriginal": 0x9011}[name]] = value
    return exif.tobytes()


def test_the_capture_time_comes_from_the_exif_with_its_offset_when_it_has_one():
    photo = Image.fromarray(marked_rgb())
    stamped = encode(photo, "JPEG", exif=exif_with(
        DateTimeOriginal="2024:07:14 18:30:05", OffsetTimeOriginal="+02:00"
    ))
    taken, zone = capture_time(io.BytesIO(stamped))
    assert taken == datetime(2024, 7, 14, 18, 30, 5) and zone == timezone(timedelta(hours=2))
    # Only the first bytes of a photo are needed (the browser sends those with a small copy).
    assert capture_time(io.BytesIO(stamped[:2048])) == (taken, zone)
    plain = encode(photo, "JPEG", exif=exif_with(DateTime="2020:01:02 03:04:05"))
    assert capture_time(io.BytesIO(plain)) == (datetime(2020, 1, 2, 3, 4, 5), None)


@pytest.mark.parametrize("data", [
    encode(Image.fromarray(marked_rgb()), "PNG"),
    encode(Image.fromarray(marked_rgb()), "JPEG",
           exif=exif_with(DateTimeOriginal="0000:00:00 00:00:00")),
    b"not an image at all",
])
def test_a_photo_that_does_not_say_when_it_was_taken_has_no_capture_time(data: bytes):
    assert capture_time(io.BytesIO(data)) is None
