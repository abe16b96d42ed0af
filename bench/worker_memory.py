"""How much memory a worker process holds: model by model as a worker child loads them (Django
set up and the pipeline imported, then the configured detector, the embedder, the expression
model, then ``spec.warm_up``), after a small photo, then after a 14 MP and a 50 MP photo (each
a sample group photo on a noisy canvas), with the time each took. RSS now and the peak so far
(VmHWM; for each big photo, the peak while it was analysed), in MiB. The figures behind
FACEWEB_WORKER_MAX_MEMORY_MB (faceweb/settings.py).

    .venv/bin/python bench/worker_memory.py [--full]

``--full`` decodes big JPEGs at full size (as before draft decoding) instead of through
``analyse.analyse_file``. Needs the installed models and ../shared/data (FACEWEB_DATA_DIR).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEWEB_DATA_DIR") or ROOT.parent / "shared" / "data")
EXAMPLES = DATA / "samples" / "face_recognition_samples" / "examples"


def rss_mib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS"))


def peak_mib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmHWM"))


def reset_peak() -> None:
    """Peak RSS := RSS now (Linux), so a photo's peak is not the test photo's making."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def big_jpeg(width: int, height: int) -> bytes:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
    canvas = Image.fromarray(noise).resize((width, height))
    with Image.open(EXAMPLES / "two_people.jpg") as photo:
        canvas.paste(photo.resize((photo.width * 3, photo.height * 3)), (width // 4, height // 4))
    buffer = io.BytesIO()
    canvas.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="decode big JPEGs at full size")
    full = parser.parse_args().full
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "faceweb.settings")
    import django

    started, started_peak = rss_mib(), peak_mib()
    django.setup()
    from recognition.pipeline import analyse, expression, loader, spec
    from recognition.pipeline.image import load_image

    print(f"{'step':<36} {'RSS':>5} {'added':>6} {'peak':>5}")
    before = started
    print(f"{'python, numpy, PIL':<36} {started:>5} {'':>6} {started_peak:>5}")
    for step, load in (
        ("django + pipeline imported", lambda: None),
        ("+ detector " + spec.configured().detector, loader.get_detector),
        ("+ embedder", loader.get_embedder),
        ("+ expression networks, age/gender", lambda: [
            loader.get_net(name) for name in [*expression.NETS, "age_gender"]]),
        ("+ warm_up (each model run once)", spec.warm_up),
    ):
        load()
        now = rss_mib()
        print(f"{step:<36} {now:>5} {now - before:>+6} {peak_mib():>5}")
        before = now
    analyse.analyse_file(EXAMPLES / "obama.jpg")
    print(f"one small photo: {rss_mib()} MiB (peak {peak_mib()})")
    for name, size in (("14 MP", (4592, 3056)), ("50 MP", (8660, 5773))):
        data = big_jpeg(*size)
        reset_peak()
        started = time.perf_counter()
        if full:
            analysis = analyse.analyse_image(load_image(data))
        else:
            analysis = analyse.analyse_file(io.BytesIO(data))
        print(f"after a {name} photo ({len(analysis.faces)} faces, "
              f"{time.perf_counter() - started:.2f} s): {rss_mib()} MiB (peak {peak_mib()})")


if __name__ == "__main__":
    main()
