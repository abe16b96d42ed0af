"""``python manage.py evaluate_attributes --utkface DIR --labels TSV [--lfw-gender TSV
--lfw-images DIR] [--limit N] [--json FILE]``."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Age and gender estimates as the product makes them (detect, crop, estimate): age mean "
        "absolute error overall and per decade and gender accuracy on UTKFace; with "
        "--lfw-gender, gender accuracy end to end on raw LFW photos."
    )

    def add_arguments(self, parser):
        parser.add_argument("--utkface", type=Path, required=True,
                            help="folder of UTKFace images (e.g. utkface-dev/images)")
        parser.add_argument("--labels", type=Path, required=True,
                            help="TSV with file, age, gender (utkface-dev/labels.tsv)")
        parser.add_argument("--lfw-gender", type=Path, help="TSV with image, gender")
        parser.add_argument("--lfw-images", type=Path, help="LFW's images/ folder")
        parser.add_argument("--limit", type=int, help="a fixed random sample of each set")
        parser.add_argument("--json", type=Path, help="also write the figures to this file")

    def handle(self, *args, **options):
        if (options["lfw_gender"] is None) != (options["lfw_images"] is None):
            raise CommandError("--lfw-gender and --lfw-images go together")
        # TensorFlow is never needed: the models run in LiteRT.
        from recognition.pipeline import eval_attributes, loader

        try:
            detect = loader.get_detector().detect
            loader.get_net("age_gender")
            figures = eval_attributes.evaluate_utkface(
                images=options["utkface"], labels=options["labels"], detect=detect,
                limit=options["limit"])
            if options["lfw_gender"] is not None:
                figures |= eval_attributes.evaluate_lfw_gender(
                    images=options["lfw_images"], labels=options["lfw_gender"], detect=detect,
                    limit=options["limit"])
        except (OSError, ValueError, RuntimeError) as exc:  # incl. ModelNotInstalled
            raise CommandError(str(exc)) from exc
        self._print(figures)
        if options["json"] is not None:
            options["json"].write_text(json.dumps(figures, indent=2) + "\n")

    def _print(self, f: dict) -> None:
        write = self.stdout.write
        write(f"UTKFace: {f['faces']} faces ({f['no_face']} without a detected face: whole file)")
        write(f"age mean absolute error: {f['age_mae']:.2f} years (mean signed error "
              f"{f['age_bias']:+.2f})")
        for decade, d in f["age_mae_by_decade"].items():
            write(f"  {decade:>6}: {d['mae']:5.2f} years, signed {d['bias']:+6.2f} "
                  f"({d['faces']} faces)")
        write(f"gender accuracy: {f['gender_accuracy']:.2%}")
        write(f"age and gender together: {f['ms_per_face']:.2f} ms per face (mirror included)")
        if "lfw_gender_accuracy" in f:
            write(f"LFW, end to end: {f['photos']} photos, no face found in {f['no_face']} "
                  f"(counted wrong); gender accuracy {f['lfw_gender_accuracy']:.2%} "
                  f"(female recall {f['lfw_female_recall']:.1%}, male "
                  f"{f['lfw_male_recall']:.1%}; {f['lfw_female_share']:.1%} of the photos are "
                  "of women)")
