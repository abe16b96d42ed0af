"""``python manage.py evaluate_detection --images DIR --gt FILE [--difficulty FILE]
[--detector NAME] [--score-threshold S] [--max-side N] [--upscale F] [--json OUT]``."""

import functools
import json
from pathlib import Path

import numpy as np
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
            help="a registered detector (default: the product's, env FACEWEB_DETECTOR or "
            "detectors.DEFAULT), or mtcnn-package: the packaged mtcnn 1.0.0, for comparison",
        )
        parser.add_argument("--iou", type=float, default=0.4)
        parser.add_argument("--min-size", type=float, default=40.0)
        parser.add_argument(
            "--score-threshold",
            type=float,
            help="final face score to keep (default: the detector's default / the package's 0.8)",
        )
        parser.add_argument(
            "--max-side",
            type=int,
            help="search photos with a longer side above this downscaled (default: the "
            "detector's; a large value such as 10000: always at full size)",
        )
        parser.add_argument(
            "--upscale",
            type=float,
            help="search photos enlarged by up to this factor (detectors that support it)",
        )
        parser.add_argument("--limit", type=int, help="only the first N images")

    def handle(self, *args, **options):
        # TensorFlow loads only when the command runs, never when Django lists commands.
        from recognition.pipeline import detectors, eval_detection

        threshold = options["score_threshold"]
        difficulty = options["difficulty"]
        if difficulty is None and (options["gt"].parent / DIFFICULTY).is_file():
            difficulty = options["gt"].parent / DIFFICULTY
        try:
            truth = eval_detection.read_ground_truth(gt=options["gt"], difficulty=difficulty)
            truth = truth[: options["limit"]]
            name = options["detector"] or detectors.default_name()
            if name == "mtcnn-package":
                extra = {} if threshold is None else {"threshold_onet": threshold}
                detector = eval_detection.package_detector(**extra)
                threshold = extra.get("threshold_onet", 0.8)
            else:
                loaded = detectors.get(name)
                threshold = loaded.default_score_threshold if threshold is None else threshold
                sizing = {k: options[k] for k in ("max_side", "upscale") if options[k] is not None}
                detector = functools.partial(loaded.detect, score_threshold=threshold, **sizing)
                detector(np.zeros((32, 32, 3), np.uint8))  # refuses options it does not take
        except (OSError, ValueError, RuntimeError, TypeError) as exc:  # incl. ModelNotInstalled
            raise CommandError(str(exc)) from exc

        summary = eval_detection.evaluate(
            detector=detector,
            images_dir=options["images"],
            ground_truth=truth,
            iou=options["iou"],
            min_size=options["min_size"],
        )
        summary |= {"detector": name, "score_threshold": threshold}
        summary |= {key: options[key] for key in ("max_side", "upscale") if options[key]}
        self._print(summary)
        if options["json"] is not None:
            options["json"].write_text(json.dumps(summary, indent=2) + "\n")

    def _print(self, s: dict) -> None:
        write = self.stdout.write
        sizing = "".join(f", {k} {s[k]:g}" for k in ("max_side", "upscale") if k in s)
        write(
            f"{s['detector']} (score >= {s['score_threshold']}{sizing}) on {s['images']} "
            f"images, a face counts as found at IoU >= {s['iou']}"
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
