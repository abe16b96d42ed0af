import contextlib
from pathlib import Path

from django.apps import AppConfig


class RecognitionConfig(AppConfig):
    name = "recognition"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.db.models.signals import pre_delete

        from recognition.pipeline import tflite

        tflite.THREADS = settings.FACEWEB_MODEL_THREADS

        # Where big uploads are spooled (settings.FILE_UPLOAD_TEMP_DIR) must exist; storage
        # that cannot be written now is reported by /health/, not by failing every command.
        with contextlib.suppress(OSError):
            Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)

        # Deleting an account, from anywhere (admin, shell), erases what it uploaded.
        pre_delete.connect(_erase_uploads, sender=get_user_model(),
                           dispatch_uid="recognition-erase-uploads")


def _erase_uploads(sender, instance, **kwargs) -> None:
    from recognition import services

    services.user_photos_delete(user=instance)
