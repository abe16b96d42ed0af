"""``python manage.py evaluate_expressions --images DIR [--model NAME] [--json OUT] [--detect]
[--limit N]``."""

import functools
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

SHIPPED = "shipped"


class Command(BaseCommand):
    help = (
        "Expression accuracy, per-class recall and confusion matrix on a folder with one "
        "sub-folder of face images per class (e.g. FER2013's public_test). Without --model: "
        "every installed expression network and the shipped combination side by side; the "
        "figures (and the JSON's top level) are the shipped combination's."
    )

    def add_arguments(self, parser):
        from recognition.pipeline import expression

        parser.add_argument("--images", type=Path, required=True, help="folder of <label>/ folders")
        parser.add_argument("--model", choices=[SHIPPED, *expression.NETS],
                            help="only this network (each with its mirror image) or the "
                                 "shipped combination")
        parser.add_argument("--json", type=Path, help="also write the figures to this file")
        parser.add_argument(
            "--detect",
            action="store_true",
            help="detect faces first and crop the best one (default: each file is one face)",
        )
        parser.add_argument("--limit", type=int, help="a fixed random sample of this many files")

    def handle(self, *args, **options):
        # TensorFlow loads only when the command runs, never when Django lists commands.
        from recognition.pipeline import eval_expression, expression, loader

        images: Path = options["images"]
        names = [options["model"]] if options["model"] else [*expression.NETS, SHIPPED]
        try:
            items = eval_expression.labelled_images(root=images, limit=options["limit"])
            detect = loader.get_detector().detect if options["detect"] else None
            readers = {
                name: expression.read if name == SHIPPED
                else functools.partial(expression.scores, name)
                for name in names
            }
            for name in names:  # load now: a missing model fails before any work
                if name != SHIPPED:
                    loader.get_net(name)
        except (OSError, ValueError, RuntimeError) as exc:  # incl. ModelNotInstalled
            raise CommandError(str(exc)) from exc

        crops = eval_expression.face_crops(items, detect)  # once, for every network
        results = {name: eval_expression.evaluate(items=items, read=read, crops=crops)
                   for name, read in readers.items()}
        summary = dict(results[names[-1]])
        summary |= {"images_dir": str(images), "mode": "detect" if detect else "whole image",
                    "model": names[-1] if names[-1] != SHIPPED else expression.VERSION}
        if len(results) > 1:
            summary["models"] = {
                name: {k: r[k] for k in ("accuracy", "per_class_recall", "ms_per_face")}
                for name, r in results.items()
            }
            self._compare(results)
        self._print(summary)
        if options["json"] is not None:
            options["json"].write_text(json.dumps(summary, indent=2) + "\n")

    def _compare(self, results: dict) -> None:
        write = self.stdout.write
        labels = list(next(iter(results.values()))["per_class_recall"])
        write(f"{'model':>14} {'accuracy':>9} {'ms/face':>8}  recall: "
              + " ".join(f"{name[:8]:>8}" for name in labels))
        for name, r in results.items():
            write(f"{name:>14} {r['accuracy']:>9.2%} {r['ms_per_face']:>8.2f}          "
                  + " ".join(f"{(r['per_class_recall'][k] or 0):>8.1%}" for k in labels))
        write("")

    def _print(self, s: dict) -> None:
        write = self.stdout.write
        write(f"{s['images']} images from {s['images_dir']} ({s['mode']}), read by {s['model']}")
        write(f"accuracy: {s['accuracy']:.2%}")
        if s["mode"] == "detect":
            write(f"no face found: {s['no_face']} (counted as wrong)")
            if s["accuracy_on_found"] is not None:
                write(f"accuracy on the faces found: {s['accuracy_on_found']:.2%}")
        write(f"expression reading: {s['ms_per_face']:.2f} ms per face")
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
