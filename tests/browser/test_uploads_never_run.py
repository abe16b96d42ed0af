"""An upload can never run as a page of the site, in a real Chromium: a user posts a page that
would read a staff member's API token, as HTML, SVG and a PNG with the page appended; staff
open what was stored. Needs no worker (nothing is analysed)."""

import io

import pytest
import requests
from django.test import Client
from PIL import Image
from rest_framework.authtoken.models import Token

from recognition.models import Photo

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

STEAL = b"""<html><body><script>
window.pwned = true;
fetch('/account/api-token/').then((r) => r.text()).then((t) => { window.loot = t; });
</script></body></html>"""


def polyglot() -> bytes:
    """A valid PNG with the page appended: Pillow reads it as a PNG, a browser sniffing it as
    HTML would run the script."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 20, 30)).save(buffer, format="PNG")
    return buffer.getvalue() + STEAL


def test_a_page_uploaded_as_a_photo_never_runs_for_staff(live_server, browser, django_user_model):
    mallory = django_user_model.objects.create_user("mallory", password="pw")
    staff = django_user_model.objects.create_user("stella", password="pw", is_staff=True)
    token = Token.objects.create(user=mallory).key

    def post(name: str, content: bytes) -> requests.Response:
        return requests.post(f"{live_server.url}/api/v1/photos/", timeout=30,
                             headers={"Authorization": f"Token {token}"},
                             files={"image": (name, content)})

    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>window.pwned=true</script></svg>'
    for name, content in [("steal.html", STEAL), ("steal.svg", svg)]:
        response = post(name, content)
        assert response.status_code == 400, name
        assert response.json()["error"]["code"] == "bad_image"
    response = post("poly.html", polyglot())
    assert response.status_code == 202
    photo = Photo.objects.get(pk=response.json()["id"])
    assert photo.file.name.endswith(".png")

    signed_in = Client()
    signed_in.force_login(staff)
    context = browser.new_context()
    context.add_cookies([{"name": "sessionid", "value": signed_in.cookies["sessionid"].value,
                          "url": live_server.url}])
    page = context.new_page()
    try:
        for path in (f"/photos/{photo.pk}/image/", f"/api/v1/photos/{photo.pk}/image/"):
            response = page.goto(live_server.url + path)
            assert response.status == 200
            assert response.headers["content-type"] == "image/png"
            assert "sandbox" in response.headers["content-security-policy"]
            page.wait_for_timeout(500)  # time for a script, were there one, to fetch the token
            assert page.evaluate("document.contentType") == "image/png"
            assert page.evaluate("[window.pwned, window.loot]") == [None, None]
    finally:
        context.close()
