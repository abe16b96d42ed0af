"""Services on a real database, with a stand-in pipeline (see conftest.fake_pipeline)."""

import dataclasses
import hashlib
import io
import logging
import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError
from django.utils import timezone
from PIL import Image

from recognition import jobs, services
from recognition.models import Face, Heartbeat, Person, Photo
from recognition.pipeline.image import ImageError
from recognition.pipeline.loader import ModelNotInstalled
from tests.factories import (
    embedding,
    face_result,
    jpeg_bytes,
    make_face,
    make_person,
    make_photo,
    near,
    png_bytes,
    upload,
)

pytestmark = pytest.mark.django_db

ENROLLABLE = (10.0, 10.0, 60.0, 60.0)  # a face box large enough to enrol from


def analysed(fake_pipeline, *faces, **create) -> Photo:
    """A photo created and analysed with the stand-in pipeline finding ``faces``."""
    fake_pipeline.faces = list(faces)
    photo = services.photo_create(file=upload(), **create)
    return services.photo_analyse(photo=services.photo_claim(photo_id=photo.pk))


# --- photo_create ------------------------------------------------------------------------------


def test_photo_create_stores_the_file_and_its_hash_and_queues_it_on_commit(
    queued, django_capture_on_commit_callbacks
):
    content = png_bytes()
    with django_capture_on_commit_callbacks(execute=True):
        photo = services.photo_create(file=upload(content, name="Holiday PIC.PNG"))
    photo.refresh_from_db()
    assert photo.status == Photo.Status.PENDING
    assert photo.content_hash == hashlib.sha256(content).hexdigest()
    assert photo.size_bytes == len(content)
    with photo.file.open("rb") as f:
        assert f.read() == content
    assert photo.file.name.endswith(".png") and "Holiday" not in photo.file.name
    assert queued == [photo.pk]
    assert photo.queued_at is not None


def jpeg_taken(when: str, offset: str | None = None, size=(64, 48)) -> bytes:
    exif = Image.Exif()
    details = exif.get_ifd(0x8769)
    details[0x9003] = when  # DateTimeOriginal
    if offset:
        details[0x9011] = offset  # OffsetTimeOriginal
    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 120, 150)).save(buffer, "JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def test_photo_create_keeps_the_original_name_and_when_the_photo_was_taken(settings):
    settings.TIME_ZONE = "Europe/Paris"
    photo = services.photo_create(file=upload(jpeg_taken("2024:07:14 18:30:05"), "IMG_0042.JPG"))
    assert photo.original_name == "IMG_0042.JPG"
    assert photo.taken_at == datetime(2024, 7, 14, 16, 30, 5, tzinfo=UTC)  # Paris in summer
    other = services.photo_create(file=upload(jpeg_taken("2024:07:14 18:30:05", "-05:00")))
    assert other.taken_at == datetime(2024, 7, 14, 23, 30, 5, tzinfo=UTC)
    assert services.photo_create(file=upload()).taken_at is None


def test_a_smaller_copy_made_in_the_browser_takes_its_date_from_the_originals_beginning():
    original = jpeg_taken("2023:12:24 09:00:00", "+00:00", size=(640, 480))
    photo = services.photo_create(
        file=upload(jpeg_bytes(), "IMG_0043.HEIC"),
        original_head=SimpleUploadedFile("head", original[:4096]),
    )
    assert photo.taken_at == datetime(2023, 12, 24, 9, 0, tzinfo=UTC)
    assert photo.original_name == "IMG_0043.HEIC"


def test_the_same_file_sent_again_by_its_uploader_is_the_photo_sent_before(queued):
    ann, bob = (get_user_model().objects.create_user(name) for name in ("ann", "bob"))
    first = services.photo_create(file=upload(), uploaded_by=ann)
    again = services.photo_create(file=upload(name="copy.png"), uploaded_by=ann)
    assert again.pk == first.pk and again.duplicate and not first.duplicate
    # Another user's copy is theirs: nobody learns that someone else has the same photo.
    theirs = services.photo_create(file=upload(), uploaded_by=bob)
    assert theirs.pk != first.pk and not theirs.duplicate
    # A copy that had failed is analysed again.
    Photo.objects.filter(pk=first.pk).update(status=Photo.Status.FAILED, error="crashed")
    retried = services.photo_create(file=upload(), uploaded_by=ann)
    assert retried.pk == first.pk and retried.status == Photo.Status.PENDING
    assert Photo.objects.count() == 2


def test_a_heic_photo_is_stored_as_heic_and_analysed(fake_pipeline):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "HEIF")
    fake_pipeline.faces = []
    stored = services.photo_create(file=upload(buffer.getvalue(), "IMG_0001.HEIC"))
    photo = services.photo_analyse(photo=services.photo_claim(photo_id=stored.pk))
    assert photo.status == Photo.Status.DONE and photo.file.name.endswith(".heic")
    assert (photo.width, photo.height) == (64, 48)


def test_photo_create_queues_nothing_until_the_transaction_commits(queued):
    services.photo_create(file=upload())  # the test's transaction never commits
    assert queued == []


def test_photo_create_refuses_a_file_over_the_size_limit(settings):
    settings.FACEWEB_MAX_UPLOAD_BYTES = 1024 * 1024
    with pytest.raises(ValidationError, match="larger than the 1 MB limit"):
        services.photo_create(file=upload(b"x" * (1024 * 1024 + 1)))
    assert not Photo.objects.exists()


def test_photo_create_refuses_an_empty_file():
    with pytest.raises(ValidationError, match="empty"):
        services.photo_create(file=upload(b""))


def test_an_enrolment_photo_needs_its_person():
    with pytest.raises(ValidationError, match="needs the person"):
        services.photo_create(file=upload(), purpose=Photo.Purpose.ENROL)


def test_a_photo_uploaded_while_redis_is_down_stays_pending_for_the_sweep(
    django_capture_on_commit_callbacks, celery_broker, caplog
):
    celery_broker("redis://127.0.0.1:1/0")  # nothing listens on port 1
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        photo = services.photo_create(file=upload())
    photo.refresh_from_db()
    assert photo.status == Photo.Status.PENDING
    assert photo.queued_at is None
    assert f"Could not queue photo {photo.pk}" in caplog.text


# --- photo_claim / photo_analyse ---------------------------------------------------------------


def test_a_pending_photo_is_claimed_once():
    photo = make_photo(status=Photo.Status.PENDING)
    claimed = services.photo_claim(photo_id=photo.pk)
    assert claimed.status == Photo.Status.PROCESSING and claimed.attempts == 1
    assert claimed.claimed_by == jobs.this_process()
    assert services.photo_claim(photo_id=photo.pk) is None
    assert services.photo_claim(photo_id=photo.pk + 1000) is None


def test_a_job_delivered_again_takes_over_at_once_a_photo_whose_worker_process_died():
    photo = stuck_photo(Photo.Status.PROCESSING, seconds_ago=1, attempts=1,
                        claimed_by=exited_process())
    claimed = services.photo_claim(photo_id=photo.pk)
    assert claimed.status == Photo.Status.PROCESSING and claimed.attempts == 2
    assert claimed.claimed_by == jobs.this_process() and claimed.crashes == 1


def test_a_live_claim_is_left_alone_until_it_expires(settings):
    settings.FACEWEB_STUCK_AFTER_S = 60
    alive = stuck_photo(Photo.Status.PROCESSING, seconds_ago=58, attempts=1,
                        claimed_by="another-host#0-0:1")
    assert services.photo_claim(photo_id=alive.pk) is None
    expired = stuck_photo(Photo.Status.PROCESSING, seconds_ago=62, attempts=1,
                          claimed_by="another-host#0-0:1")
    assert services.photo_claim(photo_id=expired.pk).attempts == 2


def test_a_retry_takes_over_the_claim_its_earlier_run_abandoned():
    photo = make_photo(status=Photo.Status.PENDING)
    first = services.photo_claim(photo_id=photo.pk)  # handing it back failed: still ours
    assert services.photo_claim(photo_id=photo.pk) is None
    retried = services.photo_claim(photo_id=photo.pk, abandoned=first.attempts)
    assert retried.attempts == 2 and retried.crashes == 0  # nothing crashed


def test_a_host_name_shared_by_another_machine_does_not_make_its_claims_look_dead():
    """Containers on one host, or cloned machines, may share a host name but not pids."""
    pid = exited_process().rpartition(":")[2]
    twin = f"{socket.gethostname()}#00000000-1:{pid}"
    assert not jobs.holder_is_gone(twin)
    assert jobs.holder_is_gone(exited_process())


def test_a_photo_whose_worker_died_on_it_every_time_fails_instead_of_being_taken_over(settings):
    settings.FACEWEB_MAX_ATTEMPTS = 3
    photo = stuck_photo(Photo.Status.PROCESSING, seconds_ago=1, attempts=7, crashes=2,
                        claimed_by=exited_process())
    assert services.photo_claim(photo_id=photo.pk) is None
    photo.refresh_from_db()
    assert photo.status == Photo.Status.FAILED and "never finished" in photo.error


def test_photo_analyse_stores_every_face_with_its_crop_and_marks_the_photo_done(fake_pipeline):
    vector = embedding(1)
    photo = analysed(fake_pipeline, face_result(vector), face_result(embedding(2), box=(5, 5, 9, 9)))
    photo.refresh_from_db()
    assert photo.status == Photo.Status.DONE and photo.error == ""
    assert (photo.width, photo.height) == (64, 48)
    assert photo.model_version == services.model_version()
    assert photo.timings_ms == {"detect": 1.0}
    first, second = photo.faces.all()
    assert first.embedding_array().tolist() == vector.tolist()
    assert first.box == [10.0, 10.0, 40.0, 40.0] and second.box == [5.0, 5.0, 9.0, 9.0]
    assert first.expression == "happy" and first.expression_scores["happy"] == 1.0
    assert first.expression_model == fake_pipeline.spec.expression  # what read it
    assert first.decision == Face.Decision.UNKNOWN and first.person is None
    assert first.crop.storage.exists(first.crop.name)
    with first.crop.open("rb") as f:
        assert f.read(2) == b"\xff\xd8"  # a JPEG


def test_each_face_stores_its_estimated_age_gender_pose_and_quality(fake_pipeline):
    face = analysed(fake_pipeline, face_result(embedding(1), age=34.4, male=0.2)).faces.get()
    assert face.age == pytest.approx(34.4)
    assert (face.gender, face.gender_probability) == ("female", pytest.approx(0.8))
    # The factory's landmarks are those of a face looking straight at the camera.
    assert abs(face.yaw) < 1 and abs(face.roll) < 1 and face.facing == "towards the camera"
    # 30 px across (80 count fully), a sharp crop, facing us, detector's score 0.99.
    assert face.quality == pytest.approx(30 / 80 * 0.99 * np.cos(np.radians(face.pitch)))


@pytest.mark.parametrize(("source", "stored"), [("webcam", 0.25), ("live", 0.25), ("upload", None)])
def test_camera_faces_store_their_liveness_and_others_none(fake_pipeline, source, stored):
    face = analysed(fake_pipeline, face_result(embedding(1), liveness=0.25),
                    source=source).faces.get()
    assert face.liveness_score == stored


def test_with_age_and_gender_off_they_are_neither_computed_nor_stored(fake_pipeline, settings):
    settings.FACEWEB_AGE_GENDER = False
    face = analysed(fake_pipeline, face_result(embedding(1), age=50.0, male=0.9)).faces.get()
    assert (face.age, face.gender, face.gender_probability) == (None, "", None)
    assert face.yaw is not None  # pose and quality are not estimates about the person


def test_turning_age_and_gender_off_erases_what_was_stored(fake_pipeline):
    analysed(fake_pipeline, face_result(embedding(1)), face_result(embedding(2), age=None,
                                                                   male=None))
    assert services.faces_forget_age_gender() == 1
    assert not Face.objects.exclude(age=None, gender="", gender_probability=None).exists()
    assert services.faces_forget_age_gender() == 0


def test_photo_analyse_runs_the_pipeline_it_is_given_and_records_its_version():
    from tests.recognition.conftest import FakePipeline

    given = FakePipeline()
    given.faces = [face_result(embedding(1))]
    photo = services.photo_create(file=upload())
    services.photo_analyse(photo=services.photo_claim(photo_id=photo.pk), pipeline=given)
    photo.refresh_from_db()
    assert given.calls == 1 and photo.status == Photo.Status.DONE
    assert photo.model_version == given.spec.version != services.model_version()
    assert photo.faces.get().model_version == given.spec.version


def test_it_recognises_a_face_near_a_reference(fake_pipeline):
    ada = make_person("Ada")
    make_face(vector=embedding(1), person=ada, reference=True)
    photo = analysed(fake_pipeline, face_result(near(embedding(1), 0.3)))
    face = photo.faces.get()
    assert face.person == ada and face.decision == Face.Decision.AUTO
    assert face.distance == pytest.approx(0.3, abs=1e-5)
    assert not face.is_reference  # automatic matches never teach the gallery


def test_it_keeps_a_face_unknown_when_every_person_is_too_far(fake_pipeline):
    make_face(vector=embedding(1), person=make_person("Ada"), reference=True)
    face = analysed(fake_pipeline, face_result(near(embedding(1), 0.7))).faces.get()
    assert face.person is None and face.decision == Face.Decision.UNKNOWN
    assert face.distance == pytest.approx(0.7, abs=1e-5)


def test_it_keeps_a_face_unknown_when_two_people_are_too_close_to_tell_apart(
    fake_pipeline, settings
):
    settings.FACEWEB_MATCH_MARGIN = 0.05
    ada, bob = make_person("Ada"), make_person("Bob")
    probe = embedding(1)
    make_face(vector=near(probe, 0.40, seed=1), person=ada, reference=True)
    make_face(vector=near(probe, 0.43, seed=2), person=bob, reference=True)
    assert analysed(fake_pipeline, face_result(probe)).faces.get().person is None

    settings.FACEWEB_MATCH_MARGIN = 0.02
    assert analysed(fake_pipeline, face_result(probe)).faces.get().person == ada


def test_the_match_threshold_defaults_to_the_one_calibrated_for_the_pipeline(
    fake_pipeline, settings
):
    settings.FACEWEB_MATCH_THRESHOLD = None
    assert services.match_threshold() == fake_pipeline.spec.threshold == 0.6


def test_the_match_threshold_setting_overrides_the_pipeline_default(fake_pipeline, settings):
    make_face(vector=embedding(1), person=make_person("Ada"), reference=True)
    settings.FACEWEB_MATCH_THRESHOLD = 0.2
    assert analysed(fake_pipeline, face_result(near(embedding(1), 0.3))).faces.get().person is None


def test_only_references_of_the_current_model_version_are_matched(fake_pipeline):
    make_face(vector=embedding(1), person=make_person("Ada"), reference=True, model_version="old")
    assert analysed(fake_pipeline, face_result(embedding(1))).faces.get().person is None


def test_a_damaged_upload_ends_failed_with_a_readable_error(fake_pipeline):
    photo = services.photo_create(file=upload(png_bytes()[:60]))
    services.photo_analyse(photo=services.photo_claim(photo_id=photo.pk))
    photo.refresh_from_db()
    assert photo.status == Photo.Status.FAILED
    assert "damaged" in photo.error
    assert fake_pipeline.calls == 0


def test_a_file_that_is_not_an_image_is_refused_saying_which_formats_work(settings):
    with pytest.raises(ImageError, match="JPEG"):
        services.photo_create(file=upload(b"%PDF-1.4 not a photo", name="cv.pdf"))
    assert not Photo.objects.exists()
    assert not [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()]


def test_a_file_cut_inside_its_header_is_refused_as_damaged(settings):
    with pytest.raises(ImageError, match="damaged"):
        services.photo_create(file=upload(jpeg_bytes()[:300], name="cut.jpg"))
    assert not Photo.objects.exists()


def test_a_photo_is_stored_under_a_random_name_with_the_suffix_of_its_real_format():
    """Not the client's name (steal.html), nor the content hash (anyone holding a copy could
    test for it), nor anything enumerable."""
    first = services.photo_create(file=upload(png_bytes(), name="steal.html"))
    second = services.photo_create(file=upload(png_bytes(), name="steal.html"))
    names = [Path(p.file.name).name for p in (first, second)]
    assert all(n.endswith(".png") and len(n) >= 24 + 4 for n in names)
    assert names[0] != names[1] and first.content_hash[:8] not in names[0]


def test_missing_models_fail_the_photo_with_the_command_that_installs_them(fake_pipeline):
    fake_pipeline.error = ModelNotInstalled("the embedder model is not installed in var/models")
    photo = analysed(fake_pipeline)
    photo.refresh_from_db()
    assert photo.status == Photo.Status.FAILED
    assert "python manage.py install_models" in photo.error


def test_a_crash_in_the_pipeline_fails_the_photo_and_is_logged(fake_pipeline, caplog):
    fake_pipeline.error = ZeroDivisionError("oops")
    photo = analysed(fake_pipeline)
    photo.refresh_from_db()
    assert photo.status == Photo.Status.FAILED
    assert "ZeroDivisionError" in photo.error
    assert f"Analysing photo {photo.pk} crashed" in caplog.text


def test_a_rerun_replaces_the_faces_and_keeps_what_people_assigned(
    fake_pipeline, queued, django_capture_on_commit_callbacks
):
    photo = analysed(
        fake_pipeline, face_result(embedding(1)), face_result(embedding(2), (50, 50, 90, 90))
    )
    first, second = photo.faces.all()
    services.face_assign(face=first, new_person_name="Ada")

    with django_capture_on_commit_callbacks(execute=True):
        services.photo_reanalyse(photo=photo)
        fake_pipeline.faces = [face_result(embedding(1), box=(11, 11, 41, 41))]  # moved a bit
        services.photo_analyse(photo=services.photo_claim(photo_id=photo.pk))

    face = photo.faces.get()
    assert face.pk not in (first.pk, second.pk)
    assert face.person.name == "Ada" and face.is_reference
    assert face.decision == Face.Decision.ASSIGNED
    assert not Face.objects.filter(pk__in=[first.pk, second.pk]).exists()
    assert not second.crop.storage.exists(second.crop.name)
    assert queued == [photo.pk]


def test_a_stale_claim_cannot_overwrite_a_newer_one(fake_pipeline):
    photo = make_photo(status=Photo.Status.PENDING)
    stale = services.photo_claim(photo_id=photo.pk)
    Photo.objects.filter(pk=photo.pk).update(status=Photo.Status.PENDING)  # the sweep's reset
    services.photo_claim(photo_id=photo.pk)
    fake_pipeline.faces = [face_result(embedding(1))]
    services.photo_analyse(photo=stale)
    photo.refresh_from_db()
    assert photo.status == Photo.Status.PROCESSING and photo.attempts == 2
    assert not photo.faces.exists()


# --- enrolment and assignment ------------------------------------------------------------------


def test_a_photo_with_one_face_enrols_a_person(fake_pipeline):
    ada = services.person_create(name="  Ada ")
    photo = analysed(fake_pipeline, face_result(embedding(1), box=ENROLLABLE))
    face = services.person_enrol(person=ada, photo=photo)
    assert ada.name == "Ada"
    assert face.person == ada and face.is_reference and face.decision == Face.Decision.ASSIGNED


def test_enrolment_refuses_a_photo_without_a_face(fake_pipeline):
    photo = analysed(fake_pipeline)
    with pytest.raises(ValidationError, match="No face was found"):
        services.person_enrol(person=make_person(), photo=photo)


def test_enrolment_asks_which_face_when_a_photo_shows_several(fake_pipeline):
    ada = make_person("Ada")
    photo = analysed(fake_pipeline, face_result(embedding(1)), face_result(embedding(2)))
    with pytest.raises(ValidationError, match="shows 2 faces; open it and choose which one is Ada"):
        services.person_enrol(person=ada, photo=photo)
    chosen = photo.faces.last()
    assert services.person_enrol(person=ada, photo=photo, face=chosen).person == ada
    assert list(ada.faces.filter(is_reference=True)) == [chosen]


def test_enrolment_refuses_a_face_from_another_photo(fake_pipeline):
    photo = analysed(fake_pipeline, face_result(embedding(1)))
    with pytest.raises(ValidationError, match="not in this photo"):
        services.person_enrol(person=make_person(), photo=photo, face=make_face())


def test_enrolment_waits_for_the_analysis():
    photo = make_photo(status=Photo.Status.PENDING)
    with pytest.raises(ValidationError, match="not been analysed yet"):
        services.person_enrol(person=make_person(), photo=photo)


def test_a_face_too_small_to_stand_for_a_person_is_not_enrolled_saying_why(fake_pipeline):
    ada = make_person("Ada")
    photo = analysed(fake_pipeline, face_result(embedding(1)), purpose="enrol", person=ada)
    photo.refresh_from_db()
    assert photo.error == ("The face in this photo is too small to recognise Ada by (30 pixels "
                           "across; at least 40 are needed). Use a closer photo.")
    assert not ada.faces.filter(is_reference=True).exists()


def test_a_blurred_face_is_not_enrolled_saying_why(fake_pipeline):
    ada = make_person("Ada")
    blurred = face_result(embedding(1), box=ENROLLABLE)
    blurred = dataclasses.replace(blurred, chip=np.full((150, 150, 3), 128, np.uint8))
    photo = analysed(fake_pipeline, blurred, purpose="enrol", person=ada)
    photo.refresh_from_db()
    assert photo.faces.get().sharpness == 0.0
    assert photo.error == "The face in this photo is too blurred to recognise Ada by. Use a " \
        "sharper photo."
    assert not ada.faces.filter(is_reference=True).exists()


def test_a_face_turned_aside_is_not_enrolled_saying_why(fake_pipeline):
    ada = make_person("Ada")
    turned = face_result(embedding(1), box=ENROLLABLE)
    # The nose far towards one eye, the near eye closer to it: about 47 degrees aside.
    landmarks = np.array([[22, 20], [32, 20], [34, 27], [21, 34], [31, 34]], np.float32)
    turned = dataclasses.replace(turned, detection=dataclasses.replace(
        turned.detection, landmarks=landmarks))
    photo = analysed(fake_pipeline, turned, purpose="enrol", person=ada)
    photo.refresh_from_db()
    assert photo.error == "The face in this photo is turned too far aside (about 47 degrees) " \
        "to recognise Ada by. Use a photo where they face the camera."
    assert not ada.faces.filter(is_reference=True).exists()


def test_choosing_the_face_of_an_enrolment_photo_clears_its_question(fake_pipeline):
    ada = make_person("Ada")
    photo = analysed(fake_pipeline, face_result(embedding(1), box=ENROLLABLE),
                     face_result(embedding(2), box=(70, 10, 120, 60)), purpose="enrol", person=ada)
    photo.refresh_from_db()
    assert "choose which one is Ada" in photo.error
    services.face_assign(face=photo.faces.last(), person=ada)
    photo.refresh_from_db()
    assert photo.error == ""


def test_an_enrolment_photo_enrols_its_person_as_soon_as_it_is_analysed(fake_pipeline):
    ada = make_person("Ada")
    photo = analysed(fake_pipeline, face_result(embedding(1), box=ENROLLABLE), purpose="enrol", person=ada)
    assert photo.status == Photo.Status.DONE and photo.error == ""
    assert ada.faces.get(is_reference=True).photo == photo


def test_an_enrolment_photo_with_two_faces_says_why_it_enrolled_nobody(fake_pipeline):
    ada = make_person("Ada")
    photo = analysed(
        fake_pipeline, face_result(embedding(1)), face_result(embedding(2)),
        purpose="enrol", person=ada,
    )
    photo.refresh_from_db()
    assert photo.status == Photo.Status.DONE
    assert photo.error == "This photo shows 2 faces; open it and choose which one is Ada."
    assert not ada.faces.exists()


def test_a_face_can_start_a_new_person():
    face = services.face_assign(face=make_face(), new_person_name="Grace")
    assert Person.objects.get().name == "Grace"
    assert face.person.name == "Grace" and face.is_reference


def test_assigning_a_face_needs_exactly_one_of_a_person_or_a_new_name():
    with pytest.raises(ValidationError, match="not both"):
        services.face_assign(face=make_face())
    with pytest.raises(ValidationError, match="not both"):
        services.face_assign(face=make_face(), person=make_person(), new_person_name="Bob")


def test_a_person_needs_a_name():
    with pytest.raises(ValidationError):
        services.person_create(name="   ")


# --- deletion ----------------------------------------------------------------------------------


def test_person_delete_purges_their_references_enrolment_photos_and_files(
    fake_pipeline, django_capture_on_commit_callbacks
):
    ada = make_person("Ada")
    enrolment = analysed(fake_pipeline, face_result(embedding(1), box=ENROLLABLE), purpose="enrol", person=ada)
    group = analysed(fake_pipeline, face_result(embedding(2)), face_result(near(embedding(1), 0.2)))
    assigned, matched = group.faces.all()
    services.face_assign(face=assigned, person=ada)
    matched.refresh_from_db()
    assert matched.person == ada and matched.decision == Face.Decision.AUTO
    files = [enrolment.file, *(f.crop for f in Face.objects.filter(person=ada, is_reference=True))]
    assert all(f.storage.exists(f.name) for f in files)

    with django_capture_on_commit_callbacks(execute=True):
        services.person_delete(person=ada)

    assert not Person.objects.exists()
    assert not Photo.objects.filter(pk=enrolment.pk).exists()
    assert not Face.objects.filter(pk=assigned.pk).exists()
    matched.refresh_from_db()
    assert matched.person is None and matched.decision == Face.Decision.UNKNOWN
    assert not any(f.storage.exists(f.name) for f in files)
    assert group.file.storage.exists(group.file.name)  # other people's photos stay
    assert matched.crop.storage.exists(matched.crop.name)


def test_deleting_a_person_outside_the_services_fails_instead_of_keeping_their_faces():
    ada = make_person("Ada")
    make_face(person=ada, reference=True)
    with pytest.raises(IntegrityError):
        ada.delete()


def test_photo_delete_removes_its_faces_and_files(django_capture_on_commit_callbacks):
    face = make_face()
    photo = face.photo
    with django_capture_on_commit_callbacks(execute=True):
        services.photo_delete(photo=photo)
    assert not Face.objects.exists()
    assert not photo.file.storage.exists(photo.file.name)
    assert not face.crop.storage.exists(face.crop.name)


# --- the sweep ---------------------------------------------------------------------------------


def stuck_photo(
    status: str, *, seconds_ago: float, queued: bool = True, attempts: int = 0,
    crashes: int = 0, claimed_by: str = "", started: bool | None = None,
):
    """A photo created and queued ``seconds_ago``, and claimed a second later if processing
    (or ``started``)."""
    at = timezone.now() - timedelta(seconds=seconds_ago)
    started = status == Photo.Status.PROCESSING if started is None else started
    photo = make_photo(status=status)
    Photo.objects.filter(pk=photo.pk).update(
        created_at=at, queued_at=at if queued else None, attempts=attempts, crashes=crashes,
        started_at=at + timedelta(seconds=1) if started else None, claimed_by=claimed_by,
    )
    return photo


def exited_process() -> str:
    """``host:pid`` of a process of this host that has exited."""
    child = subprocess.Popen(["true"])
    child.wait()
    return f"{jobs.this_process().rpartition(':')[0]}:{child.pid}"


def test_the_sweep_queues_photos_never_queued_or_whose_job_redis_lost(queued, settings):
    never = stuck_photo(Photo.Status.PENDING, seconds_ago=10, queued=False)
    lost = stuck_photo(Photo.Status.PENDING, seconds_ago=10)  # queued, and no marker
    waiting = stuck_photo(Photo.Status.PENDING, seconds_ago=600)
    queued.markers.add(waiting.pk)  # its job is still in Redis, however long the queue
    left = stuck_photo(Photo.Status.PENDING, seconds_ago=10, started=True)
    queued.markers.add(left.pk)  # left by a job that has started since: no job is coming
    stuck_photo(Photo.Status.PENDING, seconds_ago=1, queued=False)  # its publish is under way
    stuck_photo(Photo.Status.DONE, seconds_ago=600)
    assert services.photos_requeue_stuck() == 3
    assert queued == [never.pk, lost.pk, left.pk]
    assert queued.markers == {waiting.pk, never.pk, lost.pk, left.pk}
    assert Heartbeat.objects.get(name="sweep").at > timezone.now() - timedelta(seconds=5)


def test_the_sweep_queues_again_photos_whose_worker_died_or_whose_claim_expired(
    queued, settings
):
    settings.FACEWEB_STUCK_AFTER_S = 60
    expired = stuck_photo(Photo.Status.PROCESSING, seconds_ago=62, attempts=1)
    crashed = stuck_photo(Photo.Status.PROCESSING, seconds_ago=10, attempts=1,
                          claimed_by=exited_process())
    busy = stuck_photo(Photo.Status.PROCESSING, seconds_ago=10, attempts=1,
                       claimed_by=jobs.this_process())
    elsewhere = stuck_photo(Photo.Status.PROCESSING, seconds_ago=10, attempts=1,
                            claimed_by="another-host#0-0:1")
    assert services.photos_requeue_stuck() == 2
    assert queued == [expired.pk, crashed.pk]
    photos = {p.pk: p for p in Photo.objects.all()}
    assert photos[expired.pk].status == photos[crashed.pk].status == Photo.Status.PENDING
    assert photos[expired.pk].crashes == photos[crashed.pk].crashes == 1
    assert photos[busy.pk].status == photos[elsewhere.pk].status == Photo.Status.PROCESSING


def test_the_sweep_gives_up_on_a_photo_that_killed_its_worker_every_time(queued, settings):
    settings.FACEWEB_STUCK_AFTER_S, settings.FACEWEB_MAX_ATTEMPTS = 60, 3
    photo = stuck_photo(Photo.Status.PROCESSING, seconds_ago=62, attempts=5, crashes=2)
    assert services.photos_requeue_stuck() == 0
    photo.refresh_from_db()
    assert photo.status == Photo.Status.FAILED and "never finished" in photo.error


def test_the_sweep_stops_at_the_first_publish_that_fails(celery_broker):
    celery_broker("redis://127.0.0.1:1/0")
    stuck_photo(Photo.Status.PENDING, seconds_ago=10, queued=False)
    stuck_photo(Photo.Status.PENDING, seconds_ago=10, queued=False)
    assert services.photos_requeue_stuck() == 0
    assert Photo.objects.filter(queued_at__isnull=True).count() == 2


def test_reanalysing_a_failed_photo_queues_it_again(queued, django_capture_on_commit_callbacks):
    photo = make_photo(status=Photo.Status.FAILED, error="models missing", crashes=2)
    with django_capture_on_commit_callbacks(execute=True):
        services.photo_reanalyse(photo=photo)
    photo.refresh_from_db()
    assert photo.status == Photo.Status.PENDING and photo.error == ""
    assert photo.crashes == 0  # a fresh start: earlier crashes do not count against it
    assert queued == [photo.pk]


# --- Re-identification after the references change ------------------------------------------


def test_an_earlier_unknown_face_gets_the_name_of_someone_enrolled_since():
    earlier = make_face(vector=near(embedding(1), 0.3))
    assert services.faces_reidentify() == 0  # an empty gallery names nobody
    make_face(vector=embedding(1), person=(ada := make_person("Ada")), reference=True)
    assert services.faces_reidentify() == 1
    earlier.refresh_from_db()
    assert (earlier.person, earlier.decision) == (ada, Face.Decision.AUTO)
    assert earlier.distance == pytest.approx(0.3, abs=1e-5)
    assert services.faces_reidentify() is None  # the gallery has not changed since


def test_a_match_that_rested_on_a_removed_reference_becomes_unknown_and_is_grouped_again():
    ada = make_person("Ada")
    reference = make_face(vector=embedding(1), person=ada, reference=True)
    matched = make_face(vector=near(embedding(1), 0.3))
    services.faces_reidentify()
    services.person_reference_remove(person=ada, face=reference)
    assert services.faces_reidentify() == 1
    matched.refresh_from_db()
    assert (matched.person, matched.decision, matched.cluster) == (None, "unknown", None)


def test_a_face_said_not_to_be_someone_is_never_matched_to_them_again(fake_pipeline):
    ada = make_person("Ada")
    make_face(vector=embedding(1), person=ada, reference=True)
    photo = analysed(fake_pipeline, face_result(near(embedding(1), 0.3)))
    face = services.face_mark_not_this_person(face=photo.faces.get())
    assert face.rejected_person == ada
    services.faces_reidentify(force=True)
    face.refresh_from_db()
    assert face.person is None
    # Analysing the photo again remembers it too.
    services.photo_reanalyse(photo=photo)
    again = services.photo_analyse(photo=services.photo_claim(photo_id=photo.pk))
    assert again.faces.get().person is None and again.faces.get().rejected_person == ada


def test_re_identification_leaves_faces_a_person_assigned_alone():
    ada, bea = make_person("Ada"), make_person("Bea")
    make_face(vector=embedding(1), person=ada, reference=True)
    assigned = make_face(vector=near(embedding(1), 0.1), person=bea)
    services.faces_reidentify(force=True)
    assigned.refresh_from_db()
    assert (assigned.person, assigned.decision) == (bea, Face.Decision.ASSIGNED)


def test_a_face_just_beyond_the_threshold_is_possibly_its_nearest_person_until_turned_down(
    fake_pipeline
):
    ada = make_person("Ada")
    make_face(vector=embedding(1), person=ada, reference=True)
    # The stand-in pipeline's threshold is 0.6: 0.63 is beyond it, within the band.
    face = analysed(fake_pipeline, face_result(near(embedding(1), 0.63))).faces.get()
    assert (face.person, face.candidate, face.decision) == (None, ada, Face.Decision.UNKNOWN)
    services.face_mark_not_this_person(face=face)
    face.refresh_from_db()
    assert face.candidate is None and face.rejected_person == ada
    services.faces_reidentify(force=True)
    face.refresh_from_db()
    assert face.candidate is None  # not offered as Ada again


def test_re_identification_offers_a_possibly_for_someone_enrolled_since():
    face = make_face(vector=near(embedding(1), 0.45))  # the product's threshold is 0.42
    make_face(vector=embedding(1), person=(ada := make_person("Ada")), reference=True)
    services.faces_reidentify()
    face.refresh_from_db()
    assert (face.person, face.candidate) == (None, ada)
