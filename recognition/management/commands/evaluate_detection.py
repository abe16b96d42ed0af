"""``python manage.py evaluate_detection --images DIR --gt FILE [--difficulty FILE] [--json OUT]``."""

import functools
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

# The widerface-dev set's name for its difficulty file (see ../shared/data/README.md).
DIFFICULTY = "difficulty_gt_indices.txt"


class Command(BaseCommand):
    help = (
        "Face detection recall (easy faces, faces >= --min-size px), false positives per "
        "image and time per image on WIDER FACE-style ground truth."
    )

    def add_arguments(self, parser):
        parser.add_argument("--images", type=Path, required=True, help="folder of the images")
        parser.add_argument("--gt", type=Path, required=True, help="WIDER-format boxes file")
        parser.add_argument(
            "--difficulty",
            type=Path,
            help=f"easy/medium/hard face indices (default: {DIFFICULTY} next to --gt, if there)",
        )
        parser.add_argument("--json", type=Path, help="also write the figures to this file")
        parser.add_argument(
            "--detector",
            choices=["faceweb", "mtcnn-package"],
            default="faceweb",
            help="faceweb's MTCNN (default) or the packaged mtcnn 1.0.0, for comparison",
        )
        parser.add_argument("--iou", type=float, default=0.4)
        parser.add_argument("--min-size", type=float, default=40.0)
        parser.add_argument(
            "--score-threshold",
            type=float,
            help="final face score to keep (default: faceweb's default / the package's 0.8)",
        )
        parser.add_argument("--limit", type=int, help="only the first N images")

    def handle(self, *args, **options):
        # TensorFlow loads only when the command runs, never when Django lists commands.
        from recognition.pipeline import detect, eval_detection, loader

        threshold = options["score_threshold"]
        difficulty = options["difficulty"]
        if difficulty is None and (options["gt"].parent / DIFFICULTY).is_file():
            difficulty = options["gt"].parent / DIFFICULTY
        try:
            truth = eval_detection.read_ground_truth(gt=options["gt"], difficulty=difficulty)
            truth = truth[: options["limit"]]
            if options["detector"] == "mtcnn-package":
                extra = {} if threshold is None else {"threshold_onet": threshold}
                detector = eval_detection.package_detector(**extra)
                threshold = extra.get("threshold_onet", 0.8)
            else:
                threshold = detect.DEFAULT_SCORE_THRESHOLD if threshold is None else threshold
                detector = functools.partial(
                    detect.detect, loader.get_detector(), score_threshold=threshold
                )
        except (OSError, ValueError, RuntimeError) as exc:  # incl. DetectorUnavailable
            raise CommandError(str(exc)) from exc

        summary = eval_detection.evaluate(
            detector=detector,
            images_dir=options["images"],
            ground_truth=truth,
            iou=options["iou"],
            min_size=options["min_size"],
        )
        summary |= {"detector": options["detector"], "score_threshold": threshold}
        self._print(summary)
        if options["json"] is not None:
            options["json"].write_text(json.dumps(summary, indent=2) + "\n")

    def _print(self, s: dict) -> None:
        write = self.stdout.write
        write(
            f"{s['detector']} (score >= {s['score_threshold']}) on {s['images']} images, "
            f"a face counts as found at IoU >= {s['iou']}"
        )
        if s["recall_easy"] is not None:
            write(f"recall, easy faces:          {s['recall_easy']:.1%} of {s['easy_faces']}")
        if s["recall_large"] is not None:
            write(
                f"recall, faces >= {s['min_size']:g} px:     "
                f"{s['recall_large']:.1%} of {s['large_faces']}"
            )
        write(
            f"false positives per image:   {s['false_positives_per_image']:.2f} "
            f"({s['false_positives']} in all)"
        )
        write(f"median time per image:       {s['median_ms']:.1f} ms")
