"""The web pages through the Django test client: who may see what, what each page shows, and
what each form does. The worker is not involved (``queued`` catches published jobs)."""

import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from recognition import services
from recognition.models import Face, Person, Photo
from tests.factories import (
    embedding,
    make_face,
    make_person,
    make_photo,
    near,
    png_bytes,
    png_header,
    upload,
)

pytestmark = pytest.mark.django_db

PAGES = ["recognise", "live", "history", "dashboard", "api_token"]
STAFF_PAGES = ["person_list", "unknown_faces"]


@pytest.fixture(autouse=True)
def _threshold(settings):
    # A fixed threshold: the pages must not depend on the pipeline being installed here.
    settings.FACEWEB_MATCH_THRESHOLD = 0.6


@pytest.fixture(autouse=True)
def _no_broker(celery_broker, settings):
    # Nothing listens there: health says Redis is down, without waiting for a worker.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    celery_broker(settings.REDIS_URL)


def make_user(name: str, *, staff: bool = False):
    return get_user_model().objects.create_user(name, password="pw", is_staff=staff)


@pytest.fixture
def alice():
    return make_user("alice")


@pytest.fixture
def bob():
    return make_user("bob")


@pytest.fixture
def staff():
    return make_user("sam", staff=True)


def client_for(client, user):
    client.force_login(user)
    return client


def photo_of(user, *faces_of, when=None, **fields):
    """A done photo uploaded by ``user`` with one face per entry of ``faces_of`` (a person,
    or None for an unknown face), boxes side by side."""
    photo = make_photo(uploaded_by=user, width=200, height=100, **fields)
    if when is not None:
        Photo.objects.filter(pk=photo.pk).update(created_at=when)
    for i, person in enumerate(faces_of):
        face = make_face(photo, vector=embedding(100 + i), box=(10 + 50 * i, 10, 50 + 50 * i, 60))
        if person is not None:
            Face.objects.filter(pk=face.pk).update(person=person, decision=Face.Decision.AUTO,
                                                   distance=0.3)
    return photo


# --- Who may see what -------------------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES + STAFF_PAGES)
def test_every_page_sends_an_anonymous_visitor_to_sign_in(client, name):
    response = client.get(reverse(f"recognition:{name}"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_signing_in_leads_to_the_recognise_page(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "pw"})
    assert response.status_code == 302 and response.url == reverse("recognition:recognise")
    page = client.get(response.url)
    assert b"Drop photos here" in page.content and b"Sign out" in page.content


def test_signing_out_needs_a_post_and_ends_the_session(client, alice):
    client_for(client, alice)
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("recognition:history")).status_code == 302


@pytest.mark.parametrize("name", PAGES)
def test_a_user_can_open_the_everyday_pages(client, alice, name):
    assert client_for(client, alice).get(reverse(f"recognition:{name}")).status_code == 200


@pytest.mark.parametrize("name", STAFF_PAGES)
def test_people_pages_are_for_staff_only(client, alice, staff, name):
    assert client_for(client, alice).get(reverse(f"recognition:{name}")).status_code == 403
    assert client_for(client, staff).get(reverse(f"recognition:{name}")).status_code == 200


def test_a_user_creates_sees_and_revokes_their_own_api_token(client, alice, bob):
    from rest_framework.authtoken.models import Token

    url = reverse("recognition:api_token")
    client_for(client, alice)
    assert b"You have no API token." in client.get(url).content
    assert client.post(url, {"action": "create"}).url == url
    token = Token.objects.get(user=alice)
    assert token.key.encode() in client.get(url).content
    Token.objects.create(user=bob)
    client.post(url, {"action": "revoke"})
    assert list(Token.objects.values_list("user__username", flat=True)) == ["bob"]


def test_a_user_sees_people_links_only_when_staff(client, alice, staff):
    assert b"Unknown faces" not in client_for(client, alice).get(reverse("recognition:recognise")).content
    assert b"Unknown faces" in client_for(client, staff).get(reverse("recognition:recognise")).content


def test_a_user_never_sees_another_users_photos(client, alice, bob):
    ada = make_person("Ada")
    bobs = photo_of(bob, ada)
    face = bobs.faces.get()
    client_for(client, alice)
    history = client.get(reverse("recognition:history"))
    assert f'href="/photos/{bobs.pk}/"' not in history.content.decode()
    for url in [
        reverse("recognition:photo_detail", args=[bobs.pk]),
        reverse("recognition:photo_status", args=[bobs.pk]),
        reverse("recognition:photo_result", args=[bobs.pk]),
        reverse("recognition:photo_image", args=[bobs.pk]),
        reverse("recognition:photo_image", args=[bobs.pk]) + "?thumb",
        reverse("recognition:face_detail", args=[face.pk]),
        reverse("recognition:face_crop", args=[face.pk]),
        reverse("recognition:person_timeline", args=[ada.pk]),
    ]:
        assert client.get(url).status_code == 404, url


def test_a_user_sees_their_own_photos_and_staff_see_everyones(client, alice, bob, staff):
    alices = photo_of(alice)
    bobs = photo_of(bob)
    mine = client_for(client, alice).get(reverse("recognition:history")).content.decode()
    assert f'/photos/{alices.pk}/"' in mine and f'/photos/{bobs.pk}/"' not in mine
    everyone = client_for(client, staff).get(reverse("recognition:history")).content.decode()
    assert f'/photos/{alices.pk}/"' in everyone and f'/photos/{bobs.pk}/"' in everyone


@pytest.mark.parametrize("action", ["face_assign", "face_not_a_face"])
def test_only_staff_can_correct_a_face_even_on_their_own_photo(client, alice, action):
    face = photo_of(alice, make_person("Ada")).faces.get()
    response = client_for(client, alice).post(reverse(f"recognition:{action}", args=[face.pk]),
                                              {f"face{face.pk}-new_name": "Eve"})
    assert response.status_code == 403
    face.refresh_from_db()
    assert face.person.name == "Ada"


def test_the_uploader_can_say_a_face_in_their_photo_is_not_someone_and_others_cannot(
    client, alice, bob
):
    face = photo_of(alice, make_person("Ada")).faces.get()
    url = reverse("recognition:face_not_this_person", args=[face.pk])
    assert client_for(client, bob).post(url).status_code == 404  # not bob's to see
    panel = client_for(client, alice).get(
        reverse("recognition:face_detail", args=[face.pk]) + "?panel").content.decode()
    assert "No, not Ada" in panel and "Yes, this is Ada" not in panel  # naming is for staff
    client.post(url)
    face.refresh_from_db()
    assert face.person is None and face.rejected_person.name == "Ada"


# --- Recognise: uploads ------------------------------------------------------------------------


def test_an_upload_from_the_page_script_is_stored_queued_and_answered_in_json(
    client, alice, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(client, alice).post(
            reverse("recognition:photo_upload"), {"file": upload(), "source": "webcam"},
            headers={"Accept": "application/json"},
        )
    assert response.status_code == 202
    [answer] = response.json()["photos"]
    photo = Photo.objects.get(pk=answer["id"])
    assert photo.uploaded_by == alice and photo.source == "webcam" and queued == [photo.pk]
    assert answer["status_url"] == reverse("recognition:photo_status", args=[photo.pk])
    status = client.get(answer["status_url"]).json()
    assert status["status"] == "pending" and status["finished"] is False


def test_a_live_sighting_goes_to_the_history_not_into_the_recognise_batch(
    client, alice, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(client, alice).post(
            reverse("recognition:photo_upload"), {"file": upload(), "source": "live"},
            headers={"Accept": "application/json"},
        )
    assert response.status_code == 202
    photo = Photo.objects.get(pk=response.json()["photos"][0]["id"])
    assert photo.source == "live" and photo.batch is None and queued == [photo.pk]
    assert photo.original_name in client.get(reverse("recognition:history")).content.decode()


def test_the_live_page_serves_its_models_and_scripts_from_the_app(client, alice):
    page = client_for(client, alice).get(reverse("recognition:live")).content.decode()
    assert 'aria-current="page">Live</a>' in page
    assert "Keep sightings" in page and "nothing is stored" in page
    for url in ("/static/vendor/face-api/face-api.esm.js",
                "/static/vendor/tfjs-wasm/tfjs-backend-wasm-simd.wasm",
                "/static/vendor/face-api/model/tiny_face_detector_model.bin"):
        assert url in page
        response = client.get(url)
        response.close()  # a file streamed by WhiteNoise
        assert response.status_code == 200, url


def test_a_decompression_bomb_is_refused_by_the_forms_not_a_server_error(client, staff):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client_for(client, staff)
    for name, content in [("bomb.png", png_header(30000, 30000)),
                          ("wide.png", png_header(65535, 65535))]:
        response = client.post(reverse("recognition:photo_upload"),
                               {"file": SimpleUploadedFile(name, content)},
                               headers={"Accept": "application/json"})
        assert response.status_code == 400, name
        assert "too large" in response.json()["errors"][0]
        response = client.post(reverse("recognition:person_list"),
                               {"name": "Ada", "file": SimpleUploadedFile(name, content)})
        assert response.status_code == 200 and "too large" in response.content.decode()
    assert not Photo.objects.exists()


def test_a_file_that_is_not_a_photo_is_refused_with_the_reason(client, alice):
    from django.core.files.uploadedfile import SimpleUploadedFile

    pdf = SimpleUploadedFile("notes.pdf", b"%PDF-1.4", content_type="application/pdf")
    response = client_for(client, alice).post(
        reverse("recognition:photo_upload"), {"file": pdf}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0] == (
        "notes.pdf: This file is not a supported image. Please upload a JPEG, PNG, WebP, AVIF, "
        "HEIC, BMP, GIF or TIFF file.")
    assert not Photo.objects.exists()


def test_a_file_over_the_limit_is_refused_with_the_reason(client, alice, settings):
    settings.FACEWEB_MAX_UPLOAD_BYTES = 100
    response = client_for(client, alice).post(
        reverse("recognition:photo_upload"), {"file": upload(png_bytes(64, 64))},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400
    assert "larger than" in response.json()["errors"][0]


def test_a_plain_form_upload_leads_to_the_photo_page(client, alice, queued):
    response = client_for(client, alice).post(reverse("recognition:photo_upload"),
                                              {"file": upload()})
    photo = Photo.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("recognition:photo_detail", args=[photo.pk])


# --- Photo result and faces ------------------------------------------------------------------


def test_the_photo_page_draws_a_box_per_face_with_the_name_or_unknown(client, alice):
    photo = photo_of(alice, make_person("Ada"), None)
    page = client_for(client, alice).get(reverse("recognition:photo_detail", args=[photo.pk]))
    html = page.content.decode()
    assert html.count('class="face-box ') == 2
    assert "1. Ada" in html and "2. Unknown" in html
    # Boxes are placed in % of the photo: the second face starts at x=60 of 200 px.
    assert "left:30.000%" in html
    assert "very likely" in html and "neutral 100%" in html  # 0.30 from Ada, in words
    assert 'class="face-box recognised"' in html and 'class="face-box unknown"' in html


def test_a_failed_photo_says_why(client, alice):
    photo = photo_of(alice, status=Photo.Status.FAILED, error="The file is damaged.")
    page = client_for(client, alice).get(reverse("recognition:photo_detail", args=[photo.pk]))
    assert b"Could not analyse this photo: The file is damaged." in page.content


def test_the_photo_image_and_its_thumbnail_are_served_to_its_owner(client, alice):
    photo = photo_of(alice)
    client_for(client, alice)
    full = client.get(reverse("recognition:photo_image", args=[photo.pk]))
    assert b"".join(full.streaming_content) == png_bytes()
    thumb = client.get(reverse("recognition:photo_image", args=[photo.pk]) + "?thumb")
    assert thumb["Content-Type"] == "image/jpeg" and thumb.content[:2] == b"\xff\xd8"


def test_a_heic_photo_is_shown_as_a_jpeg_and_its_name_and_capture_time_on_its_pages(
    client, alice, settings
):
    settings.TIME_ZONE = "Europe/Paris"
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2024:07:14 18:30:05"  # DateTimeOriginal
    heic = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(heic, "HEIF", exif=exif.tobytes())
    client_for(client, alice).post(reverse("recognition:photo_upload"), {
        "file": SimpleUploadedFile("IMG_0001.HEIC", heic.getvalue()),
    })
    photo = Photo.objects.get()
    shown = client.get(reverse("recognition:photo_image", args=[photo.pk]))
    assert shown["Content-Type"] == "image/jpeg" and shown.content[:2] == b"\xff\xd8"
    page = client.get(reverse("recognition:photo_detail", args=[photo.pk])).content.decode()
    assert "IMG_0001.HEIC" in page and "taken 14 Jul 2024, 18:30 CEST" in page
    history = client.get(reverse("recognition:history")).content.decode()
    assert "14 Jul 2024, 18:30 CEST" in history and "taken · IMG_0001.HEIC" in history


@pytest.mark.parametrize(("score", "words"), [
    (0.9, "looks live"), (0.05, "may be a printed photo"), (None, None)])
def test_a_camera_face_panel_says_whether_it_looks_live(client, staff, settings, score, words):
    settings.FACEWEB_LIVENESS_THRESHOLD = 0.5
    face = make_face(photo_of(staff), vector=embedding(1))
    Face.objects.filter(pk=face.pk).update(liveness_score=score)
    panel = client_for(client, staff).get(
        reverse("recognition:face_detail", args=[face.pk]) + "?panel").content.decode()
    assert ("Live person" in panel) is (words is not None)
    if words:
        assert words in panel and f"liveness {round(score * 100)}%" in panel


def test_a_face_panel_lists_the_closest_people_with_distances(client, staff):
    ada, bea = make_person("Ada"), make_person("Bea")
    make_face(vector=embedding(1), person=ada, reference=True)
    make_face(vector=embedding(2), person=bea, reference=True)
    face = make_face(photo_of(staff), vector=near(embedding(1), 0.25))
    panel = client_for(client, staff).get(
        reverse("recognition:face_detail", args=[face.pk]) + "?panel"
    ).content.decode()
    assert panel.index("Ada") < panel.index("Bea")
    assert '<span class="ok">0.25</span>' in panel  # within the threshold
    assert "Assign this face" in panel and "<html" not in panel


def test_staff_find_a_face_everywhere_from_its_panel(client, staff, alice):
    probe = embedding(1)
    face = make_face(photo_of(alice), vector=probe)
    seen = make_face(photo_of(staff), vector=near(probe, 0.3), person=make_person("Ada"))
    make_face(photo_of(staff), vector=embedding(2))  # someone else
    panel = client_for(client, staff).get(
        reverse("recognition:face_detail", args=[face.pk]) + "?panel").content.decode()
    url = reverse("recognition:face_everywhere", args=[face.pk])
    assert f'href="{url}"' in panel
    page = client_for(client, staff).get(url).content.decode()
    assert "1 other photo with a face like" in page
    assert reverse("recognition:face_crop", args=[seen.pk]) in page
    assert "Very likely" in page and "0.30" in page and "Ada" in page
    assert client_for(client, alice).get(url).status_code == 403
    assert url not in client_for(client, alice).get(
        reverse("recognition:face_detail", args=[face.pk]) + "?panel").content.decode()


def test_a_user_sees_a_face_panel_without_the_corrections(client, alice):
    face = photo_of(alice, None).faces.get()
    page = client_for(client, alice).get(reverse("recognition:face_detail", args=[face.pk]))
    assert page.status_code == 200 and b"Assign this face" not in page.content


def test_staff_assign_a_face_to_a_new_person_and_return_to_the_photo(client, staff):
    photo = photo_of(staff, None)
    face = photo.faces.get()
    back = reverse("recognition:photo_detail", args=[photo.pk])
    response = client_for(client, staff).post(
        reverse("recognition:face_assign", args=[face.pk]),
        {f"face{face.pk}-new_name": "Grace", "next": back},
    )
    assert response.status_code == 302 and response.url == back
    face.refresh_from_db()
    assert face.person.name == "Grace" and face.is_reference


def test_assigning_needs_a_person_or_a_name_not_both(client, staff):
    ada = make_person("Ada")
    face = photo_of(staff, None).faces.get()
    client_for(client, staff).post(
        reverse("recognition:face_assign", args=[face.pk]),
        {f"face{face.pk}-person": ada.pk, f"face{face.pk}-new_name": "Grace"},
    )
    face.refresh_from_db()
    assert face.person is None


def test_an_unsafe_next_address_is_ignored(client, staff):
    photo = photo_of(staff, None)
    face = photo.faces.get()
    response = client_for(client, staff).post(
        reverse("recognition:face_assign", args=[face.pk]),
        {f"face{face.pk}-new_name": "Grace", "next": "https://evil.example/"},
    )
    assert response.url == reverse("recognition:photo_detail", args=[photo.pk])


def test_staff_mark_a_face_as_not_a_face_or_not_this_person(client, staff):
    photo = photo_of(staff, make_person("Ada"), None)
    known, unknown = photo.faces.all()
    client_for(client, staff)
    client.post(reverse("recognition:face_not_this_person", args=[known.pk]))
    known.refresh_from_db()
    assert known.person is None and known.decision == Face.Decision.UNKNOWN
    client.post(reverse("recognition:face_not_a_face", args=[unknown.pk]))
    assert not Face.objects.filter(pk=unknown.pk).exists()


# --- People ------------------------------------------------------------------------------------


def passed_check(user) -> str:
    """The token of a liveness check ``user`` passed just now (how a burst passes:
    tests/recognition/api/test_liveness.py)."""
    from django.core import signing

    from recognition.services import liveness

    return signing.dumps({"u": user.pk, "p": None}, salt=liveness._PASSED_SALT)


def test_staff_create_a_person_from_one_photo(client, staff, queued,
                                             django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(client, staff).post(
            reverse("recognition:person_list"),
            {"name": "Grace", "file": upload(), "source": "webcam",
             "liveness_token": passed_check(staff)},
        )
    grace = Person.objects.get(name="Grace")
    assert response.url == reverse("recognition:person_detail", args=[grace.pk])
    photo = grace.enrolment_photos.get()
    assert photo.purpose == Photo.Purpose.ENROL and photo.source == "webcam"
    assert queued == [photo.pk]
    page = client.get(response.url).content.decode()
    assert "Photos being added" in page and "pending" in page


@pytest.mark.parametrize("token", ["", "made-up", "someone else's"])
def test_a_webcam_snapshot_enrols_only_after_the_askers_liveness_check(
    client, staff, alice, queued, token
):
    token = passed_check(alice) if token == "someone else's" else token
    page = client_for(client, staff).post(reverse("recognition:person_list"), {
        "name": "Grace", "file": upload(), "source": "webcam", "liveness_token": token})
    assert page.status_code == 200 and not Person.objects.exists() and queued == []
    assert "only after the liveness check" in page.content.decode()


def test_creating_a_person_needs_a_name_and_a_photo(client, staff):
    page = client_for(client, staff).post(reverse("recognition:person_list"), {"name": ""})
    assert page.status_code == 200 and not Person.objects.exists()
    assert page.content.decode().count("This field is required.") == 2


def test_the_faces_of_an_enrolment_photo_offer_its_person_first(client, staff):
    grace = make_person("Grace")
    make_person("Ada")
    photo = photo_of(staff, None, None, purpose=Photo.Purpose.ENROL, person=grace)
    face = photo.faces.last()
    panel = client_for(client, staff).get(
        reverse("recognition:face_detail", args=[face.pk]) + "?panel").content.decode()
    assert f'<option value="{grace.pk}" selected>Grace</option>' in panel


def test_an_enrolment_photo_with_two_faces_says_so_on_the_person_page(client, staff):
    grace = make_person("Grace")
    photo_of(staff, None, None, purpose=Photo.Purpose.ENROL, person=grace,
             error="This photo shows 2 faces; choose which one is Grace.")
    page = client_for(client, staff).get(reverse("recognition:person_detail", args=[grace.pk]))
    assert b"This photo shows 2 faces; choose which one is Grace." in page.content


def test_the_people_list_shows_reference_thumbnails_and_counts(client, staff):
    ada = make_person("Ada")
    refs = [make_face(person=ada, reference=True) for _ in range(2)]
    make_face(person=ada)
    page = client_for(client, staff).get(reverse("recognition:person_list")).content.decode()
    assert "2 references · 3 faces" in page
    for face in refs:
        assert reverse("recognition:face_crop", args=[face.pk]) in page


def test_adding_a_person_whose_name_is_taken_offers_that_person_and_adds_nobody(client, staff):
    tony = make_person("Tony Blair")
    page = client_for(client, staff).post(reverse("recognition:person_list"), {
        "name": "tony blair ", "file": upload(), "source": "upload",
    })
    assert page.status_code == 200 and page.context["existing"] == tony
    html = page.content.decode()
    assert "Tony Blair is already one of your people." in html
    assert reverse("recognition:person_detail", args=[tony.pk]) + "#add-reference" in html
    assert Person.objects.count() == 1 and not Photo.objects.exists()


def test_a_person_without_references_says_whether_their_photo_is_on_its_way(client, staff):
    make_person("Ada")
    photo_of(staff, purpose=Photo.Purpose.ENROL, person=make_person("Bea"),
             status=Photo.Status.PENDING)
    page = client_for(client, staff).get(reverse("recognition:person_list")).content.decode()
    ada, bea = page.split("<strong>Ada</strong>")[1], page.split("<strong>Bea</strong>")[1]
    assert ada.split("</li>")[0].count("Needs a photo") == 1
    assert "Their photo is being analysed" in bea.split("</li>")[0]


def test_staff_rename_merge_and_remove_references(client, staff):
    ada, bea = make_person("Ada"), make_person("Bea")
    ref = make_face(person=ada, reference=True)
    beas = make_face(person=bea, reference=True)
    client_for(client, staff)
    client.post(reverse("recognition:person_rename", args=[ada.pk]), {"name": "Ada L."})
    merged = client.post(reverse("recognition:person_merge", args=[ada.pk]), {"other": bea.pk},
                         follow=True)
    assert "Bea merged into Ada L.: 1 face moved." in merged.content.decode()
    ada.refresh_from_db()
    assert ada.name == "Ada L." and not Person.objects.filter(pk=bea.pk).exists()
    beas.refresh_from_db()
    assert beas.person == ada
    client.post(reverse("recognition:person_reference_remove", args=[ada.pk, ref.pk]))
    ref.refresh_from_db()
    assert not ref.is_reference


def test_deleting_a_person_asks_first_then_removes_their_references(client, staff):
    ada = make_person("Ada")
    ref = make_face(person=ada, reference=True)
    client_for(client, staff)
    url = reverse("recognition:person_delete", args=[ada.pk])
    confirm = client.get(url)
    assert b"Yes, delete Ada" in confirm.content and Person.objects.filter(pk=ada.pk).exists()
    assert client.post(url).url == reverse("recognition:person_list")
    assert not Person.objects.filter(pk=ada.pk).exists()
    assert not Face.objects.filter(pk=ref.pk).exists()


def test_staff_add_reference_photos_to_a_person(client, staff, queued,
                                                 django_capture_on_commit_callbacks):
    ada = make_person("Ada")
    with django_capture_on_commit_callbacks(execute=True):
        client_for(client, staff).post(
            reverse("recognition:person_reference_add", args=[ada.pk]),
            {"file": [upload(), upload(png_bytes(32, 32))]},
        )
    assert ada.enrolment_photos.count() == 2 and len(queued) == 2


# --- Unknown faces ---------------------------------------------------------------------------


def test_similar_unknown_faces_are_grouped_and_a_group_is_assigned_in_one_action(client, staff):
    stranger, big = embedding(7), (0.0, 0.0, 100.0, 100.0)
    twins = [make_face(vector=near(stranger, 0.2, seed=s), box=big) for s in (1, 2)]
    loner = make_face(vector=embedding(8), box=big)
    services.unknown_faces_regroup()
    client_for(client, staff)
    page = client.get(reverse("recognition:unknown_faces"))
    [(group, form)] = page.context["groups"]
    assert sorted(f.pk for f in group.faces) == sorted(f.pk for f in twins)
    assert "checked" not in page.content.decode()  # nothing ticked for the admin
    client.post(reverse("recognition:unknown_assign"), {
        "prefix": form.prefix, f"{form.prefix}-face": [twins[0].pk],
        f"{form.prefix}-new_name": "Zed",
    })
    zed = Person.objects.get(name="Zed")
    assert list(zed.faces.filter(is_reference=True)) == [twins[0]]
    loner.refresh_from_db()
    assert loner.person is None


def test_hiding_a_group_keeps_its_faces_out_of_groups(client, staff):
    stranger, big = embedding(7), (0.0, 0.0, 100.0, 100.0)
    twins = [make_face(vector=near(stranger, 0.2, seed=s), box=big) for s in (1, 2)]
    services.unknown_faces_regroup()
    client_for(client, staff)
    client.post(reverse("recognition:unknown_hide"), {"group_face": [f.pk for f in twins]})
    services.unknown_faces_regroup(force=True)
    assert client.get(reverse("recognition:unknown_faces")).context["groups"] == []
    assert all(f.decision == Face.Decision.UNKNOWN for f in Face.objects.filter(pk__in=[
        f.pk for f in twins]))


# --- History, timeline, dashboard ----------------------------------------------------------------


def history_ids(client, **query) -> list[int]:
    response = client.get(reverse("recognition:history"), query)
    assert response.status_code == 200
    return [photo.pk for photo in response.context["page"].object_list]


def test_history_lists_newest_first_and_filters(client, staff):
    ada = make_person("Ada")
    now = timezone.now()
    old = photo_of(staff, ada, when=now - timedelta(days=10))
    unknown = photo_of(staff, None, when=now - timedelta(days=1))
    both = photo_of(staff, ada, None, when=now)
    Face.objects.filter(photo=old).update(expression="happy")
    client_for(client, staff)
    assert history_ids(client) == [both.pk, unknown.pk, old.pk]
    assert history_ids(client, person=ada.pk) == [both.pk, old.pk]
    assert history_ids(client, expression="happy") == [old.pk]
    assert history_ids(client, person=ada.pk, expression="happy") == [old.pk]
    assert history_ids(client, unknown="on") == [both.pk, unknown.pk]
    day = (now - timedelta(days=5)).date().isoformat()
    assert history_ids(client, date_to=day) == [old.pk]
    assert history_ids(client, date_from=day) == [both.pk, unknown.pk]


def test_history_is_paginated(client, alice):
    for _ in range(25):
        photo_of(alice)
    client_for(client, alice)
    assert len(history_ids(client)) == 24 and len(history_ids(client, page=2)) == 1


def test_the_person_timeline_shows_where_they_were_seen(client, alice):
    ada = make_person("Ada")
    photo = photo_of(alice, ada)
    page = client_for(client, alice).get(reverse("recognition:person_timeline", args=[ada.pk]))
    assert page.status_code == 200
    assert reverse("recognition:face_crop", args=[photo.faces.get().pk]) in page.content.decode()


def test_the_dashboard_counts_photos_faces_and_the_queue(client, staff):
    ada = make_person("Ada")
    photo_of(staff, ada, None)
    photo_of(staff, status=Photo.Status.PENDING)
    page = client_for(client, staff).get(reverse("recognition:dashboard"))
    stats = page.context["stats"]
    assert (stats.people, stats.photos, stats.faces, stats.recognised, stats.unknown) == (1, 2, 2, 1, 1)
    assert stats.per_day[-1][1:] == (1, 1)
    assert stats.expressions["neutral"] == 2
    assert stats.expressions_by_person == [("Ada", stats.expressions_by_person[0][1])]
    assert b"chart.umd.min.js" in page.content
    health = client.get(reverse("recognition:dashboard_health")).json()
    assert health["queue"]["pending"] == 1 and health["redis"]["ok"] is False


def test_with_age_and_gender_off_no_page_shows_or_filters_by_them(client, staff, settings):
    photo = photo_of(staff, None)
    face = photo.faces.get()
    Face.objects.filter(pk=face.pk).update(age=42.0, gender="male", gender_probability=0.9)
    pages = {name: reverse(f"recognition:{name}") for name in ("dashboard", "history")}
    pages["face"] = reverse("recognition:face_detail", args=[face.pk])
    signed_in = client_for(client, staff)
    shown = {name: signed_in.get(url).content.decode() for name, url in pages.items()}
    assert "about 42" in shown["face"] and "chart-genders" in shown["dashboard"]
    assert 'name="age_from"' in shown["history"]

    settings.FACEWEB_AGE_GENDER = False
    hidden = {name: signed_in.get(url).content.decode() for name, url in pages.items()}
    assert "about 42" not in hidden["face"] and "Gender" not in hidden["face"]
    assert "Estimated" not in hidden["dashboard"] and 'name="age_from"' not in hidden["history"]


def test_the_dashboard_says_when_photos_cannot_be_saved_and_only_staff_see_why(
    client, staff, alice, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "not-a-folder"
    settings.MEDIA_ROOT.write_text("a file where the media folder should be")
    for user, sees_why in ((alice, False), (staff, True)):
        storage = client_for(client, user).get(reverse("recognition:dashboard_health")).json()
        assert storage["storage"]["ok"] is False
        assert ("not-a-folder" in storage["storage"].get("error", "")) is sees_why
        assert set(storage) == {"workers", "redis", "storage", "queue"}
        page = client.get(reverse("recognition:dashboard")).content.decode()
        assert "cannot save new photos" in page and ("not-a-folder" in page) is sees_why


def test_a_users_dashboard_counts_only_their_photos(client, alice, bob):
    photo_of(alice, None)
    photo_of(bob, None, None)
    stats = client_for(client, alice).get(reverse("recognition:dashboard")).context["stats"]
    assert stats.photos == 1 and stats.faces == 1


# --- Queries do not grow with the rows -----------------------------------------------------------


@pytest.mark.parametrize("name", ["history", "dashboard", "person_list", "unknown_faces"])
def test_list_pages_need_as_many_queries_for_ten_rows_as_for_one(
    client, staff, django_assert_num_queries, name
):
    def rows():
        person = make_person(f"Person {Person.objects.count() + 1}")
        for seed in (1, 2):  # a group of unknown faces
            make_face(photo_of(staff, person), person=None, vector=near(embedding(5), 0.1, seed),
                      box=(0, 0, 100, 100))
        make_face(person=person, reference=True)
        services.unknown_faces_regroup(force=True)

    client_for(client, staff)
    url = reverse(f"recognition:{name}")
    rows()
    client.get(url)  # warm up: session, content types
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        assert client.get(url).status_code == 200
    expected = len(one)  # now: the next request empties the log it reads from
    for _ in range(9):
        rows()
    client.get(url)  # the gallery changed: read once, then cached
    with django_assert_num_queries(expected):
        assert client.get(url).status_code == 200


@pytest.mark.parametrize("page", ["person_timeline", "person_detail", "face_everywhere"])
def test_a_persons_pages_need_as_many_queries_for_ten_photos_as_for_one(
    client, staff, django_assert_num_queries, page
):
    ada = make_person("Ada")
    first = make_face(photo_of(staff), vector=embedding(1), person=ada, reference=True)

    def photos():
        make_face(photo_of(staff), vector=near(embedding(1), 0.2, Face.objects.count()),
                  person=ada)

    url = reverse(f"recognition:{page}", args=[first.pk if page == "face_everywhere" else ada.pk])
    photos()
    client_for(client, staff).get(url)  # warm up: session, content types, the face index
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        assert client.get(url + "?page=2").status_code == 200  # no audit of a search again
    expected = len(one)
    for _ in range(9):
        photos()
    client.get(url)
    with django_assert_num_queries(expected):
        page_two = client.get(url + "?page=2")
    assert page_two.status_code == 200


def test_the_people_page_shows_sixty_people_a_page(client, staff):
    from recognition.views.people import PEOPLE_PAGE_SIZE

    Person.objects.bulk_create(Person(name=f"Person {i:03}") for i in range(PEOPLE_PAGE_SIZE + 1))
    client_for(client, staff)
    first = client.get(reverse("recognition:person_list")).content.decode()
    assert f"{PEOPLE_PAGE_SIZE + 1} people" in first and "Person 000" in first
    assert f"Person {PEOPLE_PAGE_SIZE:03}" not in first and "Page 1 of 2" in first
    second = client.get(reverse("recognition:person_list") + "?page=2").content.decode()
    assert f"Person {PEOPLE_PAGE_SIZE:03}" in second and "Person 000" not in second


def test_a_damaged_photo_gets_no_thumbnail_and_no_error_page(client, alice):
    photo = photo_of(alice, status=Photo.Status.FAILED, error="The file is damaged.")
    photo.file.save("broken.jpg", ContentFile(b"\xff\xd8 not really"), save=True)
    client_for(client, alice)
    thumb = client.get(reverse("recognition:photo_image", args=[photo.pk]) + "?thumb")
    assert thumb.status_code == 404
    assert b"not readable" in client.get(reverse("recognition:history")).content


def test_someone_who_is_not_staff_learns_nothing_of_who_else_is_enrolled(client, alice, staff):
    ada, secret = make_person("Ada"), make_person("Secret Informant")
    make_face(person=secret, reference=True, vector=embedding(100))  # near alice's face
    photo = photo_of(alice, ada, None)
    unknown = photo.faces.get(person__isnull=True)
    client_for(client, alice)
    face_page = client.get(reverse("recognition:face_detail", args=[unknown.pk])).content.decode()
    panel = client.get(reverse("recognition:face_detail", args=[unknown.pk]) + "?panel")
    dashboard = client.get(reverse("recognition:dashboard"))
    for page in (face_page, panel.content.decode()):
        assert "Secret Informant" not in page and "Closest people" not in page
    assert dashboard.context["stats"].people == 1  # Ada, seen in her photo; not everyone
    client_for(client, staff)
    staff_page = client.get(reverse("recognition:face_detail", args=[unknown.pk])).content
    assert b"Secret Informant" in staff_page
    assert client.get(reverse("recognition:dashboard")).context["stats"].people == 2


def test_the_api_token_page_is_never_cached(client, alice):
    response = client_for(client, alice).get(reverse("recognition:api_token"))
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]


@pytest.mark.parametrize("sender, header", [("x-accel-redirect", "X-Accel-Redirect"),
                                            ("x-sendfile", "X-Sendfile")])
def test_a_front_server_can_send_the_file_after_the_apps_check(
    client, alice, bob, settings, sender, header
):
    settings.FACEWEB_FILE_SENDER = sender
    photo = photo_of(alice)
    response = client_for(client, alice).get(reverse("recognition:photo_image", args=[photo.pk]))
    assert response.status_code == 200 and response.content == b""
    assert response["Content-Type"] == "image/png" and "sandbox" in response[
        "Content-Security-Policy"]
    expected = (f"/protected-media/{photo.file.name}" if sender == "x-accel-redirect"
                else str(Path(settings.MEDIA_ROOT) / photo.file.name))
    assert response[header] == expected
    other = client_for(client, bob).get(reverse("recognition:photo_image", args=[photo.pk]))
    assert other.status_code == 404 and header not in other


def test_possibly_faces_wait_on_the_unknown_page_for_a_yes_or_a_no(client, staff):
    ada = make_person("Ada")
    make_face(vector=embedding(1), person=ada, reference=True)
    yes, no = (make_face(photo_of(staff), vector=near(embedding(1), 0.45, seed)) for seed in (1, 2))
    Face.objects.filter(pk__in=[yes.pk, no.pk]).update(candidate=ada)
    page = client_for(client, staff).get(reverse("recognition:unknown_faces"))
    assert [f.pk for f in page.context["unknown"].possible] == [no.pk, yes.pk]
    assert "Possibly <strong>Ada</strong>?" in page.content.decode()
    client.post(reverse("recognition:face_assign", args=[yes.pk]), {f"face{yes.pk}-person": ada.pk})
    client.post(reverse("recognition:face_not_this_person", args=[no.pk]))
    yes.refresh_from_db()
    no.refresh_from_db()
    assert (yes.person, yes.decision, yes.candidate) == (ada, Face.Decision.ASSIGNED, None)
    assert (no.person, no.candidate, no.rejected_person) == (None, None, ada)
    assert client.get(reverse("recognition:unknown_faces")).context["unknown"].possible == []


# --- Deleting a photo; undoing "not a face" ----------------------------------------------------


def test_a_photo_is_deleted_by_its_uploader_after_a_confirmation(client, alice, bob):
    photo = photo_of(alice, None)
    url = reverse("recognition:photo_delete", args=[photo.pk])
    assert client_for(client, bob).post(url).status_code == 404
    page = client_for(client, alice).get(url)
    assert b"Yes, delete this photo" in page.content and Photo.objects.filter(pk=photo.pk).exists()
    done = client.post(url, follow=True)
    assert done.redirect_chain[-1][0] == reverse("recognition:history")
    assert f"Photo {photo.pk} and its faces were deleted." in done.content.decode()
    assert not Photo.objects.filter(pk=photo.pk).exists() and not Face.objects.exists()


def test_deleting_a_photo_with_reference_faces_says_whose(client, staff):
    ada = make_person("Ada")
    photo = photo_of(staff)
    make_face(photo, person=ada, reference=True)
    page = client_for(client, staff).get(reverse("recognition:photo_delete", args=[photo.pk]))
    assert "It holds reference faces of Ada" in page.content.decode()


def test_not_a_face_can_be_undone_from_the_photo_page(client, staff):
    ada = make_person("Ada")
    photo = photo_of(staff)
    face = make_face(photo, person=ada, reference=True, vector=embedding(3))
    with face.crop.open("rb") as f:
        crop = f.read()
    client_for(client, staff).post(reverse("recognition:face_not_a_face", args=[face.pk]))
    assert not Face.objects.exists()
    page = client.get(reverse("recognition:photo_detail", args=[photo.pk])).content.decode()
    assert "A face of this photo was removed as not a face." in page
    client.post(reverse("recognition:face_restore"))
    back = Face.objects.get()
    assert (back.photo, back.person, back.is_reference, back.box) == (photo, ada, True, face.box)
    with back.crop.open("rb") as f:
        assert bytes(back.embedding) == bytes(face.embedding) and f.read() == crop
    again = client.post(reverse("recognition:face_restore"), follow=True).content.decode()
    assert "There is nothing to undo." in again and Face.objects.count() == 1



def test_every_page_names_its_icon_and_the_old_icon_address_leads_there(client, alice):
    page = client_for(client, alice).get(reverse("recognition:recognise")).content.decode()
    assert 'rel="icon" href="/static/img/favicon.svg"' in page
    old = client.get("/favicon.ico")
    assert old.status_code == 301 and old["Location"] == "/static/img/favicon.svg"


# --- Batches -------------------------------------------------------------------------------------


def test_the_recognise_page_comes_back_with_its_batch_until_a_new_one_is_started(
    client, alice, bob
):
    client_for(client, alice)
    for content in (png_bytes(), png_bytes(colour=(10, 20, 30))):
        client.post(reverse("recognition:photo_upload"), {"file": upload(content)},
                    headers={"Accept": "application/json"})
    first, second = Photo.objects.order_by("id")
    assert first.batch == second.batch and first.batch.user == alice
    Photo.objects.filter(pk=first.pk).update(status=Photo.Status.DONE)
    Photo.objects.filter(pk=second.pk).update(status=Photo.Status.FAILED, error="Damaged.")
    page = client.get(reverse("recognition:recognise"))
    assert [c["photo"].pk for c in page.context["cards"]] == [second.pk, first.pk]
    assert "2 photos, 1 without a face, 1 failed" in page.content.decode()
    batch_page = client.get(reverse("recognition:batch_detail", args=[first.batch_id]))
    assert batch_page.status_code == 200 and "Damaged." in batch_page.content.decode()
    assert client_for(client, bob).get(
        reverse("recognition:batch_detail", args=[first.batch_id])).status_code == 404

    client_for(client, alice).post(reverse("recognition:batch_new"))
    assert client.get(reverse("recognition:recognise")).context["cards"] == []
    client.post(reverse("recognition:photo_upload"), {"file": upload()},
                headers={"Accept": "application/json"})  # the first file again: sent before
    assert Photo.objects.get(pk=first.pk).batch != second.batch  # moved to the new batch


def test_a_name_tag_near_the_right_or_bottom_edge_stays_on_the_photo(client, alice):
    photo = make_photo(uploaded_by=alice, width=200, height=100)
    make_face(photo, box=(150, 60, 195, 98))  # bottom right corner
    html = client_for(client, alice).get(
        reverse("recognition:photo_detail", args=[photo.pk])).content.decode()
    assert 'class="face-box unknown tag-left tag-above"' in html


def test_an_undo_not_taken_within_ten_minutes_is_dropped_with_the_face_it_kept(client, staff):
    photo = photo_of(staff)
    face = make_face(photo)
    client_for(client, staff).post(reverse("recognition:face_not_a_face", args=[face.pk]))
    session = client.session
    session["undo_not_a_face"]["deleted_at"] -= 601
    session.save()
    page = client.get(reverse("recognition:photo_detail", args=[photo.pk])).content.decode()
    assert "removed as not a face" not in page
    assert "undo_not_a_face" not in client.session  # its descriptor and crop are gone too
    client.post(reverse("recognition:face_restore"))
    assert not Face.objects.exists()
