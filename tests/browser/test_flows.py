"""What people do with the app, end to end in a real headless Chromium: sign in, upload, see
the result appear, name a stranger, be recognised next time, find it in the history, watch
the dashboard move; and the same with the webcam. The worker runs the real pipeline on the
sample photos (see conftest.py); each analysis takes seconds, the first one longer (models
load), hence the generous timeouts.
"""

import base64
import re

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

from recognition.models import Face, Person, Photo
from recognition.services import liveness
from tests.browser.pages import (
    ANALYSIS_MS,
    PHONE,
    UNLABELLED_CONTROLS,
    expect,
    sign_in,
    upload,
)

pytestmark = [pytest.mark.slow]
HEALTH_MS = 20_000  # the dashboard asks again every 5 s; a busy worker answers late


def stat(page, name: str):
    return page.locator(f'[data-stat="{name}"]')


def test_a_stranger_named_on_one_photo_is_recognised_on_the_next(page, photos, shot, browser):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    shot(page, "01-sign-in")
    sign_in(page, "sam", staff=True)

    page.goto(reverse("recognition:dashboard"))
    expect(stat(page, "photos")).to_have_text("0")
    expect(page.locator('[data-health="worker"]')).to_contain_text("up", timeout=HEALTH_MS)

    # Upload: the result appears in place, without a reload, with a box and "Unknown".
    page.goto("/")
    first = upload(page, photos / "obama.jpg")
    expect(first.locator(".face-box")).to_have_count(1, timeout=ANALYSIS_MS)
    expect(first.locator(".face-tag")).to_have_text("1. Unknown")
    expect(first.locator("[data-state]")).to_have_text("Done")
    # A file that is not a photo is refused in the browser, saying why.
    page.locator("[data-dropzone] input[type=file]").set_input_files(
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}]
    )
    expect(page.locator(".upload", has_text="notes.txt").locator(".error")).to_contain_text(
        "notes.txt is not a photo"
    )
    shot(page, "02-recognise")

    # Name the stranger from the photo page: click the face, create a new person from it.
    first.locator(".upload-name a").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Photo \d+$"))).to_be_visible()
    page.wait_for_load_state()  # its script has run: a click opens the panel, not the face page
    page.locator(".face-box").click()
    panel = page.locator("[data-face-panel]")
    expect(panel.get_by_role("heading", name="Unknown")).to_be_visible()
    expect(panel).to_contain_text("Nobody is enrolled yet.")
    facts = panel.locator(".facts")  # estimates and pose: a man in his forties, facing us
    expect(facts).to_contain_text(re.compile(r"Age\s*about \d+"))
    expect(facts).to_contain_text(re.compile(r"Gender\s*male"))
    expect(facts).to_contain_text("towards the camera")
    shot(page, "03-photo-face-panel")
    panel.locator("input[name$='-new_name']").fill("Barack Obama")
    panel.get_by_role("button", name="Assign this face").click()
    expect(page.locator(".message.success")).to_contain_text("Barack Obama")
    expect(page.locator(".face-tag")).to_have_text("1. Barack Obama")
    obama = Person.objects.get(name="Barack Obama")
    assert obama.faces.filter(is_reference=True).count() == 1

    # Another photo of him is recognised.
    page.goto("/")
    second = upload(page, photos / "obama2.jpg")
    expect(second.locator(".face-tag")).to_have_text("1. Barack Obama", timeout=ANALYSIS_MS)
    second_url = second.locator(".upload-name a").get_attribute("href")
    face = Face.objects.get(photo_id=int(second_url.strip("/").split("/")[-1]))
    assert face.person == obama and face.decision == Face.Decision.AUTO
    second.locator(".face-box").click()  # a plain link here: the face page
    expect(page.locator(".nearest")).to_contain_text("Barack Obama")
    shot(page, "04-face-page")

    # History, filtered by that person, lists it; so does his timeline.
    page.goto(reverse("recognition:history"))
    page.get_by_label("Person").select_option(label="Barack Obama")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.history tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first.locator(f'a[href="{second_url}"]').first).to_be_visible()
    shot(page, "05-history-filtered")
    page.get_by_role("link", name="Barack Obama’s timeline").click()
    expect(page.locator(".timeline-faces img")).to_have_count(2)
    shot(page, "06-timeline")

    # A second stranger (Biden, two photos) is grouped in the background; nothing is ticked
    # until the admin ticks it, and one action names the group.
    page.goto("/")
    for name in ("biden.jpg", "knn_examples/train/biden/biden2.jpg"):
        expect(upload(page, photos / name).locator(".face-tag")).to_have_text(
            "1. Unknown", timeout=ANALYSIS_MS
        )
    page.get_by_role("link", name="Unknown faces").click()
    group = page.locator(".group").first
    for _ in range(30):  # beat groups new unknown faces every 2 s here
        if group.count():
            break
        page.wait_for_timeout(1000)
        page.reload()
    expect(group.locator("img")).to_have_count(2)
    expect(group.locator("input[type=checkbox]:checked")).to_have_count(0)
    shot(page, "07-unknown-faces")
    group.get_by_role("button", name="Tick all 2").click()
    group.get_by_label("Or a new person").fill("Joe Biden")
    group.get_by_role("button", name="Assign ticked faces").click()
    expect(page.locator(".message.success")).to_contain_text("2 faces assigned to Joe Biden")
    expect(page.locator(".group")).to_have_count(0)

    # People: both, with their reference thumbnails (Obama 1, Biden 2).
    page.get_by_role("link", name="People").click()
    expect(page.locator(".person-card")).to_have_count(2)
    expect(page.locator(".person-card .thumbs img")).to_have_count(3)
    shot(page, "08-people")
    page.get_by_role("link", name=re.compile("Barack Obama")).click()
    expect(page.locator(".reference-grid img")).to_have_count(1)
    shot(page, "09-person")

    # The dashboard's counts moved.
    page.goto(reverse("recognition:dashboard"))
    expect(stat(page, "people")).to_have_text("2")
    expect(stat(page, "photos")).to_have_text("4")
    expect(stat(page, "recognised")).to_have_text("4")
    expect(stat(page, "unknown")).to_have_text("0")
    expect(page.locator('[data-health="done"]')).to_have_text("4")
    # Faces per day, expressions, per person, estimated ages and genders.
    page.wait_for_function("document.querySelectorAll('canvas').length === 5")
    shot(page, "10-dashboard")

    # On a phone, every page fits the screen's width.
    phone = browser.new_context(base_url=page.url.split("/dashboard")[0], viewport=PHONE,
                                storage_state=page.context.storage_state())
    small = phone.new_page()
    for name, url in [
        ("recognise", "/"), ("photo", second_url), ("history", reverse("recognition:history")),
        ("dashboard", reverse("recognition:dashboard")),
        ("people", reverse("recognition:person_list")),
        ("person", reverse("recognition:person_detail", args=[obama.pk])),
        ("timeline", reverse("recognition:person_timeline", args=[obama.pk])),
        ("unknown", reverse("recognition:unknown_faces")),
        ("face", reverse("recognition:face_detail", args=[face.pk])),
        ("api-token", reverse("recognition:api_token")),
        ("audit", reverse("recognition:audit_log")),
    ]:
        small.goto(url)
        small.wait_for_load_state("networkidle")
        assert small.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
        assert small.evaluate(UNLABELLED_CONTROLS) == [], name
        shot(small, f"phone-{name}")
    phone.close()


def drop(page, *paths) -> None:
    """Drop files on the Recognise page's drop zone, as a drag from the desktop would."""
    files = [(p.name, base64.b64encode(p.read_bytes()).decode()) for p in paths]
    transfer = page.evaluate_handle("""(files) => {
        const transfer = new DataTransfer();
        for (const [name, data] of files) {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            transfer.items.add(new File([bytes], name, { type: 'image/jpeg' }));
        }
        return transfer;
    }""", files)
    page.dispatch_event("[data-dropzone]", "drop", {"dataTransfer": transfer})


def test_someone_who_is_not_staff_drops_photos_and_sees_only_their_own(page, photos, shot):
    sign_in(page, "ann")
    big, other = photos / "obama-1080p.jpg", photos / "biden.jpg"
    drop(page, big, other)
    for path in (big, other):
        card = page.locator(".upload", has_text=path.name)
        expect(card.locator(".face-tag")).to_have_text("1. Unknown", timeout=ANALYSIS_MS)
    # The 1920x1080 photo was made smaller in the browser before it was sent.
    assert Photo.objects.get(size_bytes__lt=big.stat().st_size, width=1600).height == 900
    # Someone else's photo stays out of sight.
    others = Photo.objects.create(content_hash="0" * 64, size_bytes=1, status="done")
    page.goto(reverse("recognition:history"))
    expect(page.locator("table.history tbody tr")).to_have_count(2)
    expect(page.get_by_role("link", name="People")).to_have_count(0)
    shot(page, "14-history-not-staff")
    assert page.goto(reverse("recognition:photo_detail", args=[others.pk])).status == 404
    assert page.goto(reverse("recognition:person_list")).status == 403

    # An API token for scripts, created and revoked from the header's link.
    page.goto("/")
    page.get_by_role("link", name="API token").click()
    page.get_by_role("button", name="Create a token").click()
    expect(page.get_by_label("Your token")).to_have_value(Token.objects.get(user__username="ann").key)
    shot(page, "15-api-token")
    page.get_by_role("button", name="Revoke token").click()
    expect(page.get_by_text("You have no API token.")).to_be_visible()
    assert not Token.objects.exists()


def test_a_person_enrolled_from_a_webcam_snapshot_is_recognised_by_the_webcam(
    page, camera_page, turning_videos, monkeypatch, shot
):
    # Enrolment by webcam asks for the liveness check first: a desk whose camera shows Obama's
    # face turning to his left, asked to do just that (the server's draw fixed).
    monkeypatch.setattr(liveness, "draw_challenge", lambda: "turn_left")
    desk = camera_page(turning_videos["turn_left"])
    sign_in(desk, "sam", staff=True)
    desk.goto(reverse("recognition:person_list"))
    desk.get_by_label("Name").fill("Barack Obama")
    desk.get_by_role("button", name="Use the webcam").click()
    desk.wait_for_function("document.querySelector('[data-webcam-live] video').videoWidth > 0")
    desk.get_by_role("button", name="Check liveness and take a snapshot").click()
    expect(desk.get_by_role("status")).to_have_text("Turn your head to your left…")
    shot(desk, "11-people-webcam-liveness-check")
    expect(desk.locator("[data-snapshot-preview]")).to_be_visible(timeout=30_000)
    shot(desk, "11-people-webcam-snapshot")
    desk.get_by_role("button", name="Add person").click()
    expect(desk.get_by_role("heading", name="Barack Obama")).to_be_visible()
    # The page follows the enrolment photo and reloads when the worker is done with it.
    expect(desk.locator(".reference-grid img")).to_have_count(1, timeout=ANALYSIS_MS)
    shot(desk, "12-person-enrolled-by-webcam")

    # Then a webcam snapshot on the Recognise page (a camera showing his photo) finds him.
    sign_in(page, "ria", staff=True)
    page.get_by_role("button", name="Use the webcam").click()
    page.wait_for_function("document.querySelector('[data-webcam-live] video').videoWidth > 0")
    page.get_by_role("button", name="Take snapshot").click()
    card = page.locator(".upload", has_text="webcam-")
    expect(card.locator(".face-tag")).to_have_text("1. Barack Obama", timeout=ANALYSIS_MS)
    shot(page, "13-recognise-webcam")
    assert list(Photo.objects.values_list("source", flat=True)) == ["webcam", "webcam"]


def test_staff_enrol_a_person_from_photos_then_rename_merge_and_delete_them(page, photos, shot):
    sign_in(page, "sam", staff=True)

    # Create a person from one uploaded photo; the page follows its analysis.
    page.get_by_role("link", name="People").click()
    page.get_by_label("Name").fill("Obama")
    page.get_by_label("Photo of their face").set_input_files(photos / "obama.jpg")
    page.get_by_role("button", name="Add person").click()
    expect(page.get_by_role("heading", name="Obama")).to_be_visible()
    references = page.locator(".reference-grid img")
    expect(references).to_have_count(1, timeout=ANALYSIS_MS)

    # Add a second reference photo, then remove the first reference again.
    page.get_by_label("More photos of their face").set_input_files(photos / "obama2.jpg")
    page.get_by_role("button", name="Add reference photos").click()
    expect(page.locator(".message.success")).to_contain_text("1 photo added")
    expect(references).to_have_count(2, timeout=ANALYSIS_MS)
    page.get_by_role("button", name="Remove reference face 2").click()
    expect(page.locator(".message.success")).to_contain_text("Reference face removed")
    expect(references).to_have_count(1)

    # Rename.
    page.get_by_label("New name").fill("Barack Obama")
    page.get_by_role("button", name="Rename").click()
    expect(page.get_by_role("heading", name="Barack Obama")).to_be_visible()

    # Someone enrolled him twice: merge the duplicate into him.
    page.get_by_role("link", name="People").click()
    page.get_by_label("Name").fill("B. Obama")
    page.get_by_label("Photo of their face").set_input_files(photos / "obama-480p.jpg")
    page.get_by_role("button", name="Add person").click()
    expect(page.locator(".reference-grid img")).to_have_count(1, timeout=ANALYSIS_MS)
    page.get_by_role("link", name="People").click()
    expect(page.locator(".person-card")).to_have_count(2)
    page.get_by_role("link", name=re.compile("^Barack Obama")).click()
    page.get_by_label("Person to merge into Barack Obama").select_option(label="B. Obama")
    page.get_by_role("button", name="Merge").click()
    expect(page.locator(".message.success")).to_contain_text("B. Obama merged into Barack Obama")
    expect(references).to_have_count(2)
    assert list(Person.objects.values_list("name", flat=True)) == ["Barack Obama"]
    shot(page, "16-person-merged")

    # Delete him, after a confirmation, with his biometric data.
    page.get_by_role("link", name="Delete Barack Obama…").click()
    expect(page.get_by_role("heading", name="Delete Barack Obama?")).to_be_visible()
    shot(page, "17-person-delete-confirm")
    page.get_by_role("button", name="Yes, delete Barack Obama").click()
    expect(page.get_by_text("Nobody yet.")).to_be_visible()
    assert not Person.objects.exists()
    assert not Face.objects.filter(is_reference=True).exists()
    assert not Photo.objects.filter(purpose=Photo.Purpose.ENROL).exists()
