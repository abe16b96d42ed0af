"""``python manage.py install_models [--force]``: convert face-api's weights for the pipeline."""

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Convert face-api's TF.js weights into Keras weight files and verify them (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="reconvert even if up to date")

    def handle(self, *args, force: bool = False, **options):
        from recognition.pipeline import loader  # TensorFlow loads only when the command runs

        self.stdout.write(f"model dir: {loader.model_dir()}")
        try:
            messages = loader.install_models(force=force)
        except Exception as exc:  # any failure: say what and exit non-zero
            raise CommandError(f"install_models failed: {exc}") from exc
        for message in messages:
            self.stdout.write(message)
