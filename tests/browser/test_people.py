"""Unknown faces and people as a household admin meets them, in a real headless Chromium with
a real worker on real LFW photos: unknown faces grouped in the background, a group named, the
rest of that person named by themselves, a group of strangers hidden; a name that is taken
offered instead of doubled."""

import re

import pytest
from django.urls import reverse

from recognition.models import Face, Person
from tests.browser.pages import ANALYSIS_MS, PHONE, UNLABELLED_CONTROLS, expect, sign_in, upload

pytestmark = [pytest.mark.slow]

GROUPING_S = 30  # beat groups and re-identifies every 2 s here (conftest.py); a busy machine


def photo(lfw, name: str, number: int):
    return lfw / name / f"{name}_{number:04d}.jpg"


def reload_until(page, locator, count: int) -> None:
    """Reload until ``locator`` matches ``count`` elements: the page shows what the background
    tasks stored so far, and does not refresh itself."""
    for _ in range(GROUPING_S):
        if locator.count() == count:
            return
        page.wait_for_timeout(1000)
        page.reload()
    expect(locator).to_have_count(count)


def test_unknown_faces_are_grouped_named_together_and_a_group_of_strangers_hidden(
    page, lfw, browser, shot
):
    sign_in(page, "sam", staff=True)
    powell = [photo(lfw, "Colin_Powell", n) for n in (1, 2, 3)]
    chirac = [photo(lfw, "Jacques_Chirac", n) for n in (1, 2)]
    chavez = photo(lfw, "Hugo_Chavez", 1)
    upload(page, *powell, *chirac, chavez)
    expect(page.locator(".upload [data-state]", has_text="Done")).to_have_count(
        6, timeout=ANALYSIS_MS
    )

    page.get_by_role("link", name="Unknown faces").click()
    groups = page.locator(".group")
    reload_until(page, groups, 2)
    # Chavez may be analysed after the others were grouped: he joins at the next grouping.
    reload_until(page, page.locator("section", has_text="Seen once").locator("img"), 1)
    expect(groups.nth(0).locator("img")).to_have_count(3)  # largest first
    expect(groups.nth(1).locator("img")).to_have_count(2)
    expect(page.locator("input[type=checkbox]:checked")).to_have_count(0)
    expect(page.get_by_role("heading", name="Seen once")).to_be_visible()
    shot(page, "13-unknown-groups")
    phone = browser.new_context(base_url=page.url.split("/unknown")[0], viewport=PHONE,
                                storage_state=page.context.storage_state())
    small = phone.new_page()
    small.goto(reverse("recognition:unknown_faces"))
    assert small.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert small.evaluate(UNLABELLED_CONTROLS) == []
    shot(small, "phone-13-unknown-groups")
    phone.close()

    # Two of Powell's three faces are enough: the third is named by itself soon after.
    boxes = groups.nth(0).locator("input[type=checkbox]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    groups.nth(0).get_by_label("Or a new person").fill("Colin Powell")
    groups.nth(0).get_by_role("button", name="Assign ticked faces").click()
    expect(page.locator(".message.success")).to_contain_text("2 faces assigned to Colin Powell")
    colin = Person.objects.get(name="Colin Powell")
    for _ in range(GROUPING_S):
        if colin.faces.count() == 3:
            break
        page.wait_for_timeout(1000)
    third = colin.faces.get(is_reference=False)
    assert third.decision == Face.Decision.AUTO

    # Chirac's group is of strangers to this household: hidden, it stays out of groups.
    reload_until(page, groups, 1)
    groups.first.get_by_role("button", name="Hide this group").click()
    expect(page.locator(".message.success")).to_contain_text("2 faces will no longer be grouped")
    expect(groups).to_have_count(0)
    expect(page.locator("section", has_text="Seen once").locator("img")).to_have_count(1)


def test_adding_a_person_under_a_name_taken_offers_that_person(page, lfw, shot):
    sign_in(page, "sam", staff=True)
    page.get_by_role("link", name="People").click()
    form = page.locator("form.enrol-form")
    form.get_by_label("Name").fill("Tony Blair")
    form.get_by_label("Photo of their face").set_input_files(photo(lfw, "Tony_Blair", 1))
    form.get_by_role("button", name="Add person").click()
    expect(page.get_by_role("heading", name="Tony Blair")).to_be_visible()

    page.get_by_role("link", name="People").click()
    form.get_by_label("Name").fill("tony blair ")
    form.get_by_label("Photo of their face").set_input_files(photo(lfw, "Tony_Blair", 2))
    form.get_by_role("button", name="Add person").click()
    offer = page.locator("[data-existing]")
    expect(offer).to_contain_text("Tony Blair is already one of your people.")
    shot(page, "14-name-taken")
    assert Person.objects.count() == 1
    offer.get_by_role("link", name="Add this photo to Tony Blair").click()
    expect(page).to_have_url(re.compile(r"/people/\d+/#add-reference$"))
    expect(page.get_by_role("heading", name="Tony Blair")).to_be_visible()


def test_staff_find_a_face_everywhere_from_its_panel(page, lfw, browser, shot):
    """From a face's panel to every other photo with that person, nearest first, unknown
    faces included; another person's photo is not among them."""
    sign_in(page, "sam", staff=True)
    powell = [photo(lfw, "Colin_Powell", n) for n in (1, 2, 3, 4)]
    other = photo(lfw, "Hugo_Chavez", 1)
    upload(page, *powell, other)
    expect(page.locator(".upload [data-state]", has_text="Done")).to_have_count(
        5, timeout=ANALYSIS_MS
    )
    face = Face.objects.get(photo__original_name=powell[0].name)
    page.goto(reverse("recognition:face_detail", args=[face.pk]))
    page.get_by_role("link", name="Find this face everywhere").click()
    expect(page.get_by_role("heading", name="This face everywhere")).to_be_visible()
    found = page.locator(".everywhere li")
    expect(found).to_have_count(3)
    for item in found.all():
        expect(item).to_contain_text("likely")  # very likely or likely: the same person
    photo_ids = {int(re.search(r"photo (\d+)", t).group(1)) for t in found.all_inner_texts()}
    assert photo_ids == set(Face.objects.filter(photo__original_name__in=[
        p.name for p in powell[1:]]).values_list("photo_id", flat=True))
    shot(page, "15-face-everywhere")
    phone = browser.new_context(base_url=page.url.split("/faces")[0], viewport=PHONE,
                                storage_state=page.context.storage_state())
    small = phone.new_page()
    small.goto(reverse("recognition:face_everywhere", args=[face.pk]))
    assert small.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(small, "phone-15-face-everywhere")
    small.goto(reverse("recognition:person_list"))
    shot(small, "phone-people")
    phone.close()
