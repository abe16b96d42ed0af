"""The Live page in a real Chromium whose fake camera plays a video made from a real photo:
faces boxed in the browser, named by the server, stored only with "keep sightings" on."""


import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from recognition import services
from recognition.models import Photo
from recognition.services import liveness
from tests.browser.pages import PHONE, UNLABELLED_CONTROLS, expect, sign_in
from tests.factories import make_face, make_person

pytestmark = pytest.mark.slow


@pytest.fixture
def obama_enrolled(photos):
    """Barack Obama enrolled from another photo than the camera's, through the synchronous
    analysis, which also loads the models of this process (the live server's) before the page
    asks anything: a web server does that on its first request (analysis_warm_up)."""
    path = photos / "obama2.jpg"
    analysis = services.image_analyse_now(file=SimpleUploadedFile(path.name, path.read_bytes()))
    person = make_person("Barack Obama")
    make_face(person=person, reference=True, vector=analysis.faces[0].embedding)
    return person


def live_stats(page) -> dict:
    return page.evaluate("() => window.faceweb.live")


def open_live(page):
    started = page.evaluate("() => performance.now()")
    page.goto(reverse("recognition:live"))
    return started


def test_the_live_page_boxes_and_names_the_face_and_stores_nothing(page, obama_enrolled, shot):
    photos = Photo.objects.count()  # the enrolment's
    sign_in(page, "ada", staff=True)
    page.goto(reverse("recognition:live"))

    faces = page.locator("[data-live-faces] li")
    expect(faces.first).to_have_text("Face 1: Barack Obama, happy", timeout=30_000)
    stats = live_stats(page)

    print(f"\nfirst box {stats['firstBoxAt']:.0f} ms after the page began loading, named at "
          f"{stats['firstNameAt']:.0f} ms; identify requests {stats['requests']}")
    shot(page, "live")
    page.wait_for_timeout(3000)  # the face stays in view: no more requests for it
    stats = live_stats(page)
    assert len(stats["requests"]) == 1
    print(f"browser ({stats['backend']}): {stats['fps']:.1f} frames a second")
    assert page.evaluate(UNLABELLED_CONTROLS) == []
    assert Photo.objects.count() == photos  # keep sightings is off: nothing stored

    page.set_viewport_size(PHONE)
    shot(page, "live-phone")


def test_keep_sightings_stores_one_snapshot_per_new_face_in_the_history(
    page, obama_enrolled, shot
):
    sign_in(page, "ada", staff=True)
    page.goto(reverse("recognition:live"))
    page.get_by_label("Keep sightings").check()

    expect(page.locator("[data-live-faces] li").first).to_contain_text("Barack Obama",
                                                                     timeout=30_000)
    page.wait_for_timeout(3000)
    print(live_stats(page), page.locator("[data-live-error]").text_content())
    page.wait_for_function("() => window.faceweb.live.kept === 1")
    page.wait_for_timeout(2000)
    [photo] = Photo.objects.filter(source=Photo.Source.LIVE)
    assert photo.source == Photo.Source.LIVE and photo.batch is None
    assert photo.uploaded_by.username == "ada"


# --- the active liveness check ("Verify me") -------------------------------------------------

def verify_me(page, challenge: str, monkeypatch):
    """Click "Verify me" with the server's draw fixed to ``challenge``; returns the result."""
    monkeypatch.setattr(liveness, "draw_challenge", lambda: challenge)
    page.goto(reverse("recognition:live"))
    page.get_by_role("button", name="Verify me").click()
    expect(page.locator(".live-message.prompt")).to_have_text(
        f"{liveness.CHALLENGES[challenge]}…")
    result = page.locator("[data-verify-result]")
    expect(result).not_to_be_empty(timeout=30_000)
    return result


@pytest.mark.parametrize("challenge", ["turn_left", "turn_right"])
def test_a_head_that_turns_passes_the_turn_and_is_verified(
    camera_page, turning_videos, obama_enrolled, monkeypatch, challenge, shot
):
    page = camera_page(turning_videos[challenge])
    sign_in(page, "ada")
    result = verify_me(page, challenge, monkeypatch)
    decision = live_stats(page)["verification"]
    print(f"\n{challenge}: {decision['measures']}")
    expect(result).to_have_text("Verified: you are Barack Obama, live.")
    shot(page, f"live-verified-{challenge}")


def test_turning_the_wrong_way_fails(camera_page, turning_videos, obama_enrolled, monkeypatch):
    page = camera_page(turning_videos["turn_left"])
    sign_in(page, "ada")
    result = verify_me(page, "turn_right", monkeypatch)
    expect(result).to_contain_text("Not verified: The head did not turn to the right")


@pytest.mark.parametrize("challenge", sorted(liveness.CHALLENGES))
def test_a_still_photo_never_passes_a_challenge(page, obama_enrolled, monkeypatch, challenge,
                                               shot):
    sign_in(page, "ada")
    result = verify_me(page, challenge, monkeypatch)
    expect(result).to_have_text(
        "Not verified: The frames do not move: a still picture is not a live person.")
    if challenge == "blink":
        shot(page, "live-still-refused")
