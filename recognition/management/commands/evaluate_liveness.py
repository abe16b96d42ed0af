"""``python manage.py evaluate_liveness --real DIR --spoof DIR [--json FILE]``."""

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Passive liveness as the product decides it, on photos as taken (the largest face of "
        "each is found and scored): APCER, BPCER and ACER at the product's threshold "
        "(FACEWEB_LIVENESS_THRESHOLD), ROC AUC, and the time per face."
    )

    def add_arguments(self, parser):
        parser.add_argument("--real", type=Path, required=True, help="photos of live faces")
        parser.add_argument("--spoof", type=Path, required=True, help="photos of attacks")
        parser.add_argument("--json", type=Path, help="also write the figures to this file")

    def handle(self, *args, **options):
        from recognition.pipeline import eval_liveness, loader

        try:
            loader.get_net("liveness")
            figures = eval_liveness.evaluate(
                real=options["real"], spoof=options["spoof"],
                detect=loader.get_detector().detect,
                threshold=settings.FACEWEB_LIVENESS_THRESHOLD)
        except (OSError, ValueError, RuntimeError) as exc:  # incl. ModelNotInstalled
            raise CommandError(str(exc)) from exc
        f = figures
        self.stdout.write(
            f"{f['real']['photos']} live photos ({f['real']['no_face']} without a face), "
            f"{f['spoof']['photos']} attacks ({f['spoof']['no_face']} without a face)")
        self.stdout.write(
            f"at the threshold {f['threshold']:.3f}: APCER {f['apcer']:.2%} (attacks accepted), "
            f"BPCER {f['bpcer']:.2%} (live faces refused), ACER {f['acer']:.2%}")
        self.stdout.write(f"ROC AUC {f['roc_auc']:.4f}; {f['ms_per_face']:.2f} ms per face "
                          "(features and model)")
        if options["json"] is not None:
            options["json"].write_text(json.dumps(figures, indent=2) + "\n")
