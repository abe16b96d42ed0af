"""``python manage.py train_liveness --data DIR [DIR ...] [--out DIR]``."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Train the passive liveness model (recognition/pipeline/liveness.py) on NUAA-style "
        "folders (real/ and spoof_print/, NUAA's file names): figures from leaving each "
        "subject (and each subject and session) out, the threshold they calibrate, then the "
        "model fitted on everything (liveness.npz) and report.json."
    )

    def add_arguments(self, parser):
        parser.add_argument("--data", type=Path, nargs="+", required=True,
                            help="folders with real/ and spoof_print/")
        parser.add_argument("--out", type=Path, default=Path("var/train_liveness"))

    def handle(self, *args, **options):
        for folder in options["data"]:
            if not (folder / "real").is_dir() or not (folder / "spoof_print").is_dir():
                raise CommandError(f"{folder} needs real/ and spoof_print/ folders")
        from recognition.pipeline import loader, train_liveness

        try:
            report = train_liveness.train(folders=options["data"], out=options["out"],
                                          detect=loader.get_detector().detect,
                                          log=self.stdout.write)
        except (OSError, ValueError, RuntimeError) as exc:  # incl. ModelNotInstalled
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"threshold calibrated on the cross-session scores: "
                          f"{report['threshold']:.3f}")
        for name, words in (("cross_subject", "leaving each subject out"),
                            ("cross_session", "leaving each subject and session out")):
            f = report[name]
            self.stdout.write(
                f"{words}: ACER {f['acer']:.2%} (APCER {f['apcer']:.2%}, BPCER "
                f"{f['bpcer']:.2%}), ROC AUC {f['roc_auc']:.4f}")
            for subject, s in f["by_subject"].items():
                self.stdout.write(f"  subject {subject}: {s['faces']} faces, APCER "
                                  f"{s['apcer']:.1%}, BPCER {s['bpcer']:.1%}")
        self.stdout.write(f"liveness.npz and report.json in {options['out']} "
                          f"({report['seconds']} s)")
