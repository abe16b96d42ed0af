"""The face_recognition / dlib side of ``bench/benchmark.py``: one long-lived process.

Runs inside the reference virtualenv (``make bench-setup`` creates ``.bench-venv``), reads one
JSON request per line on stdin and answers one JSON line on stdout. Timing happens here, around
the library calls only, so pipe and JSON overhead never count. Every timed answer carries
``ms`` (wall) and ``cpu_ms`` (process CPU time, all threads), plus ``faces`` where it applies.

Requests (``op`` and its fields):
- ``info``: versions and how dlib was built (BLAS, LAPACK, AVX).
- ``locate`` ``path``: face boxes found by HOG, upsample 1, untimed (to pick inputs).
- ``encode`` ``items: [[path, [top, right, bottom, left]], ...]``: one timed pass of
  ``face_encodings(image, known_face_locations=[box], model="small", num_jitters=1)`` per item
  on already decoded images (5-point landmarks, chip and descriptor, as face_recognition does).
- ``detect`` ``path``: timed ``face_locations(image, 1, "hog")`` on the decoded image.
- ``analyse`` ``path``: timed load_image_file -> face_locations (HOG, upsample 1) ->
  face_encodings (small, 1 jitter), face_recognition's usual end-to-end path.
- ``quit``.
"""

from __future__ import annotations

import json
import sys
import time
from importlib import metadata

import dlib
import face_recognition  # loads dlib's models at import, as the package always does

_images: dict[str, object] = {}


def _image(path: str):
    """Decoded RGB image, cached so that only the library call is timed."""
    if path not in _images:
        _images[path] = face_recognition.load_image_file(path)
    return _images[path]


def _timed(fn) -> dict:
    wall, cpu = time.perf_counter(), time.process_time()
    faces = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"ms": wall * 1000, "cpu_ms": cpu * 1000, "faces": faces}


def _encode(items: list) -> int:
    for path, box in items:
        face_recognition.face_encodings(
            _image(path), known_face_locations=[tuple(box)], num_jitters=1, model="small"
        )
    return len(items)


def _analyse(path: str) -> int:
    image = face_recognition.load_image_file(path)
    boxes = face_recognition.face_locations(image, number_of_times_to_upsample=1, model="hog")
    return len(face_recognition.face_encodings(image, known_face_locations=boxes, model="small"))


def handle(request: dict) -> dict:
    op = request["op"]
    if op == "info":
        return {
            "dlib": dlib.__version__,
            # the module's own __version__ string lags behind the release
            "face_recognition": metadata.version("face_recognition"),
            "blas": bool(dlib.DLIB_USE_BLAS),
            "lapack": bool(dlib.DLIB_USE_LAPACK),
            "avx": bool(dlib.USE_AVX_INSTRUCTIONS),
        }
    if op == "locate":
        return {"boxes": face_recognition.face_locations(_image(request["path"]), 1, "hog")}
    if op == "encode":
        return _timed(lambda: _encode(request["items"]))
    if op == "detect":
        image = _image(request["path"])
        return _timed(lambda: len(face_recognition.face_locations(image, 1, "hog")))
    if op == "analyse":
        return _timed(lambda: _analyse(request["path"]))
    raise ValueError(f"unknown op {op!r}")


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "quit":
            break
        print(json.dumps(handle(request)), flush=True)  # an error ends the worker, loudly


if __name__ == "__main__":
    main()
