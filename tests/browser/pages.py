"""What the browser tests share: signing in, uploading on the Recognise page, the phone size,
and the check for controls a screen reader could not name."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.browser.conftest import PASSWORD

expect = pytest.importorskip("playwright.sync_api").expect

ANALYSIS_MS = 240_000  # the worker's first photo also loads the models
PHONE = {"width": 390, "height": 844}

# Form controls and buttons that a screen reader could not name: no <label>, no aria-label,
# no text.
UNLABELLED_CONTROLS = """() => [...document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button')]
  .filter((el) => !(el.labels?.length || el.getAttribute('aria-label')
                    || (el.tagName === 'BUTTON' && el.textContent.trim())))
  .map((el) => el.outerHTML)"""


def sign_in(page, username: str, *, staff: bool = False) -> None:
    get_user_model().objects.create_user(username, password=PASSWORD, is_staff=staff)
    page.goto(reverse("login"))
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Recognise")).to_be_visible()
    # The heading shows before the page's script runs (module scripts run after parsing, and
    # a click does not wait for them as goto does); a file dropped earlier would be lost.
    page.wait_for_load_state()


def upload(page, *paths) -> object:
    """Drop photos on the Recognise page; returns the card of the first."""
    page.locator("[data-dropzone] input[type=file]").set_input_files(list(paths))
    return page.locator(".upload", has_text=paths[0].name)
