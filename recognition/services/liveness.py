"""Active liveness: a random challenge (blink, turn left, turn right, smile) that a person does
in front of the camera, decided here from a short burst of frames the browser sends.

The challenge comes with a signed token naming it, its user and a nonce; it must come back
within FACEWEB_LIVENESS_CHALLENGE_S, once (the nonce is claimed in Redis). Every frame goes
through the pipeline with the liveness measures (``analyse_image(liveness=True)``): its
largest face, that face's yaw (``quality.pose``), how open its eyes are
(``landmarks.eye_openness``) and how happy it looks. The burst passes when:

- every frame shows a face, and it stays the same person: from one frame to the next the
  descriptor moves at most SAME_FACE_STEP (a match's distance; a head turning between frames
  a fifth of a second apart moves it far less, while two people's faces are further apart);
- the frames differ (a still picture played as a video, or the same frame sent many times,
  fails: the mean grey-level change between consecutive aligned faces must reach MIN_CHANGE
  somewhere in the burst);
- the asked movement shows: *turn left/right*, the burst has a frame facing the camera
  (|yaw| <= START_YAW) and one with the head turned at least TURN_YAW degrees further the
  asked way (the person's left is the picture's right: positive yaw); *blink*, the eyes close to at most BLINK_RATIO of their
  openness before and after; *smile*, from a face that does not look happy (at most
  SMILE_FROM) to one that does (at least SMILE_TO).

A passed challenge returns a liveness token (FACEWEB_LIVENESS_TOKEN_S) that webcam enrolment
asks for.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files import File

from recognition import jobs
from recognition.models import Person
from recognition.pipeline import matching, quality
from recognition.pipeline.types import FaceResult

CHALLENGES = {
    "blink": "Blink",
    "turn_left": "Turn your head to your left",
    "turn_right": "Turn your head to your right",
    "smile": "Smile",
}
_CHALLENGE_SALT = "faceweb.liveness.challenge"
_PASSED_SALT = "faceweb.liveness.passed"
MIN_FRAMES, MAX_FRAMES = 4, 20
SAME_FACE_STEP = 0.42
MIN_CHANGE = 1.5  # grey levels (0-255), mean over the aligned 150x150 face
START_YAW, TURN_YAW = 20.0, 20.0  # degrees
BLINK_RATIO = 0.7
SMILE_FROM, SMILE_TO = 0.4, 0.7


@dataclass(frozen=True)
class Challenge:
    name: str
    prompt: str
    token: str
    expires_in_s: int


@dataclass
class Decision:
    passed: bool
    challenge: str
    reason: str
    frames: int
    measures: dict[str, list[float | None]] = field(default_factory=dict)
    liveness_score: float | None = None  # the median passive score of the burst's faces
    person: Person | None = None  # who the burst shows, if enrolled
    liveness_token: str | None = None


def draw_challenge() -> str:
    """A challenge drawn at random (its own function, so a test can fix the draw)."""
    return secrets.choice(sorted(CHALLENGES))


def challenge_issue(*, user: AbstractBaseUser) -> Challenge:
    name = draw_challenge()
    token = signing.dumps({"c": name, "u": user.pk, "n": secrets.token_hex(12)},
                          salt=_CHALLENGE_SALT)
    return Challenge(name, CHALLENGES[name], token, settings.FACEWEB_LIVENESS_CHALLENGE_S)


def _challenge_open(*, user: AbstractBaseUser, token: str) -> str:
    """The challenge a token names, once; ValidationError when it is not this user's, has
    expired or was answered before."""
    try:
        data = signing.loads(token, salt=_CHALLENGE_SALT,
                             max_age=settings.FACEWEB_LIVENESS_CHALLENGE_S)
    except signing.SignatureExpired:
        raise ValidationError("The challenge has expired: ask for a new one.") from None
    except signing.BadSignature:
        raise ValidationError("That is not a challenge token of this server.") from None
    if data.get("u") != user.pk or data.get("c") not in CHALLENGES:
        raise ValidationError("That challenge was not given to you.")
    if not jobs.claim_once(f"faceweb:liveness:{data['n']}",
                           ttl_s=settings.FACEWEB_LIVENESS_CHALLENGE_S + 5):
        raise ValidationError("That challenge was answered already: ask for a new one.")
    return data["c"]


def challenge_decide(*, user: AbstractBaseUser, token: str, frames: list[File]) -> Decision:
    """Whether the burst ``frames`` (in order) does the challenge ``token`` names."""
    from recognition.services.recognise import image_analyse_now

    if not MIN_FRAMES <= len(frames) <= MAX_FRAMES:
        raise ValidationError(f"Send {MIN_FRAMES} to {MAX_FRAMES} frames (got {len(frames)}).")
    name = _challenge_open(user=user, token=token)
    faces: list[FaceResult | None] = []
    for frame in frames:
        analysis = image_analyse_now(file=frame, liveness=True, eyes=True)
        faces.append(max(analysis.faces, key=_area, default=None))
    decision = Decision(passed=False, challenge=name, reason="", frames=len(frames))
    missing = [i + 1 for i, f in enumerate(faces) if f is None]
    if missing:
        decision.reason = f"No face in frame {missing[0]} of {len(frames)}: stay in view."
        return decision
    decision.measures = _measures(faces)
    decision.liveness_score = float(np.median([f.liveness for f in faces]))
    decision.person = _who(faces)
    decision.reason = _refusal(name, faces, decision.measures)
    decision.passed = not decision.reason
    if decision.passed:
        decision.reason = "Passed."
        decision.liveness_token = signing.dumps(
            {"u": user.pk, "p": decision.person.pk if decision.person else None},
            salt=_PASSED_SALT)
    return decision


def liveness_token_valid(*, user: AbstractBaseUser, token: str) -> bool:
    """Whether ``token`` is a passed challenge of ``user``'s, recent enough to vouch for a
    snapshot taken right after it."""
    try:
        data = signing.loads(token, salt=_PASSED_SALT, max_age=settings.FACEWEB_LIVENESS_TOKEN_S)
    except signing.BadSignature:
        return False
    return data.get("u") == user.pk


def _area(face: FaceResult) -> float:
    x1, y1, x2, y2 = face.detection.box
    return (x2 - x1) * (y2 - y1)


def _measures(faces: list[FaceResult]) -> dict[str, list[float]]:
    grey = [f.chip.astype(np.float32).mean(axis=2) for f in faces]
    return {
        "yaw": [round(quality.pose(f.detection.landmarks)[0], 1) for f in faces],
        "eye_openness": [round(f.eye_openness, 3) for f in faces],
        "happy": [round(f.expression_scores["happy"], 3) for f in faces],
        "distance": [0.0] + [round(float(np.linalg.norm(b.embedding - a.embedding)), 3)
                             for a, b in itertools.pairwise(faces)],
        "change": [0.0] + [round(float(np.abs(b - a).mean()), 2)
                           for a, b in itertools.pairwise(grey)],
    }


def _refusal(name: str, faces: list[FaceResult], m: dict[str, list[float]]) -> str:
    """Why the burst fails the challenge, or "" when it passes."""
    if max(m["distance"]) > SAME_FACE_STEP:
        return "The face changed during the check: one person, please."
    if max(m["change"]) < MIN_CHANGE:
        return "The frames do not move: a still picture is not a live person."
    if name in ("turn_left", "turn_right"):
        yaw = np.array(m["yaw"]) * (1 if name == "turn_left" else -1)  # positive: as asked
        facing = np.abs(yaw) <= START_YAW
        if not facing.any():
            return "Face the camera, then turn."
        # The furthest the head is turned the asked way from a frame that faced the camera,
        # before or after it (a burst may begin mid-turn and see the head come back).
        turn = float(yaw.max() - yaw[facing].min())
        if turn < TURN_YAW:
            side = "left" if name == "turn_left" else "right"
            return f"The head did not turn to the {side} far enough (turn about 30 degrees)."
        return ""
    if name == "blink":
        eyes = np.array(m["eye_openness"])
        shut = int(np.argmin(eyes))
        if 0 < shut < len(eyes) - 1:
            open_ = min(eyes[:shut].max(), eyes[shut + 1 :].max())
            if eyes[shut] <= BLINK_RATIO * open_:
                return ""
        return "No blink was seen: open eyes, a blink, open eyes."
    happy = np.array(m["happy"])  # smile
    if happy[: max(1, len(happy) // 3)].min() > SMILE_FROM or happy.max() < SMILE_TO:
        return "No smile was seen: start with a straight face, then smile."
    return ""


def _who(faces: list[FaceResult]) -> Person | None:
    """The enrolled person the burst shows, from its mean descriptor."""
    from recognition import selectors
    from recognition.services.recognise import match_threshold, model_version

    mean = np.mean([f.embedding for f in faces], axis=0)
    mean = (mean / np.linalg.norm(mean)).astype(np.float32)[None]
    [match] = matching.identify(
        mean, selectors.gallery_get(model_version=model_version()),
        threshold=match_threshold(), margin=settings.FACEWEB_MATCH_MARGIN)
    return Person.objects.filter(pk=match.person_id).first() if match.person_id else None
