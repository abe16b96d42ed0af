"""Import throughput with 1, 2, ... worker processes, for ``manage.py benchmark_scale``.

Everything is real and throwaway: a test database (PostgreSQL when DATABASE_URL says so, else
an SQLite file), a redis-server, a media folder, and ``celery worker`` commands started as the
README's deployment section starts them on separate hosts: one command per worker process,
each with its own folder and hostname, on cores of its own (as a host of its own would be) and
FACEWEB_MODEL_THREADS set to their number. ``manage.py import_photos`` first stores and queues
640x480 photos with one face each (timed on its own); then the workers start, and the time
runs from the first worker with its models loaded to the last photo analysed.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings
from PIL import Image, ImageDraw

from recognition.management.processes import RedisServer, database_env, stop_group, use_broker
from recognition.management.throwaway import throwaway_database
from recognition.models import Face, Photo

WORKER_READY_S = 180


def photos(source: Path, folder: Path, count: int, *, skip: int = 0) -> list[Path]:
    """``count`` 640x480 JPEGs in ``folder``, each the middle of a photo of ``source`` (LFW's
    250x250 photos have their person's face there, and sometimes others around it): an oval
    around that face, grey beyond, enlarged to 480x480 on a grey 640x480 background: one face
    each, about 200 pixels wide."""
    folder.mkdir(parents=True, exist_ok=True)
    found = sorted(p for p in source.rglob("*.jpg"))[skip:skip + count]
    if len(found) < count:
        raise ValueError(f"{source} has fewer than {skip + count} .jpg photos")
    made = []
    for path in found:
        with Image.open(path) as photo:
            grey = Image.new("RGB", photo.size, (128, 128, 128))
            # Only the middle face: an oval around it, grey beyond (where others may be).
            oval = Image.new("L", photo.size)
            ImageDraw.Draw(oval).ellipse((65, 45, 185, 215), fill=255)
            middle = Image.composite(photo.convert("RGB"), grey, oval)
            canvas = Image.new("RGB", (640, 480), (128, 128, 128))
            canvas.paste(middle.resize((480, 480)), (80, 0))
        canvas.save(made_path := folder / path.name, quality=90)
        made.append(made_path)
    return made


def measure(source: Path, *, per_run: int, workers: list[int], cores_per_worker: int = 1,
            log=print) -> dict:
    """Photos per minute for each number of worker processes in ``workers`` (a number given
    twice is run twice: the median counts), each worker on ``cores_per_worker`` cores of its
    own (as on a host of its own)."""
    cores = sorted(os.sched_getaffinity(0))
    if max(workers) * cores_per_worker > len(cores):
        raise ValueError(f"{max(workers)} workers of {cores_per_worker} cores need more than "
                         f"the {len(cores)} cores here")
    figures: dict = {}
    with tempfile.TemporaryDirectory(prefix="faceweb-import-") as tmp:
        root = Path(tmp)
        media = root / "media"
        media.mkdir()
        redis = RedisServer(root)
        redis.start()
        try:
            with throwaway_database("import_bench", folder=root), \
                    override_settings(MEDIA_ROOT=media, REDIS_URL=redis.url):
                use_broker(redis.url)
                get_user_model().objects.create_user("importer")
                batch = photos(source, root / "photos", per_run)  # the same for every run
                for run, count in enumerate(workers):
                    began = time.perf_counter()
                    _import(batch[0].parent)
                    stored = time.perf_counter() - began
                    env = {**os.environ, **database_env(), "REDIS_URL": redis.url,
                           "MEDIA_ROOT": str(media), "FACEWEB_WARM_UP": "1",
                           "FACEWEB_MODEL_THREADS": str(cores_per_worker)}
                    started, began = _workers(root / f"workers{run}", env, [
                        cores[i * cores_per_worker:(i + 1) * cores_per_worker]
                        for i in range(count)])
                    try:
                        _wait(per_run)
                        seconds = time.perf_counter() - began
                        faces = Face.objects.count()
                    finally:
                        for process in started:
                            stop_group(process)
                    figures.setdefault(str(count), []).append(per_run / seconds * 60)
                    log(f"  import with {count} worker process{'es' if count > 1 else ''} "
                        f"({cores_per_worker} core{'s' if cores_per_worker > 1 else ''} each): "
                        f"{per_run} photos ({faces} faces) analysed in {seconds:.1f} s, "
                        f"{figures[str(count)][-1]:.0f} photos a minute (import_photos stored and "
                        f"queued them in {stored:.1f} s before)")
                    Photo.objects.all().delete()
        finally:
            redis.stop()
    return {count: statistics.median(runs) for count, runs in figures.items()}


def _workers(folder: Path, env: dict, cores: list[list[int]]):
    """A worker command per entry of ``cores``, as on as many hosts, each on those cores;
    returns them, and the time the first had its models loaded (it starts on the queue at
    once: the clock starts then)."""
    started = []
    for i, mine in enumerate(cores):
        directory = folder / f"worker{i + 1}"
        directory.mkdir(parents=True)
        with (directory / "worker.log").open("w") as log:
            started.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "faceweb", "worker", "--pool", "prefork",
                 "--concurrency", "1", "--hostname", f"import{i + 1}-{os.getpid()}@%h",
                 "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
                cwd=Path(__file__).resolve().parents[2], env=env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True))
        # At once, long before it forks the process that analyses: that inherits the cores.
        os.sched_setaffinity(started[-1].pid, mine)
        started[-1].log = directory / "worker.log"
    deadline, first = time.monotonic() + WORKER_READY_S, None
    while True:
        ready = ["Models loaded and warmed up" in p.log.read_text(errors="replace")
                 for p in started]
        if any(ready) and first is None:
            first = time.perf_counter()
        if all(ready):
            return started, first
        if time.monotonic() > deadline or any(p.poll() is not None for p in started):
            for process in started:
                stop_group(process)
            raise RuntimeError("a worker did not start: see " + str(folder))
        time.sleep(0.05)


def _import(folder: Path) -> None:
    with open(os.devnull, "w") as quiet:
        call_command("import_photos", str(folder), user="importer", stdout=quiet, stderr=quiet)


def _wait(total: int) -> None:
    """Until ``total`` photos are analysed (or failed)."""
    finished = (Photo.Status.DONE, Photo.Status.FAILED)
    deadline = time.monotonic() + 60 + 10 * total
    while Photo.objects.filter(status__in=finished).count() < total:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the workers did not analyse {total} photos in time")
        time.sleep(0.05)

