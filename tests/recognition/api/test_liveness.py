"""Active liveness (services.liveness): the real pipeline on bursts made from a real photo,
a still one and one whose face turns (tests/camera.py), through the API."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from recognition import jobs
from recognition.pipeline import loader
from recognition.services import liveness
from tests.camera import turned, webcam_frame
from tests.factories import make_face, make_person

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def claims(monkeypatch) -> set[str]:
    """Claims kept in this process instead of Redis (the browser tests use a real one)."""
    claimed: set[str] = set()

    def claim_once(key: str, *, ttl_s: int) -> bool:
        if key in claimed:
            return False
        claimed.add(key)
        return True

    monkeypatch.setattr(jobs, "claim_once", claim_once)
    return claimed


@pytest.fixture(scope="module")
def frame(samples_dir) -> np.ndarray:
    return webcam_frame(samples_dir / "face_recognition_samples" / "examples" / "obama.jpg")


@pytest.fixture(scope="module")
def landmarks(frame) -> np.ndarray:
    return loader.get_detector().detect(frame)[0].landmarks


def jpegs(frames: list[np.ndarray]) -> list[SimpleUploadedFile]:
    files = []
    for i, frame in enumerate(frames):
        out = io.BytesIO()
        Image.fromarray(frame).save(out, format="JPEG", quality=90)
        files.append(SimpleUploadedFile(f"frame{i}.jpg", out.getvalue(), "image/jpeg"))
    return files


def turning(frame, landmarks, amounts) -> list[SimpleUploadedFile]:
    return jpegs([turned(frame, landmarks, a) for a in amounts])


def decide(user, name: str, frames, monkeypatch) -> liveness.Decision:
    monkeypatch.setattr(liveness, "draw_challenge", lambda: name)
    challenge = liveness.challenge_issue(user=user)
    assert challenge.name == name and challenge.prompt == liveness.CHALLENGES[name]
    return liveness.challenge_decide(user=user, token=challenge.token, frames=frames)


TO_THE_LEFT = [0, 0, 0.2, 0.4, 0.6, 0.6, 0.3, 0]  # the person's left: the picture's right


@pytest.mark.parametrize("name", sorted(liveness.CHALLENGES))
def test_a_still_photo_never_passes(user, frame, name, monkeypatch):
    decision = decide(user, name, jpegs([frame] * 8), monkeypatch)
    assert not decision.passed
    assert decision.reason == "The frames do not move: a still picture is not a live person."
    assert decision.liveness_token is None


def test_a_head_turning_left_passes_turn_left_and_names_the_person(
    user, frame, landmarks, monkeypatch
):
    obama = make_person("Barack Obama")
    from recognition.services import image_analyse_now

    [face] = image_analyse_now(file=jpegs([frame])[0]).faces
    make_face(person=obama, reference=True, vector=face.embedding)

    decision = decide(user, "turn_left", turning(frame, landmarks, TO_THE_LEFT), monkeypatch)

    assert decision.passed, decision
    assert decision.reason == "Passed." and decision.person == obama
    assert max(decision.measures["yaw"]) > 25 and abs(decision.measures["yaw"][0]) < 10
    assert liveness.liveness_token_valid(user=user, token=decision.liveness_token)


def test_turning_the_other_way_or_not_far_enough_fails(user, frame, landmarks, monkeypatch):
    decision = decide(user, "turn_right", turning(frame, landmarks, TO_THE_LEFT), monkeypatch)
    assert not decision.passed and "did not turn to the right" in decision.reason
    decision = decide(user, "turn_left", turning(frame, landmarks, [0, 0.1, 0.2, 0.1]),
                      monkeypatch)
    assert not decision.passed and "did not turn to the left far enough" in decision.reason


def test_another_face_midway_fails(user, frame, landmarks, samples_dir, monkeypatch):
    biden = webcam_frame(samples_dir / "face_recognition_samples" / "examples" / "biden.jpg")
    frames = turning(frame, landmarks, [0, 0.2, 0.4]) + jpegs([biden, biden])
    decision = decide(user, "turn_left", frames, monkeypatch)
    assert not decision.passed and "The face changed" in decision.reason


def test_frames_without_a_face_fail_saying_which(user, frame, monkeypatch):
    blank = np.full_like(frame, 90)
    decision = decide(user, "smile", jpegs([frame, frame, blank, frame]), monkeypatch)
    assert not decision.passed and decision.reason.startswith("No face in frame 3 of 4")


def _measures(**series) -> dict:
    n = len(next(iter(series.values())))
    return {"distance": [0.1] * n, "change": [0.0] + [5.0] * (n - 1), "yaw": [0.0] * n,
            "eye_openness": [0.3] * n, "happy": [0.1] * n} | series


@pytest.mark.parametrize(("eyes", "passed"), [
    ([0.30, 0.31, 0.12, 0.29, 0.30], True),   # open, shut, open
    ([0.30, 0.29, 0.26, 0.28, 0.30], False),  # never shut
    ([0.12, 0.20, 0.30, 0.31, 0.30], False),  # shut at the start only: not a blink seen
    ([0.30, 0.31, 0.30, 0.25, 0.10], False),  # shut at the end, not opened again
])
def test_a_blink_is_open_shut_open(eyes, passed):
    reason = liveness._refusal("blink", [], _measures(eye_openness=eyes))
    assert (reason == "") is passed


@pytest.mark.parametrize(("happy", "passed"), [
    ([0.05, 0.1, 0.5, 0.9, 0.95, 0.9], True),
    ([0.9, 0.9, 0.95, 0.9, 0.95, 0.9], False),  # smiling all along: no smile appeared
    ([0.05, 0.1, 0.2, 0.3, 0.5, 0.6], False),   # never quite a smile
])
def test_a_smile_appears_on_a_straight_face(happy, passed):
    assert (liveness._refusal("smile", [], _measures(happy=happy)) == "") is passed


def test_a_challenge_is_the_askers_and_answered_once(user, staff, frame, monkeypatch):
    challenge = liveness.challenge_issue(user=user)
    with pytest.raises(ValidationError, match="not given to you"):
        liveness.challenge_decide(user=staff, token=challenge.token, frames=jpegs([frame] * 4))
    liveness.challenge_decide(user=user, token=challenge.token, frames=jpegs([frame] * 4))
    with pytest.raises(ValidationError, match="answered already"):
        liveness.challenge_decide(user=user, token=challenge.token, frames=jpegs([frame] * 4))
    with pytest.raises(ValidationError, match="not a challenge token"):
        liveness.challenge_decide(user=user, token="made-up", frames=jpegs([frame] * 4))
    with pytest.raises(ValidationError, match="Send 4 to 20 frames"):
        liveness.challenge_decide(user=user, token=challenge.token, frames=jpegs([frame] * 2))


def test_an_expired_challenge_is_refused(user, frame, settings):
    challenge = liveness.challenge_issue(user=user)
    settings.FACEWEB_LIVENESS_CHALLENGE_S = -1
    with pytest.raises(ValidationError, match="expired"):
        liveness.challenge_decide(user=user, token=challenge.token, frames=jpegs([frame] * 4))


def test_the_api_gives_a_challenge_and_decides_the_burst(
    api, user, frame, landmarks, monkeypatch
):
    monkeypatch.setattr(liveness, "draw_challenge", lambda: "turn_left")
    client = api(user)
    challenge = client.post("/api/v1/liveness/challenge/").json()
    assert challenge["challenge"] == "turn_left" and challenge["expires_in_s"] == 30

    answer = client.post("/api/v1/liveness/", {
        "token": challenge["token"], "frames": turning(frame, landmarks, TO_THE_LEFT),
    }, format="multipart")

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["passed"] is True and body["person"] is None and body["liveness_token"]
    assert len(body["measures"]["yaw"]) == len(TO_THE_LEFT) == body["frames"]
    again = client.post("/api/v1/liveness/", {
        "token": challenge["token"], "frames": turning(frame, landmarks, TO_THE_LEFT),
    }, format="multipart")
    assert again.status_code == 400 and "answered already" in again.content.decode()
