from django.apps import AppConfig


class RecognitionConfig(AppConfig):
    name = "recognition"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import pre_delete

        # Deleting an account, from anywhere (admin, shell), erases what it uploaded.
        pre_delete.connect(_erase_uploads, sender=get_user_model(),
                           dispatch_uid="recognition-erase-uploads")


def _erase_uploads(sender, instance, **kwargs) -> None:
    from recognition import services

    services.user_photos_delete(user=instance)
