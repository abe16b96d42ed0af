"""Photos and face crops leave the server only for their uploader and staff, by every path.

Against a live server with real files: every stored-file URL the app emits (pages, API,
admin) for every kind of caller; and a walk over MEDIA_ROOT proving that no URL maps onto a
stored file, the crop names the old code used included.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import clear_url_caches
from rest_framework.authtoken.models import Token

from recognition import services
from tests.factories import embedding, face_result, png_bytes

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(live_server, settings, tmp_path, django_user_model, fake_pipeline):
    """Alice's analysed photo (one face, a real crop), Bob, staff; a session and a token for
    each, and Carol's revoked token."""
    make = django_user_model.objects.create_user
    alice, bob, staff = make("alice", password="pw"), make("bob", password="pw"), make(
        "stella", password="pw", is_staff=True)
    fake_pipeline.faces = [face_result(embedding(1))]
    photo = services.photo_create(file=SimpleUploadedFile("holiday.png", png_bytes(320, 240)),
                                  uploaded_by=alice)
    services.photo_analyse(photo=services.photo_claim(photo_id=photo.pk))
    face = photo.faces.get()
    revoked = Token.objects.create(user=make("carol", password="pw")).key
    Token.objects.filter(key=revoked).delete()
    return {
        "url": live_server.url, "photo": photo, "face": face,
        "session": {u.username: session_cookie(u) for u in (alice, bob, staff)},
        "token": {u.username: Token.objects.create(user=u).key for u in (alice, bob, staff)},
        "revoked": revoked,
    }


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def get(world, path: str, *, session: str | None = None, token: str | None = None):
    url = path if path.startswith("http") else world["url"] + path
    return requests.get(
        url, allow_redirects=False, timeout=30,
        cookies={"sessionid": session} if session else None,
        headers={"Authorization": f"Token {token}"} if token else None,
    )


def file_urls(world) -> list[str]:
    """Every URL the app emits for the photo's file and the face's crop."""
    photo, face = world["photo"], world["face"]
    api = get(world, f"/api/v1/photos/{photo.pk}/", token=world["token"]["alice"]).json()
    pages = [get(world, url, session=world["session"][who]).text for who, url in [
        ("stella", "/admin/recognition/photo/"),
        ("stella", f"/admin/recognition/photo/{photo.pk}/change/"),
        ("alice", f"/photos/{photo.pk}/"), ("alice", "/history/"),
    ]]
    urls = {api["image_url"], api["faces"][0]["crop_url"]}
    urls |= {m.replace("&amp;", "&") for m in re.findall(r'src="([^"]+)"', "".join(pages))
             if "/static/" not in m}
    assert urls >= {f"/photos/{photo.pk}/image/", f"/photos/{photo.pk}/image/?thumb",
                    f"/faces/{face.pk}/crop/"}, urls
    return sorted(urls)


def test_only_the_uploader_and_staff_get_a_stored_file_by_any_url_the_app_emits(world):
    urls = file_urls(world)
    stored = {world["photo"].file.read(), world["face"].crop.read()}
    world["photo"].file.close()
    world["face"].crop.close()
    callers = {
        "anonymous": {},
        "other user": {"session": world["session"]["bob"]},
        "other user's token": {"token": world["token"]["bob"]},
        "revoked token": {"token": world["revoked"]},
    }
    for url in urls:
        for who, credentials in callers.items():
            response = get(world, url, **credentials)
            assert response.status_code in (401, 403, 404), (url, who, response.status_code)
            assert response.content not in stored, (url, who)
        api = "/api/v1/" in url
        allowed = [{"token": world["token"][u]} if api else {"session": world["session"][u]}
                   for u in ("alice", "stella")]
        for credentials in allowed:
            response = get(world, url, **credentials)
            assert response.status_code == 200, (url, credentials)
            assert response.headers["Content-Type"] in ("image/png", "image/jpeg")
            assert response.headers["Cache-Control"].startswith("private")
            assert "sandbox" in response.headers["Content-Security-Policy"]
            assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.fixture(params=[False, True], ids=["DEBUG off", "DEBUG on"])
def debug(request, settings):
    """The URL patterns as the app builds them with DEBUG off and on."""
    import faceweb.urls

    settings.DEBUG = request.param
    importlib.reload(faceweb.urls)
    clear_url_caches()
    yield request.param
    settings.DEBUG = False
    importlib.reload(faceweb.urls)
    clear_url_caches()


def test_no_url_maps_onto_a_stored_file(world, debug, settings, client, django_user_model):
    """Through the app's own request handler (Django's test client: every URL pattern and
    middleware, WhiteNoise included). Not through the live server: Django's test server adds
    a media handler of its own, which no deployment of the app has."""
    staff = Client()
    staff.force_login(django_user_model.objects.get(username="stella"))
    media = Path(settings.MEDIA_ROOT)
    stored = [p for p in media.rglob("*") if p.is_file()]
    assert len(stored) == 2  # the photo and the crop
    for path in stored:
        name = path.relative_to(media).as_posix()
        assert re.fullmatch(r"(photos|faces)/\d{4}/\d{2}/[\w-]{24}\.(png|jpg)", name), name
        for url in (f"/media/{name}", f"/{name}", f"/static/{name}", f"/api/v1/{name}",
                    f"/static/../media/{name}", f"/admin/{name}"):
            for caller in (client, staff):
                response = caller.get(url)
                assert response.status_code in (302, 404), (url, response.status_code)
    # The names the old code gave crops (faces/YYYY/MM/p<photo id>.jpg) lead nowhere either.
    for month in {p.relative_to(media).parts[1:3] for p in stored}:
        for n in range(1, 7):
            assert client.get(f"/media/faces/{'/'.join(month)}/p{n}.jpg").status_code == 404


def test_stored_files_are_not_readable_by_other_system_users(world):
    for file in (world["photo"].file, world["face"].crop):
        assert Path(file.path).stat().st_mode & 0o007 == 0, file.name
