"""Rename stored photos and crops to random names (they were named by a prefix of the photo's
SHA-256, and crops by the photo's id: guessable, enumerable, and testable against a known
photo). A stored "photo" that is not an image is deleted: only images are ever kept."""

import secrets
from pathlib import PurePosixPath

from django.core.files.storage import default_storage
from django.db import migrations
from PIL import Image, UnidentifiedImageError

SUFFIXES = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "GIF": ".gif",
            "TIFF": ".tiff"}


def image_format(name: str) -> str | None:
    try:
        with default_storage.open(name, "rb") as f, Image.open(f, formats=tuple(SUFFIXES)) as image:
            return image.format
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None
    except Image.DecompressionBombError:
        return None


def rename(name: str, suffix: str) -> str:
    """Move a stored file to a random name in the same folder; returns the new name."""
    new = str(PurePosixPath(name).parent / f"{secrets.token_urlsafe(18)}{suffix}")
    with default_storage.open(name, "rb") as f:
        new = default_storage.save(new, f)
    default_storage.delete(name)
    return new


def forwards(apps, schema_editor):
    Photo, Face = apps.get_model("recognition", "Photo"), apps.get_model("recognition", "Face")
    for photo in Photo.objects.exclude(file="").iterator():
        if not default_storage.exists(photo.file.name):
            continue
        found = image_format(photo.file.name)
        if found is None:
            default_storage.delete(photo.file.name)
            photo.file = ""
        else:
            photo.file = rename(photo.file.name, SUFFIXES[found])
        photo.save(update_fields=["file"])
    for face in Face.objects.exclude(crop="").iterator():
        if default_storage.exists(face.crop.name):
            face.crop = rename(face.crop.name, ".jpg")
            face.save(update_fields=["crop"])


class Migration(migrations.Migration):
    dependencies = [("recognition", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True)]
