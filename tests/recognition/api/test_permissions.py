"""Every endpoint, as each kind of caller: anonymous, the photo's owner, another user, staff.

Anonymous callers get 401; people and face corrections are staff only (403 for users); a
user's photos and their faces are invisible to other users (404, not 403: their existence is
not revealed); staff see everything.
"""

from types import SimpleNamespace

import pytest

from recognition import health, services
from tests.factories import embedding, face_result, make_face, make_person, make_photo, png_bytes

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "user", "other_user", "staff")


def everyone(code: int) -> dict:
    return {"anonymous": 401, "user": code, "other_user": code, "staff": code}


def owner(code: int) -> dict:
    return {"anonymous": 401, "user": code, "other_user": 404, "staff": code}


def staff_only(code: int) -> dict:
    return {"anonymous": 401, "user": 403, "other_user": 403, "staff": code}


def public(code: int) -> dict:
    return dict.fromkeys(ROLES, code)


def image():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("face.png", png_bytes(), content_type="image/png")


# (id, method, path from the world, body from the world or None, multipart?, expected by role)
CASES = [
    ("photo_list", "get", lambda w: "/api/v1/photos/", None, False, everyone(200)),
    ("photo_submit", "post", lambda w: "/api/v1/photos/", lambda w: {"image": image()}, True,
     everyone(202)),
    ("photo_get", "get", lambda w: f"/api/v1/photos/{w.photo.pk}/", None, False, owner(200)),
    ("photo_delete", "delete", lambda w: f"/api/v1/photos/{w.photo.pk}/", None, False,
     owner(204)),
    ("person_list", "get", lambda w: "/api/v1/people/", None, False, staff_only(200)),
    ("person_create", "post", lambda w: "/api/v1/people/", lambda w: {"name": "Cy"}, False,
     staff_only(201)),
    ("person_get", "get", lambda w: f"/api/v1/people/{w.ada.pk}/", None, False, staff_only(200)),
    ("person_rename", "patch", lambda w: f"/api/v1/people/{w.ada.pk}/",
     lambda w: {"name": "Ada L."}, False, staff_only(200)),
    ("person_delete", "delete", lambda w: f"/api/v1/people/{w.ada.pk}/", None, False,
     staff_only(204)),
    ("person_merge", "post", lambda w: f"/api/v1/people/{w.ada.pk}/merge/",
     lambda w: {"other_id": w.bob.pk}, False, staff_only(200)),
    ("person_enrol", "post", lambda w: f"/api/v1/people/{w.ada.pk}/enrol/",
     lambda w: {"image": image()}, True, staff_only(202)),
    ("person_reference_list", "get", lambda w: f"/api/v1/people/{w.ada.pk}/references/", None,
     False, staff_only(200)),
    ("person_reference_add", "post", lambda w: f"/api/v1/people/{w.ada.pk}/references/",
     lambda w: {"face_id": w.face.pk}, False, staff_only(201)),
    ("person_reference_remove", "delete",
     lambda w: f"/api/v1/people/{w.ada.pk}/references/{w.reference.pk}/", None, False,
     staff_only(204)),
    ("face_get", "get", lambda w: f"/api/v1/faces/{w.face.pk}/", None, False, owner(200)),
    ("face_assign", "post", lambda w: f"/api/v1/faces/{w.face.pk}/assign/",
     lambda w: {"person_id": w.ada.pk}, False, staff_only(200)),
    ("face_not_a_face", "post", lambda w: f"/api/v1/faces/{w.face.pk}/not-a-face/", None,
     False, staff_only(204)),
    # The uploader may say a face in their photo is not someone (not assign one, which would
    # teach the gallery).
    ("face_not_this_person", "post", lambda w: f"/api/v1/faces/{w.matched.pk}/not-this-person/",
     None, False, owner(200)),
    ("batch_create", "post", lambda w: "/api/v1/batches/", None, False, everyone(201)),
    ("batch_get", "get", lambda w: f"/api/v1/batches/{w.batch.pk}/", None, False, owner(200)),
    ("unknown_faces", "get", lambda w: "/api/v1/unknown/", None, False, staff_only(200)),
    ("unknown_hide", "post", lambda w: "/api/v1/unknown/hide/",
     lambda w: {"faces": [w.face.pk]}, False, staff_only(200)),
    ("verify", "post", lambda w: "/api/v1/verify/",
     lambda w: {"image": image(), "other_image": image()}, True, everyone(200)),
    ("identify", "post", lambda w: "/api/v1/identify/", lambda w: {"image": image()}, True,
     everyone(200)),
    ("liveness_challenge", "post", lambda w: "/api/v1/liveness/challenge/", None, False,
     everyone(200)),
    # A made-up token: refused (400) once signed in; tests/recognition/api/test_liveness.py
    # answers real challenges.
    ("liveness", "post", lambda w: "/api/v1/liveness/",
     lambda w: {"token": "made-up", "frames": [image() for _ in range(4)]}, True, everyone(400)),
    ("health", "get", lambda w: "/api/v1/health/", None, False, public(200)),
    ("token_get", "post", lambda w: "/api/v1/auth/token/",
     lambda w: {"username": "ursula", "password": "secret-ursula"}, False, public(200)),
    ("token_revoke", "delete", lambda w: "/api/v1/auth/token/", None, False, everyone(204)),
    ("schema", "get", lambda w: "/api/v1/schema/", None, False, public(200)),
    ("docs", "get", lambda w: "/api/v1/docs/", None, False, public(200)),
]


@pytest.fixture
def world(user, other_user, staff, fake_pipeline, monkeypatch):
    """Ada (a reference face), Bob, and a photo of ``user`` with an unknown face and a face
    matched to Ada. The stand-in pipeline finds one face; health reports all well."""
    fake_pipeline.faces = [face_result(embedding(1))]
    monkeypatch.setattr(health, "system_health", lambda **_: {
        "ok": True, "database": {"ok": True}, "media": {"ok": True},
        "redis": {"ok": True, "persistent": True}, "workers": {"ok": True, "names": ["w@h"]},
        "sweep": {"ok": True, "age_s": 3.0}, "queue": {"waiting": 0, "reserved": 0},
    })
    ada, bob = make_person("Ada"), make_person("Bob")
    photo = make_photo(uploaded_by=user)
    batch = services.batch_create(user=user)
    return SimpleNamespace(
        users={"anonymous": None, "user": user, "other_user": other_user, "staff": staff},
        ada=ada, bob=bob, photo=photo, batch=batch,
        reference=make_face(person=ada, reference=True, vector=embedding(2)),
        face=make_face(photo, vector=embedding(3)),
        matched=make_face(photo, person=ada, vector=embedding(4), box=(50, 10, 80, 40)),
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "body", "multipart", "expected"),
    [case[1:] for case in CASES], ids=[case[0] for case in CASES],
)
def test_each_endpoint_answers_each_kind_of_caller_as_its_permissions_say(
    api, world, role, method, path, body, multipart, expected
):
    client = api(world.users[role])
    kwargs = {}
    if body is not None:
        kwargs = {"data": body(world), "format": "multipart" if multipart else "json"}
    response = getattr(client, method)(path(world), **kwargs)
    assert response.status_code == expected[role], response.content[:500]
    if response.status_code >= 400:
        assert set(response.json()["error"]) >= {"code", "message"}
