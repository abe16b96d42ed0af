"""Saying yes to a "possibly", deleting a photo, and undoing "not a face", in a real headless
Chromium with a real worker on real LFW photos. The match threshold is lowered to 0.20 for
this module's worker and pages, so that a second photo of an enrolled person (0.24 away) is a
"possibly" (up to 0.06 beyond the threshold) rather than a match."""

import re

import pytest
from django.urls import reverse

from recognition.models import Face, Person, Photo
from tests.browser.pages import ANALYSIS_MS, expect, sign_in, upload
from tests.worlds import open_world

pytestmark = [pytest.mark.slow]

THRESHOLD = "0.20"


@pytest.fixture(scope="module")
def world(django_db_setup, photos, tmp_path_factory):
    env = {"FACEWEB_SWEEP_INTERVAL_S": "2", "FACEWEB_MATCH_THRESHOLD": THRESHOLD}
    with open_world(tmp_path_factory, "corrections", env=env) as world:
        yield world


@pytest.fixture(autouse=True)
def _same_threshold_for_the_pages(settings):
    settings.FACEWEB_MATCH_THRESHOLD = float(THRESHOLD)


def test_a_possibly_is_confirmed_a_photo_deleted_and_not_a_face_undone(page, lfw, shot):
    sign_in(page, "sam", staff=True)
    page.get_by_role("link", name="People").click()
    form = page.locator("form.enrol-form")
    form.get_by_label("Name").fill("Colin Powell")
    form.get_by_label("Photo of their face").set_input_files(
        lfw / "Colin_Powell" / "Colin_Powell_0001.jpg"
    )
    form.get_by_role("button", name="Add person").click()
    expect(page.locator(".reference-grid img")).to_have_count(1, timeout=ANALYSIS_MS)

    # Another photo of him, 0.24 away: possibly him, not named.
    page.get_by_role("link", name="Recognise").click()
    card = upload(page, lfw / "Colin_Powell" / "Colin_Powell_0002.jpg")
    expect(card.locator(".face-tag")).to_have_text("1. Colin Powell?", timeout=ANALYSIS_MS)
    expect(card.locator(".face-box.possible")).to_have_count(1)
    shot(page, "18-possibly")
    page.get_by_role("link", name="Unknown faces").click()
    offer = page.locator(".possible-faces li")
    expect(offer).to_contain_text("Possibly Colin Powell?")
    offer.get_by_role("button", name=re.compile("^Yes")).click()
    expect(page.locator(".message.success")).to_contain_text("This face is Colin Powell")
    expect(offer).to_have_count(0)
    powell = Person.objects.get(name="Colin Powell")
    assert powell.faces.filter(decision=Face.Decision.ASSIGNED).count() == 2

    # Not a face, then undo: the face is back as it was.
    second = Photo.objects.get(original_name="Colin_Powell_0002.jpg")
    page.goto(reverse("recognition:photo_detail", args=[second.pk]))
    page.wait_for_load_state()
    page.locator(".face-box").click()
    page.locator("[data-face-panel]").get_by_role("button", name="Not a face").click()
    expect(page.locator(".face-box")).to_have_count(0)
    expect(page.locator(".undo-bar")).to_contain_text("removed as not a face")
    page.locator(".undo-bar").get_by_role("button", name="Undo").click()
    expect(page.locator(".message.success")).to_contain_text("The face is back.")
    expect(page.locator(".face-tag")).to_have_text("1. Colin Powell")

    # Delete the photo, after saying what goes with it.
    page.get_by_role("link", name="Delete…").click()
    expect(page.locator(".notice")).to_contain_text("reference faces of Colin Powell")
    page.get_by_role("button", name="Yes, delete this photo").click()
    expect(page.locator(".message.success")).to_contain_text(f"Photo {second.pk} and its faces")
    assert not Photo.objects.filter(pk=second.pk).exists()
