"""Photos as phones and cameras make them, uploaded on the Recognise page of a real headless
Chromium to a real worker: an iPhone's HEIC (which the browser cannot decode, so it is sent as
it is), a big JPEG (which the browser shrinks, losing its EXIF, so the beginning of the
original goes along), each dated by its EXIF; the same file sent twice is stored once."""

import io
import re

import pytest
from django.urls import reverse
from PIL import Image

from recognition.models import Photo
from tests.browser.pages import ANALYSIS_MS, PHONE, expect, sign_in, upload

pytestmark = [pytest.mark.slow]


def dated(source, path, fmt: str, when: str) -> None:
    """``source`` saved as ``path`` in ``fmt`` with ``when`` as its EXIF DateTimeOriginal."""
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = when
    with Image.open(source) as image:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, fmt, exif=exif.tobytes(), quality=90)
    path.write_bytes(buffer.getvalue())


def test_heic_and_big_photos_are_analysed_and_dated_and_a_second_copy_is_not_stored(
    page, photos, tmp_path, shot
):
    heic, big = tmp_path / "IMG_0001.HEIC", tmp_path / "DSC_0002.JPG"
    dated(photos / "obama.jpg", heic, "HEIF", "2024:07:14 18:30:05")
    dated(photos / "obama-1080p.jpg", big, "JPEG", "2023:12:24 09:15:00")
    sign_in(page, "ann")
    upload(page, heic, big)
    for path in (heic, big):
        card = page.locator(".upload", has_text=path.name)
        expect(card.locator("[data-state]")).to_have_text("Done", timeout=ANALYSIS_MS)
        expect(card.locator(".face-tag")).to_have_text("1. Unknown")
    # Screen readers hear one summary, not every card's every change.
    expect(page.locator("[data-upload-summary]")).to_have_text("2 of 2 photos done.")
    assert page.locator("[aria-live]").count() == 0
    shot(page, "15-heic-and-big")

    stored = {p.original_name: p for p in Photo.objects.all()}
    assert stored[heic.name].file.name.endswith(".heic")
    assert stored[big.name].width == 1600  # the browser's smaller copy (1,920 px wide)
    # Dates from the EXIF, in the app's time zone (UTC here).
    assert stored[heic.name].taken_at.isoformat() == "2024-07-14T18:30:05+00:00"
    assert stored[big.name].taken_at.isoformat() == "2023-12-24T09:15:00+00:00"

    page.goto(reverse("recognition:history"))
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("14 Jul 2024, 18:30 UTC")  # newest taken first
    expect(rows.first).to_contain_text(f"taken · {heic.name}")
    rows.first.get_by_role("link", name=re.compile("Photo")).first.click()
    shown = page.locator(".photo-frame img, .result img").first
    expect(shown).to_be_visible()
    assert page.evaluate("(img) => img.naturalWidth", shown.element_handle()) > 0  # a JPEG of it

    page.goto("/")
    upload(page, big)
    expect(page.locator(".upload", has_text=big.name).first.locator("[data-state]")).to_have_text(
        "Done (sent before)", timeout=ANALYSIS_MS
    )
    assert Photo.objects.count() == 2


def test_leaving_while_photos_are_still_uploading_asks_first_and_not_after(page, photos):
    sign_in(page, "ann")
    held, dialogs = [], []
    page.route("**/photos/upload/", lambda route: held.append(route))  # held until released
    page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.dismiss()))
    upload(page, photos / "obama.jpg")
    card = page.locator(".upload", has_text="obama.jpg")
    expect(card.locator("[data-state]")).to_have_text("Uploading…")
    page.close(run_before_unload=True)  # the tab asks; dismissing it keeps the page
    expect(card.locator("[data-state]")).to_have_text("Uploading…")
    assert dialogs == ["beforeunload"]
    held[0].continue_()
    expect(card.locator("[data-state]")).to_have_text("Done", timeout=ANALYSIS_MS)
    # Nothing left to lose: leaving would not ask.
    assert not page.evaluate("""() => {
        const leaving = new Event('beforeunload', { cancelable: true });
        window.dispatchEvent(leaving);
        return leaving.defaultPrevented;
    }""")


def test_a_batch_comes_back_after_leaving_the_page_and_a_face_opens_in_its_card(
    page, photos, shot, browser
):
    sign_in(page, "ann")
    upload(page, photos / "obama.jpg", photos / "biden.jpg")
    for name in ("obama.jpg", "biden.jpg"):
        card = page.locator(".upload", has_text=name)
        expect(card.locator("[data-state]")).to_have_text("Done", timeout=ANALYSIS_MS)
    card = page.locator(".upload", has_text="obama.jpg")
    card.locator(".face-box").click()
    expect(card.locator("[data-panel] h2")).to_have_text("Unknown")
    assert page.url.endswith("/")  # the panel opened in the card: still on Recognise

    page.get_by_role("link", name="History").click()
    page.go_back()
    expect(page.locator(".upload")).to_have_count(2)
    page.reload()  # and from the server: the batch's results, summed up
    expect(page.locator(".upload")).to_have_count(2)
    expect(page.locator(".batch-bar")).to_contain_text("2 photos: 2 with unknown faces")
    shot(page, "16-recognise-batch")
    page.get_by_role("link", name="This batch's page").click()
    expect(page.get_by_role("heading", name=re.compile("^Batch of"))).to_be_visible()
    expect(page.locator(".chip.unknown")).to_have_count(2)
    shot(page, "17-batch")
    phone = browser.new_context(base_url=page.url.split("/batches")[0], viewport=PHONE,
                                storage_state=page.context.storage_state())
    small = phone.new_page()
    for name, url in (("recognise-batch", "/"), ("batch", page.url)):
        small.goto(url)
        small.wait_for_load_state("networkidle")
        assert small.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
        shot(small, f"phone-{name}")
    phone.close()
    page.go_back()
    page.get_by_role("button", name="Start a new batch").click()
    expect(page.locator(".upload")).to_have_count(0)
