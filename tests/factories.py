"""Small builders for test rows. Photos hold real (tiny) PNG files; faces hold embeddings
chosen by the test, so matching can be tested without the models."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from recognition.models import Face, Person, Photo
from recognition.pipeline.types import EXPRESSIONS, Detection, FaceResult


def png_bytes(width: int = 64, height: int = 48, colour=(200, 150, 120)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels and holds none: a decompression bomb
    as far as its header goes, a few dozen bytes on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b""))
            + chunk(b"IEND", b""))


def jpeg_bytes(width: int = 32, height: int = 32) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (120, 120, 120)).save(buffer, format="JPEG")
    return buffer.getvalue()


def upload(content: bytes | None = None, name: str = "photo.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, png_bytes() if content is None else content)


def embedding(seed: int) -> np.ndarray:
    """A (128,) float32 descriptor of unit length; different seeds are ~1.41 apart."""
    vector = np.random.default_rng(seed).standard_normal(128).astype(np.float32)
    return vector / np.linalg.norm(vector)


def near(vector: np.ndarray, distance: float, seed: int = 99) -> np.ndarray:
    """A descriptor exactly ``distance`` away from ``vector``."""
    direction = np.random.default_rng(seed).standard_normal(vector.shape).astype(np.float32)
    return (vector + distance * direction / np.linalg.norm(direction)).astype(np.float32)


def face_result(vector: np.ndarray, box=(10.0, 10.0, 40.0, 40.0), *, age: float | None = 34.0,
                male: float | None = 0.2, liveness: float | None = 0.9) -> FaceResult:
    """A FaceResult as the pipeline would return it, with the given descriptor (and, unless
    None, an estimated age, probability of male and liveness score)."""
    landmarks = np.array([[18, 20], [32, 20], [25, 27], [19, 34], [31, 34]], dtype=np.float32)
    scores = {name: 0.0 for name in EXPRESSIONS} | {"happy": 1.0}
    return FaceResult(
        detection=Detection(box=tuple(box), landmarks=landmarks, score=0.99),
        embedding=np.asarray(vector, dtype=np.float32),
        expression="happy",
        expression_scores=scores,
        # A sharp crop: checks of 5 px (a flat one is as blurred as it gets).
        chip=np.kron((np.indices((30, 30)).sum(axis=0) % 2 * 200 + 20).astype(np.uint8),
                     np.ones((5, 5), np.uint8))[:, :, None].repeat(3, axis=2),
        age=age,
        male=male,
        liveness=liveness,
    )


def make_person(name: str = "Ada") -> Person:
    return Person.objects.create(name=name)


def make_photo(status: str = Photo.Status.DONE, **fields) -> Photo:
    photo = Photo(status=status, content_hash="0" * 64, size_bytes=1, **fields)
    photo.file.save("photo.png", ContentFile(png_bytes()), save=False)
    photo.save()
    return photo


def make_face(
    photo: Photo | None = None, *, vector: np.ndarray | None = None, person: Person | None = None,
    reference: bool = False, box=(10.0, 10.0, 40.0, 40.0), model_version: str | None = None,
) -> Face:
    """A stored face; with ``person`` it is assigned (and a reference if ``reference``)."""
    from recognition.services import model_version as current_version

    face = Face(
        photo=photo or make_photo(), box=list(box), landmarks=[[0, 0]] * 5, detection_score=0.99,
        embedding=(embedding(0) if vector is None else vector).astype("<f4").tobytes(),
        model_version=model_version or current_version(), expression="neutral",
        expression_scores={"neutral": 1.0}, person=person, is_reference=reference,
        decision=Face.Decision.ASSIGNED if person else Face.Decision.UNKNOWN,
    )
    face.crop.save("face.jpg", ContentFile(jpeg_bytes()), save=False)
    face.save()
    return face
