"""Celery tasks: translate a job into service calls, nothing more (see services)."""

import contextlib
import logging

from celery import shared_task
from celery.signals import worker_process_init
from django.conf import settings
from django.utils import timezone

from recognition import jobs, services

logger = logging.getLogger(__name__)


@worker_process_init.connect
def warm_up(**kwargs) -> None:
    """Each worker process loads and runs every model before it takes a job, so its first
    photo is as quick as the next (never in the parent: the interpreters' thread pools do
    not survive a fork). A failure only logs: the photo then says what is missing."""
    from recognition.pipeline import spec

    if not settings.FACEWEB_WARM_UP:
        return
    try:
        logger.info("Models loaded and warmed up in %.1f s", spec.warm_up())
    except Exception:
        logger.exception("Warming up the models failed; the first photo will say why")


@shared_task(bind=True, max_retries=5)
def analyse_photo(self, photo_id: int, abandoned: int | None = None) -> None:
    """Analyse one photo. Safe to run twice: only the run that claims the photo works on it.
    A transient failure (database, full or read-only storage) hands the photo back and
    retries with backoff (5 to 80 s), then fails the photo, as any other failure does at once;
    ``abandoned`` is the claim a retry may take over when handing back failed too."""
    jobs.marker_clear(photo_id)
    photo = None
    try:
        photo = services.photo_claim(photo_id=photo_id, abandoned=abandoned)
        if photo is None:
            return  # gone, finished, or held by a live claim
        services.photo_analyse(photo=photo)
    except Exception as exc:
        transient = services.is_transient(exc)
        if photo is not None and (not transient or self.request.retries >= self.max_retries):
            with contextlib.suppress(Exception):
                services.photo_give_up(photo=photo, exc=exc)
            raise
        if not transient:
            raise
        if photo is not None:
            abandoned = photo.attempts
            with contextlib.suppress(Exception):
                services.photo_release(photo=photo)
        at = timezone.now()
        retry = self.retry(exc=exc, countdown=5 * 2**self.request.retries, throw=False,
                           args=(photo_id,), kwargs={"abandoned": abandoned})
        with contextlib.suppress(Exception):  # without it, the sweep sends one more job
            services.photo_queued(photo_id=photo_id, at=at)
        raise retry from exc


@shared_task
def purge_expired_photos() -> int:
    """Retention (Celery beat, daily): photos and faces older than FACEWEB_RETENTION_DAYS."""
    days = settings.FACEWEB_RETENTION_DAYS
    return services.photos_purge_expired(days=days).photos if days else 0


@shared_task
def requeue_stuck_photos() -> int:
    """The periodic sweep (Celery beat): queue photos that a broker or worker outage left behind."""
    return services.photos_requeue_stuck()


@shared_task
def remove_orphan_files() -> int:
    """The orphan sweep (Celery beat, hourly): stored files that no row points at."""
    return len(services.files_remove_orphans())


@shared_task
def group_unknown_faces() -> int | None:
    """Unknown faces grouped by who they probably are (Celery beat, with the sweep; nothing to
    do unless a face is not grouped yet)."""
    return services.unknown_faces_regroup()


@shared_task
def reidentify_faces() -> int | None:
    """Earlier faces matched again after the references changed (Celery beat, with the sweep;
    nothing to do unless the gallery changed)."""
    return services.faces_reidentify()


@shared_task
def forget_age_gender() -> int:
    """With FACEWEB_AGE_GENDER off (Celery beat, with the sweep): erase every stored estimate."""
    return services.faces_forget_age_gender()
