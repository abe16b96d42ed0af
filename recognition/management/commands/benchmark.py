"""``python manage.py benchmark [--json OUT] [--repeats N] [--threads T]``."""

import subprocess
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

SCRIPT = Path(__file__).resolve().parents[3] / "bench" / "benchmark.py"


class Command(BaseCommand):
    help = (
        "Speed and memory of the pipeline vs face_recognition (dlib), measured in the same "
        "run: runs bench/benchmark.py (see bench/README.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", type=Path, help="also write every figure to this file")
        parser.add_argument("--repeats", type=int, default=5, help="timed passes per section")
        parser.add_argument("--threads", type=int, default=2, help="TensorFlow intra-op threads")

    def handle(self, *args, **options):
        command = [sys.executable, str(SCRIPT), "--repeats", str(options["repeats"])]
        command += ["--threads", str(options["threads"])]
        if options["json"] is not None:
            command += ["--json", str(options["json"])]
        # A separate process: the benchmark sets TensorFlow's threads before TF starts.
        if subprocess.run(command, check=False).returncode:
            raise CommandError("the benchmark failed (see above)")
