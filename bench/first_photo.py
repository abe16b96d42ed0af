"""The first photo after a worker starts, against the ones after it: a real Redis, a real
`celery worker` (one process, as `make run` starts it), a throwaway SQLite database.

    .venv/bin/python bench/first_photo.py [--photos N] [--cold]

Starts the worker, waits until it is ready (and, unless ``--cold``, until its process has
warmed up its models), then uploads one photo and waits for it, then N more (default 10), one
at a time. Prints each photo's time from upload to done and the first's ratio to the median of
the rest. ``--cold`` sets FACEWEB_WARM_UP=0, as before workers warmed up. Needs the installed
models and ../shared/data (FACEWEB_DATA_DIR).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEWEB_DATA_DIR") or ROOT.parent / "shared" / "data")
PHOTO = DATA / "samples" / "face_recognition_samples" / "examples" / "obama.jpg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=10)
    parser.add_argument("--cold", action="store_true", help="no warm-up (FACEWEB_WARM_UP=0)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="faceweb-first-photo-"))
    os.environ.update(SQLITE_PATH=str(work / "db.sqlite3"), MEDIA_ROOT=str(work / "media"),
                      DJANGO_SETTINGS_MODULE="faceweb.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.files import File
    from django.core.management import call_command

    from recognition import services
    from recognition.models import Photo
    from tests.worlds import CeleryWorker, RedisServer, use_broker

    call_command("migrate", verbosity=0)
    redis = RedisServer(work)
    redis.start()
    env = {"FACEWEB_WARM_UP": "0"} if args.cold else {}
    worker = CeleryWorker(redis_url=redis.url, media_root=work / "media", directory=work, env=env)
    try:
        started = time.monotonic()
        worker.start()
        while not args.cold and "warmed up" not in worker.log.read_text():
            time.sleep(0.1)
        print(f"worker ready{'' if args.cold else ' and warmed up'} "
              f"{time.monotonic() - started:.1f} s after its start")
        use_broker(redis.url)
        times, stages = [], []
        for _ in range(1 + args.photos):
            sent = time.monotonic()
            with PHOTO.open("rb") as f:
                photo = services.photo_create(file=File(f, name=PHOTO.name))
            services.photo_queue(photo_id=photo.pk)  # no transaction here to commit
            while Photo.objects.get(pk=photo.pk).status not in ("done", "failed"):
                time.sleep(0.02)
            times.append(time.monotonic() - sent)
            stages.append(Photo.objects.get(pk=photo.pk).timings_ms)
        first, rest = times[0], statistics.median(times[1:])
        print("each photo, upload to done (s): " + " ".join(f"{t:.2f}" for t in times))
        for name in stages[0]:
            print(f"  {name}: first {stages[0][name]:.0f} ms, then median "
                  f"{statistics.median(s[name] for s in stages[1:]):.0f} ms")
        print(f"first {first:.2f} s, median of the next {args.photos} {rest:.2f} s: "
              f"ratio {first / rest:.2f}")
    finally:
        worker.stop()
        redis.stop()


if __name__ == "__main__":
    main()
