"""Upload → Redis → a real Celery worker process → the real pipeline → results in the database.

The module's world (tests/worlds.py: a throwaway redis-server, a media folder and a ``celery
worker`` subprocess with beat embedded, the sweep every 2 s) shares this test run's SQLite
file. Photos come from ``../shared/data/samples``; without them these tests are skipped.
"""

import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files import File
from django.utils import timezone
from PIL import Image

from recognition import services
from recognition.models import Face, Person, Photo
from tests.worlds import CeleryWorker, World, open_world, photo_report

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SWEEP_INTERVAL_S = 2  # the worker's FACEWEB_SWEEP_INTERVAL_S
# A recovery that takes longer than this waited for a timeout (FACEWEB_STUCK_AFTER_S, 330 s)
# instead of noticing at once: it covers a fresh worker child loading its models on a busy
# 2-core machine (5-20 s).
RECOVERY_S = 60
# The worker's FACEWEB_WORKER_MAX_MEMORY_MB, which Celery compares with a process's peak RSS:
# above a process with its models warmed and small photos (416-422 MiB in
# bench/worker_memory.py), below one that decoded and searched a 50 MP photo (peak 549 MiB).
MEMORY_BOUND_MB = 490


@pytest.fixture(scope="module")
def photos(samples_dir) -> Path:
    return samples_dir / "face_recognition_samples" / "examples"


@pytest.fixture(scope="module")
def world(django_db_setup, photos, tmp_path_factory):
    with open_world(tmp_path_factory, "e2e", env={
        "FACEWEB_SWEEP_INTERVAL_S": str(SWEEP_INTERVAL_S), "FACEWEB_MAX_ATTEMPTS": "5",
        "FACEWEB_WORKER_MAX_MEMORY_MB": str(MEMORY_BOUND_MB),
    }) as world:
        yield world


@pytest.fixture
def worker(world: World, enter) -> CeleryWorker:
    return enter(world)


def upload(path: Path, **fields) -> Photo:
    with path.open("rb") as f:
        return services.photo_create(file=File(f, name=path.name), **fields)


def finished(
    photo: Photo, worker: CeleryWorker, *, status: str = Photo.Status.DONE, timeout: float = 300
) -> Photo:
    """Wait until the worker is done with ``photo`` (done or failed), check that it ended with
    ``status``, and return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        photo.refresh_from_db()
        if photo.status in (Photo.Status.DONE, Photo.Status.FAILED):
            break
        time.sleep(0.2)
    assert photo.status == status, photo_report(photo, worker)
    return photo


def enrol_obama(photos: Path, worker: CeleryWorker) -> Person:
    obama = services.person_create(name="Barack Obama")
    photo = finished(upload(photos / "obama.jpg", purpose="enrol", person=obama), worker)
    assert photo.error == "", photo_report(photo, worker)
    assert obama.faces.get(is_reference=True).photo == photo
    return obama


def test_a_person_enrolled_from_one_photo_is_recognised_in_another(worker, photos):
    obama = enrol_obama(photos, worker)
    photo = finished(upload(photos / "obama2.jpg"), worker)
    face = photo.faces.get()
    assert face.person == obama and face.decision == Face.Decision.AUTO
    assert face.distance < services.match_threshold()
    assert face.crop and face.expression


def test_a_stranger_stays_unknown(worker, photos):
    enrol_obama(photos, worker)
    face = finished(upload(photos / "biden.jpg"), worker).faces.get()
    assert face.person is None and face.decision == Face.Decision.UNKNOWN


def test_a_group_photo_yields_every_face_and_recognises_who_it_can(worker, photos):
    obama = enrol_obama(photos, worker)
    group = finished(upload(photos / "knn_examples" / "test" / "obama_and_biden.jpg"), worker)
    faces = list(group.faces.all())
    assert len(faces) >= 2
    assert [f.person for f in faces].count(obama) == 1
    assert any(f.decision == Face.Decision.UNKNOWN for f in faces)  # Biden at least


def test_a_corrupt_upload_ends_failed_with_a_readable_error(worker, photos, tmp_path):
    truncated = tmp_path / "truncated.jpg"  # its header intact, half its pixels gone
    content = (photos / "obama.jpg").read_bytes()
    truncated.write_bytes(content[: len(content) // 2])
    photo = finished(upload(truncated), worker, status=Photo.Status.FAILED)
    assert "damaged" in photo.error and not photo.faces.exists()


def processing(photo: Photo, worker: CeleryWorker) -> Photo:
    """Wait (polling closely) until a worker process has claimed ``photo``."""
    deadline = time.monotonic() + 120
    while photo.status != Photo.Status.PROCESSING and time.monotonic() < deadline:
        time.sleep(0.01)
        photo.refresh_from_db()
    assert photo.status == Photo.Status.PROCESSING, photo_report(photo, worker)
    return photo


def big_png(photos: Path, tmp_path: Path) -> Path:
    """obama.jpg in the middle of a 4000 x 3000 PNG (decoded in full: a wide window mid-job)."""
    path = tmp_path / "big.png"
    canvas = Image.new("RGB", (4000, 3000), "white")
    with Image.open(photos / "obama.jpg") as image:
        canvas.paste(image, (1500, 1000))
    canvas.save(path)
    return path


def test_a_photo_whose_worker_process_is_killed_mid_job_is_taken_over_at_once(
    worker, world, photos, tmp_path
):
    """The pool replaces the killed process and Celery delivers the job again; the job takes
    the photo over because the process holding its claim is gone. The sweep is kept out of it
    (a worker of its own, with the sweep hourly), or it might be the one that recovers it."""
    worker.stop()
    without_sweep = CeleryWorker(redis_url=world.redis.url, media_root=world.media_root,
                                 directory=tmp_path, env={"FACEWEB_SWEEP_INTERVAL_S": "3600"})
    without_sweep.start()
    try:
        finished(upload(photos / "obama.jpg"), without_sweep)  # its models are loaded
        photo = processing(upload(big_png(photos, tmp_path)), without_sweep)
        killed, queued_at = time.monotonic(), photo.queued_at
        os.kill(int(photo.claimed_by.rpartition(":")[2]), signal.SIGKILL)
        photo = finished(photo, without_sweep, timeout=RECOVERY_S)
        print(f"killed worker process: photo done {time.monotonic() - killed:.1f} s later")
        assert photo.faces.count() == 1 and (photo.attempts, photo.crashes) == (2, 1)
        assert photo.queued_at == queued_at, photo_report(photo, without_sweep)  # not re-queued
    finally:
        without_sweep.stop()
        worker.start()


def test_a_photo_whose_whole_worker_is_killed_mid_job_finishes_once_one_runs_again(
    worker, photos
):
    """Parent and child killed: the job waits in Redis unacknowledged (for an hour); the
    sweep of the next worker sees the claim's process gone and queues the photo again."""
    photo = processing(upload(photos / "obama.jpg"), worker)
    queued_at = photo.queued_at
    worker.kill()
    photo.refresh_from_db()
    assert photo.status == Photo.Status.PROCESSING, photo_report(photo, worker)
    worker.start()
    started = time.monotonic()
    photo = finished(photo, worker, timeout=RECOVERY_S)
    print(f"killed worker: photo done {time.monotonic() - started:.1f} s after a new one was ready")
    assert photo.faces.count() == 1 and (photo.attempts, photo.crashes) == (2, 1)
    assert photo.queued_at > queued_at  # queued anew by the sweep


def test_a_worker_process_grown_past_its_memory_bound_is_replaced_after_its_job(
    worker, photos, tmp_path
):
    """A 50 MP photo leaves a process holding more than FACEWEB_WORKER_MAX_MEMORY_MB: it
    finishes the photo, then a fresh process takes the next job. Small photos do not."""
    first, second = (finished(upload(photos / "obama2.jpg"), worker) for _ in range(2))
    assert first.claimed_by == second.claimed_by, photo_report(second, worker)
    path = tmp_path / "50mp.jpg"
    canvas = Image.new("RGB", (8660, 5773), "white")
    with Image.open(photos / "obama.jpg") as image:
        canvas.paste(image.resize((image.width * 4, image.height * 4)), (3000, 2000))
    canvas.save(path, quality=90)
    big = finished(upload(path), worker)
    assert big.faces.count() == 1 and big.width == 8660
    small = finished(upload(photos / "obama2.jpg"), worker)
    assert small.claimed_by != big.claimed_by, photo_report(small, worker)


def test_photos_whose_jobs_redis_lost_finish_soon_after_it_comes_back(worker, world, photos):
    names = ["obama.jpg", "obama2.jpg", "biden.jpg", "obama_small.jpg"] * 4
    burst = [upload(photos / name) for name in names]
    world.redis.kill()  # no persistence in this world's Redis: the queued jobs are gone
    time.sleep(SWEEP_INTERVAL_S)
    world.redis.start()
    back, requeued = time.monotonic(), None
    deadline = back + RECOVERY_S + 60
    while time.monotonic() < deadline:
        ids = [p.pk for p in burst]
        waiting = Photo.objects.filter(pk__in=ids, status=Photo.Status.PENDING)
        if requeued is None and not waiting.filter(queued_at__lt=timezone.now() - timedelta(
                seconds=time.monotonic() - back)).exists():
            requeued = time.monotonic() - back  # every lost job published again
        if not Photo.objects.filter(pk__in=ids).exclude(status=Photo.Status.DONE).exists():
            break
        time.sleep(0.2)
    took = time.monotonic() - back
    burst = [finished(photo, worker, timeout=1) for photo in burst]
    print(f"Redis lost {len(burst)} jobs: queued again {requeued:.1f} s and all done "
          f"{took:.1f} s after it came back")
    assert all(photo.faces.count() == 1 for photo in burst)
    # A sweep interval, after the worker has reconnected to Redis (its retries, seconds).
    assert requeued < SWEEP_INTERVAL_S + 10 and took < RECOVERY_S + 30


def test_a_photo_uploaded_while_redis_is_down_finishes_once_redis_is_back(worker, world, photos):
    world.redis.stop()
    photo = upload(photos / "obama2.jpg")
    photo.refresh_from_db()
    assert photo.status == Photo.Status.PENDING and photo.queued_at is None
    time.sleep(3)  # the worker and beat notice the outage
    world.redis.start()
    photo = finished(photo, worker)
    assert photo.faces.count() == 1
