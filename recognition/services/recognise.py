"""Recognition with the configured pipeline: the model version and match threshold faces are
compared by, and verify (1:1) and identify (1:N) of an image now, in this process, storing
nothing (the synchronous API). A stored photo is analysed in a worker (``analysis``)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File

from recognition import selectors
from recognition.models import EMBEDDING_SIZE, Face, Person
from recognition.pipeline import image as images
from recognition.pipeline import matching, spec
from recognition.pipeline.types import FaceResult


def model_version() -> str:
    """The version of the current pipeline's descriptors (spec.PipelineSpec.version): a face
    of another version is never compared with the gallery."""
    return spec.current().spec.version


def match_threshold(pipeline: spec.Pipeline | None = None) -> float:
    """FACEWEB_MATCH_THRESHOLD, or the calibrated default of ``pipeline`` (default: this
    process's) when unset."""
    if settings.FACEWEB_MATCH_THRESHOLD is not None:
        return settings.FACEWEB_MATCH_THRESHOLD
    return (pipeline or spec.current()).spec.threshold


def group_unknown(embeddings: np.ndarray) -> np.ndarray:
    """The product's grouping of unknown faces (``matching.cluster``): ``(N,)`` labels, -1 for
    a face in no group, with FACEWEB_GROUP_THRESHOLD (default: the pipeline's) and
    FACEWEB_GROUP_MIN_SIZE."""
    return matching.cluster(embeddings, threshold=group_threshold(),
                            min_size=settings.FACEWEB_GROUP_MIN_SIZE)


def group_threshold() -> float:
    if settings.FACEWEB_GROUP_THRESHOLD is not None:
        return settings.FACEWEB_GROUP_THRESHOLD
    return spec.current().spec.group_threshold


def grouping_description() -> str:
    return (f"average linkage at {group_threshold():g}, "
            f"groups of at least {settings.FACEWEB_GROUP_MIN_SIZE}")


class AnalysisBusy(RuntimeError):
    """This process's analysis thread stayed busy for FACEWEB_SYNC_WAIT_S."""


class NoFaceFound(ValueError):
    """An image given for verification shows no face."""


class NotLive(ValueError):
    """Liveness was required and the face does not look live (a print held up to a camera?)."""


def is_live(face: FaceResult) -> bool:
    """Whether a face scored for liveness counts as a live person's (``Face.is_live_score``)."""
    return Face.is_live_score(face.liveness)


# One in-process analysis at a time, always on the same thread: LiteRT already spreads one
# analysis over every core (two in parallel would each take twice as long), and the large
# buffers of decoding are reused by that one thread instead of piling up in the allocator's
# pool of each request thread.
_analysis_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faceweb-analysis")


@dataclass(frozen=True)
class Candidate:
    person: Person
    distance: float


@dataclass(frozen=True)
class IdentifiedFace:
    """One face of an identified image: ``person`` None is unknown (same rule as photos)."""

    face: FaceResult
    person: Person | None
    distance: float | None
    candidates: list[Candidate]  # nearest people, nearest first


@dataclass(frozen=True)
class Identification:
    width: int
    height: int
    threshold: float
    faces: list[IdentifiedFace]
    timings_ms: dict[str, float]


@dataclass(frozen=True)
class VerifiedFace:
    """A face a verification used: from ``image``, ``other_image``, or a ``reference``."""

    source: str
    box: list[float]
    detection_score: float
    faces_found: int | None = None  # faces in that image (the largest one is used)
    face_id: int | None = None  # the stored reference face


@dataclass(frozen=True)
class Verification:
    same: bool
    distance: float
    threshold: float
    faces: list[VerifiedFace]
    person: Person | None


def image_analyse_now(
    *, file: File, pipeline: spec.Pipeline | None = None, liveness: bool = False,
    eyes: bool = False,
):
    """Run ``pipeline`` (default: ``spec.current()``) on an image in this process, now,
    storing nothing; returns its ``ImageAnalysis`` (with liveness scores if ``liveness``, eye
    openness if ``eyes``). For callers that cannot poll (the
    synchronous API).

    The models load on the first call, once per process (seconds). Time and memory are
    bounded: the header is checked before anything waits (not an image, or too many pixels:
    ImageError at once); the image is decoded only on this process's one analysis thread,
    so however many requests wait, one decoded image exists at a time; a call waits at most
    FACEWEB_SYNC_WAIT_S for its turn, else raises AnalysisBusy; the pipeline downscales large
    images before detection. Raises ModelNotInstalled when models are missing.
    """

    if file.size > settings.FACEWEB_MAX_UPLOAD_BYTES:
        limit_mb = settings.FACEWEB_MAX_UPLOAD_BYTES / 1024 / 1024
        raise ValidationError(f"This file is larger than the {limit_mb:.0f} MB limit.")
    images.identify(file)
    started = threading.Event()

    def analyse_now():
        started.set()
        return (pipeline or spec.current()).analyse_file(
            file, attributes=settings.FACEWEB_AGE_GENDER, liveness=liveness, eyes=eyes)

    job = _analysis_thread.submit(analyse_now)
    if not started.wait(timeout=settings.FACEWEB_SYNC_WAIT_S) and job.cancel():
        raise AnalysisBusy("The server is busy with other analyses; try again in a few seconds.")
    return job.result()


def analysis_warm_up() -> None:
    """Load and warm up the models on this process's analysis thread, in the background: the
    web server calls it on each process's first request (faceweb/gunicorn.py), so a verify or
    identify after it waits only for what is left of the warm-up, if anything."""
    from recognition.pipeline import spec

    _analysis_thread.submit(spec.warm_up)


def image_identify(
    *, file: File, top_k: int = 3, require_liveness: bool = False
) -> Identification:
    """Every face in an image with who it is (or unknown), its liveness score and its
    ``top_k`` nearest people. With ``require_liveness``, a face that does not look live is
    left unknown, with no nearest people."""
    analysis = image_analyse_now(file=file, liveness=True)
    embeddings = _embeddings(analysis.faces)
    gallery = selectors.gallery_get(model_version=model_version())
    threshold = match_threshold()
    matches = matching.identify(
        embeddings, gallery, threshold=threshold, margin=settings.FACEWEB_MATCH_MARGIN
    )
    nearest = matching.nearest_people(embeddings, gallery, k=top_k)
    people = Person.objects.in_bulk(
        {pid for row in nearest for pid, _ in row} | {m.person_id for m in matches if m.person_id}
    )
    faces = [
        IdentifiedFace(
            face=result, person=people.get(match.person_id), distance=match.distance,
            candidates=[Candidate(people[pid], d) for pid, d in row if pid in people],
        )
        if is_live(result) or not require_liveness
        else IdentifiedFace(face=result, person=None, distance=match.distance, candidates=[])
        for result, match, row in zip(analysis.faces, matches, nearest, strict=True)
    ]
    return Identification(analysis.width, analysis.height, threshold, faces, analysis.timings_ms)


def image_verify(
    *, file: File, other_file: File | None = None, person: Person | None = None,
    require_liveness: bool = False,
) -> Verification:
    """Is the face in ``file`` the same person as the one in ``other_file``, or as ``person``?

    An image's largest face is used. Against a person, the distance is to their nearest
    reference face. Same when the distance is at most the match threshold. Raises
    NoFaceFound when an image shows no face, and with ``require_liveness`` NotLive when the
    face in ``file`` does not look live.
    """
    if (other_file is None) == (person is None):
        raise ValidationError("Compare with another image or with a person (one of them).")
    references = []
    if person is not None:
        references = list(
            Face.objects.filter(person=person, is_reference=True, model_version=model_version())
            .only("id", "box", "detection_score", "embedding")
        )
        if not references:
            raise ValidationError(f"{person.name} has no reference faces to compare with yet.")
    first, used = _largest_face(image_analyse_now(file=file, liveness=require_liveness),
                                source="image")
    if require_liveness and not is_live(first):
        raise NotLive(
            f"The face in the image does not look live (liveness {first.liveness:.2f}, below "
            f"{settings.FACEWEB_LIVENESS_THRESHOLD:g}): a printed photo or a screen? Take the "
            "picture of the person themselves, in even light."
        )
    threshold = match_threshold()
    if other_file is not None:
        second, used_other = _largest_face(image_analyse_now(file=other_file), source="other_image")
        verdict = matching.verify(first.embedding, second.embedding, threshold=threshold)
    else:
        vectors = np.stack([f.embedding_array() for f in references])
        verdict = matching.verify(first.embedding, vectors, threshold=threshold)
        nearest = references[verdict.nearest]
        used_other = VerifiedFace(
            source="reference", box=[float(v) for v in nearest.box],
            detection_score=nearest.detection_score, face_id=nearest.pk,
        )
    return Verification(verdict.same, verdict.distance, threshold, [used, used_other], person)


def _embeddings(faces: list[FaceResult]) -> np.ndarray:
    """(F, 128) float32 descriptors of pipeline results."""
    return np.array([f.embedding for f in faces], dtype=np.float32).reshape(-1, EMBEDDING_SIZE)


def _largest_face(analysis, *, source: str) -> tuple[FaceResult, VerifiedFace]:
    if not analysis.faces:
        label = "the first image" if source == "image" else "the second image"
        raise NoFaceFound(f"No face was found in {label}.")

    def area(f: FaceResult) -> float:
        x1, y1, x2, y2 = f.detection.box
        return (x2 - x1) * (y2 - y1)

    face = max(analysis.faces, key=area)
    return face, VerifiedFace(
        source=source, box=[float(v) for v in face.detection.box],
        detection_score=float(face.detection.score), faces_found=len(analysis.faces),
    )
