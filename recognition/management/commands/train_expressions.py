"""``python manage.py train_expressions --data DIR [--epochs N] [--out DIR] [--resume]``."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Train our expression network (recognition/pipeline/fer_net.py) on FER2013: a "
        "validation split carved from train, checkpoints every epoch, a final report with "
        "accuracy, per-class recall and a confusion matrix (PNG) on validation and PublicTest."
    )

    def add_arguments(self, parser):
        parser.add_argument("--data", type=Path, required=True,
                            help="FER2013 folder with train/<label>/ (and public_test/<label>/)")
        parser.add_argument("--epochs", type=int, default=30)
        parser.add_argument("--out", type=Path, default=Path("var/train_expressions"),
                            help="checkpoints, weights and report go here")
        parser.add_argument("--resume", action="store_true",
                            help="carry on from the last finished epoch in --out")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--limit", type=int, help="train on this many faces only (trials)")

    def handle(self, *args, **options):
        if not (options["data"] / "train").is_dir():
            raise CommandError(f"{options['data']} has no train/ folder")
        # TensorFlow loads only when the command runs, never when Django lists commands.
        from recognition.pipeline import train_fer

        report = train_fer.train(
            data=options["data"], out=options["out"], epochs=options["epochs"],
            resume=options["resume"], seed=options["seed"], limit=options["limit"],
            log=self.stdout.write,
        )
        self.stdout.write(f"weights, report.json and confusion.png in {options['out']} "
                          f"({report['train_seconds_this_run']} s of training)")
