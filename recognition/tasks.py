"""Celery tasks: translate a job into service calls, nothing more (see services)."""

from celery import shared_task
from django.conf import settings

from recognition import services


@shared_task(bind=True, max_retries=5)
def analyse_photo(self, photo_id: int) -> None:
    """Analyse one photo. Safe to run twice: only the run that claims the photo works on it."""
    photo = services.photo_claim(photo_id=photo_id)
    if photo is None:
        return  # gone, finished, or claimed by another run
    try:
        services.photo_analyse(photo=photo)
    except services.TRANSIENT_ERRORS as exc:
        services.photo_release(photo=photo)
        raise self.retry(exc=exc, countdown=5 * 2**self.request.retries) from exc


@shared_task
def purge_expired_photos() -> int:
    """Retention (Celery beat, daily): photos and faces older than FACEWEB_RETENTION_DAYS."""
    days = settings.FACEWEB_RETENTION_DAYS
    return services.photos_purge_expired(days=days).photos if days else 0


@shared_task
def requeue_stuck_photos() -> int:
    """The periodic sweep (Celery beat): queue photos that a broker or worker outage left behind."""
    return services.photos_requeue_stuck()
