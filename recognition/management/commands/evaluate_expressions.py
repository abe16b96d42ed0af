"""``python manage.py evaluate_expressions --images DIR [--json OUT] [--detect] [--limit N]``."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Expression accuracy, per-class recall and confusion matrix on a folder with one "
        "sub-folder of face images per class (e.g. FER2013's public_test)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--images", type=Path, required=True, help="folder of <label>/ folders")
        parser.add_argument("--json", type=Path, help="also write the figures to this file")
        parser.add_argument(
            "--detect",
            action="store_true",
            help="detect faces first and crop the best one (default: each file is one face)",
        )
        parser.add_argument("--limit", type=int, help="a fixed random sample of this many files")

    def handle(self, *args, **options):
        # TensorFlow loads only when the command runs, never when Django lists commands.
        from recognition.pipeline import eval_expression, loader

        images: Path = options["images"]
        try:
            items = eval_expression.labelled_images(root=images, limit=options["limit"])
            model = loader.get_expression_model()
            detect = None
            if options["detect"]:
                detect = loader.get_detector().detect
        except (OSError, ValueError, RuntimeError) as exc:  # incl. ModelNotInstalled
            raise CommandError(str(exc)) from exc

        summary = eval_expression.evaluate(items=items, model=model, detect=detect)
        summary |= {"images_dir": str(images), "mode": "detect" if detect else "whole image"}
        self._print(summary)
        if options["json"] is not None:
            options["json"].write_text(json.dumps(summary, indent=2) + "\n")

    def _print(self, s: dict) -> None:
        write = self.stdout.write
        write(f"{s['images']} images from {s['images_dir']} ({s['mode']})")
        write(f"accuracy: {s['accuracy']:.2%}")
        if s["mode"] == "detect":
            write(f"no face found: {s['no_face']} (counted as wrong)")
            if s["accuracy_on_found"] is not None:
                write(f"accuracy on the faces found: {s['accuracy_on_found']:.2%}")
        write(f"expression model: {s['ms_per_face']:.2f} ms per face")
        recalls = [
            f"{name} {r:.1%} (n={s['support'][name]})"
            for name, r in s["per_class_recall"].items()
            if r is not None
        ]
        write("per-class recall: " + ", ".join(recalls))
        write("confusion (rows true, columns predicted):")
        write(" " * 10 + "".join(f"{name[:8]:>10}" for name in s["labels"]))
        for name, row in zip(s["labels"], s["confusion"], strict=True):
            write(f"{name:>10}" + "".join(f"{v:>10}" for v in row))
