"""``python manage.py evaluate_lfw --pairs PAIRS.txt --images DIR [--detector NAME]
[--json OUT]``."""

import json
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "LFW verification end to end from the raw photos (detect, align, embed) on any file in "
        "the standard pairs.txt format: k-fold accuracy, best global threshold, TAR at "
        "FAR=0.1%, ROC AUC, how each face was found, and time per image."
    )

    def add_arguments(self, parser):
        parser.add_argument("--pairs", type=Path, required=True, help="a standard pairs.txt")
        parser.add_argument(
            "--images", type=Path, required=True, help="folder of <Name>/<Name>_NNNN.jpg"
        )
        parser.add_argument("--json", type=Path, help="also write the figures to this file")
        parser.add_argument(
            "--detector",
            help="a registered detector (default: the product's, env FACEWEB_DETECTOR)",
        )

    def handle(self, *args, **options):
        # TensorFlow loads only when the command runs, never when Django lists commands.
        from recognition.pipeline import analyse, detectors, eval_lfw, loader, spec
        from recognition.pipeline.image import load_image

        images: Path = options["images"]
        try:
            _, pairs = eval_lfw.read_pairs(options["pairs"])
            keys = {key for p in pairs for key in (p.first, p.second)}
            missing = [k for k in keys if not eval_lfw.image_path(images, k).is_file()]
            if missing:
                raise ValueError(
                    f"{len(missing)} photos named in the pairs are not under {images}, "
                    f"e.g. {eval_lfw.image_path(images, min(missing))}"
                )
            detector = detectors.get(options["detector"] or detectors.default_name())
            embedder = loader.get_embedder()
        except (OSError, ValueError, RuntimeError) as exc:  # incl. ModelNotInstalled
            raise CommandError(str(exc)) from exc

        def describe(image, landmarks):
            start = time.perf_counter()
            chips, mirrored = analyse.align_faces(image, landmarks, template=detector.template)
            aligned = time.perf_counter()
            vectors = analyse.describe(embedder, chips, mirrored)
            done = time.perf_counter()
            return vectors, {"align": (aligned - start) * 1000, "embed": (done - aligned) * 1000}

        def progress(done: int, total: int) -> None:
            if done % 500 == 0 or done == total:
                sys.stderr.write(f"{done}/{total} photos\n")

        start = time.perf_counter()
        descriptors, found, ms = eval_lfw.describe_images(
            keys,
            images=images,
            load=load_image,
            detect=detector.detect,
            describe=describe,
            progress=progress,
        )
        summary = eval_lfw.summarise(pairs, descriptors, threshold=spec.DEFAULT_THRESHOLD) | {
            "pairs_file": str(options["pairs"]),
            "detector": detector.name,
            "photos": len(descriptors),
            "faces_found": found,
            "median_ms_per_photo": ms,
            "wall_s": time.perf_counter() - start,
        }
        self._print(summary)
        if options["json"] is not None:
            options["json"].write_text(json.dumps(summary, indent=2) + "\n")

    def _print(self, s: dict) -> None:
        write = self.stdout.write
        found = s["faces_found"]
        write(
            f"{s['pairs']} pairs ({s['same_pairs']} same) over {s['photos']} photos "
            f"from {s['pairs_file']}, detector {s['detector']}"
        )
        write(
            f"faces: {found['detected']} detected, {found['several']} picked nearest the centre "
            f"of several, {found['fallback']} not found (fallback: LFW's median landmarks)"
        )
        write(
            f"{s['folds']}-fold accuracy: {s['kfold_accuracy_mean']:.2%} "
            f"± {s['kfold_accuracy_std']:.2%} (threshold chosen on the other folds)"
        )
        write(
            "per fold: "
            + ", ".join(
                f"{a:.2%} @ {t:.3f}"
                for a, t in zip(s["fold_accuracies"], s["fold_thresholds"], strict=True)
            )
        )
        write(
            f"best global threshold: {s['best_threshold']:.3f} "
            f"(accuracy {s['best_threshold_accuracy']:.2%} over all pairs)"
        )
        write(
            f"TAR at FAR=0.1%: {s['tar_at_far_0.1%']:.2%} "
            f"(threshold {s['tar_at_far_0.1%_threshold']:.3f})"
        )
        write(f"ROC AUC: {s['roc_auc']:.5f}")
        write(
            f"in the product's words at threshold {s['confidence_threshold']:.2f}: "
            + "; ".join(
                f"{word} {band['pairs']} pairs, "
                + ("-" if band["same_share"] is None else f"{band['same_share']:.1%} same")
                for word, band in s["confidence_bands"].items()
            )
        )
        write(
            f"mean distance: same {s['mean_distance_same']:.3f}, "
            f"different {s['mean_distance_different']:.3f}"
        )
        ms = s["median_ms_per_photo"]
        write(
            "median ms per photo: "
            + ", ".join(f"{k} {v:.1f}" for k, v in ms.items())
            + f" (sum {sum(ms.values()):.1f}; JPEG decoding not included; "
            f"wall {s['wall_s']:.0f} s for all photos)"
        )
