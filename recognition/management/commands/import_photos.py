"""``python manage.py import_photos DIR --user NAME [--recursive]``."""

import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from recognition.pipeline.image import ImageError

SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".avif", ".heic", ".heif", ".bmp", ".gif",
            ".tif", ".tiff"}


class Command(BaseCommand):
    help = (
        "Import a folder of photos for a user: each is stored and queued for analysis on the "
        "import queue (uploads are never stuck behind it), named by its path in the folder. "
        "A photo imported before (the same content for the same user) is not stored twice, "
        "so running the command again after an interruption carries on where it stopped."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path)
        parser.add_argument("--user", required=True, help="whose photos they become")
        parser.add_argument("--recursive", action="store_true", help="also the subfolders")

    def handle(self, *args, **options):
        from recognition import services
        from recognition.models import Photo

        folder = options["folder"]
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder")
        try:
            user = get_user_model().objects.get(username=options["user"])
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user {options['user']!r}") from None
        pattern = "**/*" if options["recursive"] else "*"
        paths = sorted(p for p in folder.glob(pattern)
                       if p.is_file() and p.suffix.lower() in SUFFIXES)
        counts = {"imported": 0, "already there": 0, "refused": 0}
        refused: list[str] = []
        started = time.monotonic()
        for done, path in enumerate(paths, 1):
            name = str(path.relative_to(folder))
            try:
                with path.open("rb") as f:
                    photo = services.photo_create(file=File(f, name=path.name), uploaded_by=user,
                                                  source=Photo.Source.IMPORT, original_name=name)
                counts["already there" if photo.duplicate else "imported"] += 1
            except (ValidationError, ImageError, OSError) as exc:
                counts["refused"] += 1
                reason = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                refused.append(f"{name}: {reason}")
            self._progress(done, len(paths), counts, started)
        if paths:
            self.stderr.write("")
        for line in refused:
            self.stderr.write(f"refused {line}")
        self.stdout.write(
            f"{len(paths)} photos in {folder}: {counts['imported']} imported, "
            f"{counts['already there']} already there, {counts['refused']} refused; the "
            "workers analyse them from the import queue.")

    def _progress(self, done: int, total: int, counts: dict, started: float) -> None:
        if done != total and done % 10:
            return
        rate = done / max(time.monotonic() - started, 1e-6) * 60
        width = 30
        bar = "#" * (width * done // max(total, 1))
        self.stderr.write(f"\r[{bar:<{width}}] {done}/{total}, {counts['imported']} new, "
                          f"{counts['already there']} already there, {counts['refused']} "
                          f"refused ({rate:.0f} photos/min)", ending="")
        self.stderr.flush()
