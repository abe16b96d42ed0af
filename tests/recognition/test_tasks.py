"""The tasks, run in this process (the worker itself is exercised in test_end_to_end)."""

import errno
import subprocess
import sys
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from recognition import services, tasks
from recognition.models import Photo
from tests.factories import embedding, face_result, make_photo

pytestmark = pytest.mark.django_db


def test_analyse_photo_analyses_a_pending_photo_once(fake_pipeline):
    fake_pipeline.faces = [face_result(embedding(1))]
    photo = make_photo(status=Photo.Status.PENDING)
    tasks.analyse_photo(photo.pk)
    tasks.analyse_photo(photo.pk)  # a second delivery of the same job
    photo.refresh_from_db()
    assert photo.status == Photo.Status.DONE and photo.faces.count() == 1
    assert fake_pipeline.calls == 1 and photo.attempts == 1


def test_analyse_photo_ignores_a_photo_that_is_gone(fake_pipeline):
    tasks.analyse_photo(12345)
    assert fake_pipeline.calls == 0


def test_a_transient_database_error_hands_the_photo_back_and_retries_with_backoff(
    fake_pipeline, monkeypatch
):
    photo = make_photo(status=Photo.Status.PENDING)
    countdowns = []

    def analyse(*, photo):
        raise OperationalError("database is locked")

    def retry(*, exc, countdown, throw, args, kwargs):
        countdowns.append(countdown)
        return RuntimeError("retry")

    monkeypatch.setattr(services, "photo_analyse", analyse)
    monkeypatch.setattr(tasks.analyse_photo, "retry", retry)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="retry"):
            tasks.analyse_photo.apply(args=[photo.pk], retries=len(countdowns), throw=True).get()
        photo.refresh_from_db()
        assert photo.status == Photo.Status.PENDING  # claimable by the retry
    assert countdowns == [5, 10]


def test_a_photo_that_cannot_be_saved_after_every_retry_fails_saying_why(fake_pipeline, monkeypatch):
    photo = make_photo(status=Photo.Status.PENDING)

    def analyse(*, photo):
        raise OSError(errno.ENOSPC, "No space left on device", "/srv/media/faces/x.jpg")

    monkeypatch.setattr(services, "photo_analyse", analyse)
    with pytest.raises(OSError):
        tasks.analyse_photo.apply(args=[photo.pk], retries=tasks.analyse_photo.max_retries,
                                  throw=True).get()
    photo.refresh_from_db()
    assert photo.status == Photo.Status.FAILED and "after several tries" in photo.error
    assert "storage is full" in photo.error
    assert "/srv" not in photo.error  # no server path for the uploader


def test_a_failure_storing_the_results_fails_the_photo_instead_of_leaving_it_claimed(
    fake_pipeline, monkeypatch
):
    photo = make_photo(status=Photo.Status.PENDING)

    def analyse(*, photo):
        raise PermissionError(errno.EACCES, "Permission denied")  # retrying would not help

    monkeypatch.setattr(services, "photo_analyse", analyse)
    with pytest.raises(PermissionError):
        tasks.analyse_photo.apply(args=[photo.pk], throw=True).get()
    photo.refresh_from_db()
    assert photo.status == Photo.Status.FAILED
    assert photo.error.startswith("The results could not be saved: The server cannot write")


def test_other_failures_are_not_retried(fake_pipeline):
    fake_pipeline.error = ValueError("a bug")
    photo = make_photo(status=Photo.Status.PENDING)
    tasks.analyse_photo.apply(args=[photo.pk], throw=True)
    photo.refresh_from_db()
    assert photo.status == Photo.Status.FAILED and photo.attempts == 1


def test_the_sweep_task_requeues_stuck_photos(queued):
    photo = make_photo(status=Photo.Status.PENDING)
    Photo.objects.filter(pk=photo.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    assert tasks.requeue_stuck_photos() == 1
    assert queued == [photo.pk]


def test_the_worker_parent_process_never_imports_tensorflow():
    """TensorFlow initialised in the Celery parent hangs its forked children, so loading the
    app and every task module must not import it."""
    code = (
        "import sys, django; django.setup();"
        "from faceweb.celery import app; app.loader.import_default_modules();"
        "import recognition.tasks, recognition.admin;"
        "assert 'recognition.tasks' in sys.modules;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_periodic_tasks_have_a_queue_of_their_own_that_workers_take_from():
    """A backlog of photos in the default queue never holds back the sweep."""
    from faceweb.celery import app

    for task in (tasks.requeue_stuck_photos, tasks.remove_orphan_files, tasks.purge_expired_photos):
        assert app.amqp.router.route({}, task.name)["queue"].name == "maintenance"
    assert app.amqp.router.route({}, tasks.analyse_photo.name)["queue"].name == "celery"
    assert {q.name for q in app.conf.task_queues} == {"celery", "maintenance", "import"}
