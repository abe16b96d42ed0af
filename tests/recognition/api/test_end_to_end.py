"""Through the API, a real Redis and a real Celery worker, with the real pipeline on photos
from ``../shared/data/samples``: enrol a person, submit a photo, poll it until the worker is
done, and find them in it. Skipped when the sample photos are absent."""

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from recognition.models import Photo
from tests.worlds import photo_report

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def examples(samples_dir):
    return samples_dir / "face_recognition_samples" / "examples"


def sample(path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes())


def poll(client, url: str, worker, timeout: float = 300) -> dict:
    """GET ``url`` until the photo is done or failed, as a client script would; it must be
    done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(url).json()
        if body["status"] in ("done", "failed"):
            break
        time.sleep(0.5)
    assert body["status"] == "done", photo_report(Photo.objects.get(pk=body["id"]), worker)
    return body


def test_submit_then_poll_finds_the_enrolled_person_and_wait_answers_inline(
    api, staff, user, examples, use_api_worker
):
    admin = api(staff)
    obama = admin.post("/api/v1/people/", {"name": "Barack Obama"}).json()
    enrolment = admin.post(f"{obama['url']}enrol/", {"image": sample(examples / "obama.jpg")},
                           format="multipart")
    assert enrolment.status_code == 202  # the worker's first job also loads the models
    enrolled = poll(admin, enrolment["Location"], use_api_worker)
    assert [f["is_reference"] for f in enrolled["faces"]] == [True]

    client = api(user)
    submitted = client.post("/api/v1/photos/", {"image": sample(examples / "obama2.jpg")},
                            format="multipart")
    assert submitted.status_code == 202
    result = poll(client, submitted.json()["url"], use_api_worker)
    assert result["uploaded_by"] == "ursula"
    [face] = result["faces"]
    assert face["person"]["name"] == "Barack Obama" and face["decision"] == "auto"
    assert face["distance"] is not None and face["expression"] in face["expression_scores"]

    # Models are loaded now: a photo is analysed within the 10 s a client may wait.
    inline = client.post("/api/v1/photos/?wait=10", {"image": sample(examples / "biden.jpg")},
                         format="multipart")
    assert inline.status_code == 201, inline.json()["status"]
    [stranger] = inline.json()["faces"]
    assert stranger["person"] is None and stranger["decision"] == "unknown"

    listed = client.get(f"/api/v1/photos/?person={obama['id']}").json()
    assert [p["id"] for p in listed["results"]] == [result["id"]]
