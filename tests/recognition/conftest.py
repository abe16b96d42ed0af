"""Fixtures for the recognition app's tests.

- Every test gets an empty MEDIA_ROOT in its own temporary directory and an empty gallery
  cache.
- ``fake_pipeline`` is the services' pipeline (``spec.current()``) for the test: a stand-in
  whose faces the test chooses (no TensorFlow); image decoding stays real.
- ``queued``: the photo ids published to Celery, instead of publishing them.

A real Redis and a real worker process: see tests/worlds.py, and ``enter`` in tests/conftest.py.
"""

import dataclasses
from pathlib import Path

import pytest

from recognition import selectors
from recognition.pipeline import spec
from recognition.pipeline.image import load_image
from recognition.pipeline.spec import PipelineSpec
from recognition.pipeline.types import ImageAnalysis
from recognition.services import faces


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "media" / "uploading")
    Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir(parents=True)


@pytest.fixture(autouse=True)
def _empty_gallery_cache():
    selectors.gallery_cache_clear()
    faces._reidentified.clear()
    yield
    selectors.gallery_cache_clear()
    faces._reidentified.clear()


class FakePipeline:
    """A pipeline (spec.Pipeline) whose ``analyse_file`` decodes the file for real, then
    returns ``faces`` for any image, or raises ``error``. Its threshold is 0.6."""

    spec = PipelineSpec(detector="fake", threshold=0.6)

    def __init__(self):
        self.faces = []
        self.error: Exception | None = None
        self.calls = 0

    def analyse_image(self, image) -> ImageAnalysis:
        self.calls += 1
        if self.error is not None:
            raise self.error
        height, width = image.shape[:2]
        return ImageAnalysis(width=width, height=height, faces=list(self.faces),
                             timings_ms={"detect": 1.0})

    def analyse_file(
        self, source, *, attributes: bool = True, liveness: bool = False, eyes: bool = False
    ) -> ImageAnalysis:
        analysis = self.analyse_image(load_image(source))
        faces = [
            dataclasses.replace(f, **({} if attributes else {"age": None, "male": None}),
                                **({} if liveness else {"liveness": None}))
            for f in analysis.faces
        ]
        return dataclasses.replace(analysis, faces=faces)


@pytest.fixture
def fake_pipeline(monkeypatch) -> FakePipeline:
    """The services' pipeline for this test (no TensorFlow)."""
    fake = FakePipeline()
    monkeypatch.setattr(spec, "current", lambda: fake)
    return fake


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """The photo ids whose jobs were published, in order, with no Redis: the publish and the
    job markers (recognition.jobs) are kept in this process. ``queued.markers`` is the set of
    ids with a marker; remove one to play a job that Redis lost."""
    from recognition import jobs
    from recognition.tasks import analyse_photo

    class Queued(list):
        markers: set[int]

    ids = Queued()
    ids.markers = set()
    monkeypatch.setattr(analyse_photo, "delay", ids.append)
    monkeypatch.setattr(jobs, "marker_set", ids.markers.add)
    monkeypatch.setattr(jobs, "marker_clear", ids.markers.discard)
    monkeypatch.setattr(jobs, "markers_missing", lambda photo_ids: set(photo_ids) - ids.markers)
    return ids
