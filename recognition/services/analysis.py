"""A claimed photo analysed in a worker: the pipeline finds its faces, they are identified
against the gallery and stored, and an enrolment photo's face becomes the person's reference.
It builds on photos (claims), faces (enrolment) and recognise, so no other module imports it."""

from __future__ import annotations

import io
import logging

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image

from recognition import files, selectors
from recognition.models import EMBEDDING_DTYPE, Face, Photo
from recognition.pipeline import age_gender, matching, quality, spec
from recognition.services.faces import person_enrol
from recognition.services.photos import TRANSIENT_ERRORS, _photo_fail, _photo_finish
from recognition.services.recognise import _embeddings, match_threshold

logger = logging.getLogger(__name__)


def photo_analyse(*, photo: Photo, pipeline: spec.Pipeline | None = None) -> Photo:
    """Run ``pipeline`` (default: this process's, ``spec.current()``) on a claimed photo,
    identify its faces, and store the outcome.

    The photo ends done (its faces replaced in one transaction) or failed with an error a
    person can read. Database hiccups (TRANSIENT_ERRORS) propagate for the task to retry.
    Results are dropped if another claim took the photo over meanwhile (``attempts``).
    """
    # Imported here, not at the top: this is what loads the models (see the package docstring).
    from recognition.pipeline import image, loader

    pipeline = pipeline or spec.current()
    try:
        with photo.file.open("rb") as f:
            result = pipeline.analyse_file(
                f, attributes=settings.FACEWEB_AGE_GENDER,
                liveness=photo.source in Photo.CAMERA_SOURCES)
    except image.ImageError as exc:
        return _photo_fail(photo, str(exc))
    except loader.ModelNotInstalled as exc:
        return _photo_fail(photo, f"The face models are not installed on the server: {exc}")
    except FileNotFoundError:
        return _photo_fail(photo, "The uploaded file is missing from storage.")
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:  # a bug or a broken model: fail this photo, keep the worker going
        logger.exception("Analysing photo %s crashed", photo.pk)
        return _photo_fail(photo, f"Analysis crashed ({type(exc).__name__}); see the worker log.")

    matches = matching.identify(
        _embeddings(result.faces),
        selectors.gallery_get(model_version=pipeline.spec.version),
        threshold=match_threshold(pipeline),
        margin=settings.FACEWEB_MATCH_MARGIN,
    )
    written: list = []  # new crops: removed again if the transaction does not commit
    try:
        with transaction.atomic():
            if not _photo_finish(
                photo, status=Photo.Status.DONE, width=result.width, height=result.height,
                model_version=pipeline.spec.version, timings_ms=result.timings_ms,
            ):
                return photo
            old_faces = list(photo.faces.all())
            photo.faces.all().delete()
            for face_result, match in zip(result.faces, matches, strict=True):
                _face_create(
                    photo, face_result, match, spec=pipeline.spec, previous=old_faces,
                    written=written,
                )
            if photo.purpose == Photo.Purpose.ENROL and not photo.faces.filter(
                person=photo.person_id, is_reference=True
            ).exists():
                try:
                    person_enrol(person=photo.person, photo=photo)
                except ValidationError as exc:
                    photo.error = " ".join(exc.messages)
                    photo.save(update_fields=["error"])
            transaction.on_commit(lambda: files.delete(f.crop for f in old_faces))
    except BaseException:
        files.delete(written)
        raise
    return photo


def _face_create(
    photo: Photo, result, match: matching.Match, *, spec, previous: list[Face], written: list,
) -> Face:
    """Store one FaceResult; keep a person's earlier assignment of a face in the same place.
    Its crop is added to ``written`` (removed by the caller if the transaction fails)."""
    box = [float(v) for v in result.detection.box]
    sharpness = quality.sharpness(result.chip)
    yaw, pitch, roll = quality.pose(result.detection.landmarks)
    gender, gender_probability = age_gender.gender(result.male)
    face = Face(
        photo=photo, box=box, landmarks=np.asarray(result.detection.landmarks).tolist(),
        detection_score=float(result.detection.score),
        sharpness=sharpness, yaw=yaw, pitch=pitch, roll=roll,
        quality=quality.score(side=min(box[2] - box[0], box[3] - box[1]), sharpness=sharpness,
                              yaw=yaw, pitch=pitch, detection=result.detection.score),
        age=result.age, liveness_score=result.liveness,
        gender=gender or "", gender_probability=gender_probability,
        embedding=np.asarray(result.embedding, dtype=EMBEDDING_DTYPE).tobytes(),
        model_version=spec.version, expression=result.expression,
        expression_model=spec.expression,
        expression_scores={k: float(v) for k, v in result.expression_scores.items()},
        distance=match.distance,
    )
    # The same face analysed before keeps what people said about it.
    earlier = max(previous, key=lambda f: _iou(f.box, box), default=None)
    if earlier is not None and _iou(earlier.box, box) < 0.5:
        earlier = None
    face.rejected_person_id = earlier.rejected_person_id if earlier else None
    if earlier is not None and earlier.decision == Face.Decision.ASSIGNED:
        face.person_id, face.decision = earlier.person_id, Face.Decision.ASSIGNED
        face.is_reference = earlier.is_reference
    elif match.person_id is not None and match.person_id != face.rejected_person_id:
        face.person_id, face.decision = match.person_id, Face.Decision.AUTO
    elif match.candidate is not None and match.candidate != face.rejected_person_id:
        face.candidate_id = match.candidate  # "possibly": offered, not given
    buffer = io.BytesIO()
    Image.fromarray(result.chip).save(buffer, format="JPEG", quality=90)
    files.store(face.crop, files.stored_name("JPEG"), ContentFile(buffer.getvalue()))
    written.append(face.crop)
    face.save()
    return face


def _iou(a: list[float], b: list[float]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0
