"""A full disk, a read-only disk and a locked database, for real (a small tmpfs mounted as
MEDIA_ROOT, a second SQLite connection holding the write lock): each upload is answered 503
with what is wrong, by the API over HTTP and by the pages, and leaves neither a file nor a row.
"""

import contextlib
import io
import json
import os
import sqlite3
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest
from django.db import connection
from django.test import Client
from PIL import Image
from rest_framework.authtoken.models import Token

from recognition import services, tasks
from recognition.models import Face, Photo
from tests.factories import embedding, face_result, jpeg_bytes, make_photo, upload
from tests.worlds import fill, tmpfs
from tests.worlds import read_only as make_read_only

pytestmark = pytest.mark.django_db(transaction=True)


def files_in(root: Path) -> list[str]:
    """Every regular file under ``root``, but the filler."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and p.name != "filler")


@pytest.fixture
def media(settings, tmp_path):
    """``media(full=..., read_only=...)``: MEDIA_ROOT on a tmpfs in that state."""

    @contextlib.contextmanager
    def mount(*, full: bool = False, read_only: bool = False):
        with tmpfs(tmp_path / "faulty-media", size="256k") as mounted:
            (mounted / "uploading").mkdir()
            if full:
                fill(mounted)
            if read_only:
                make_read_only(mounted)
            settings.MEDIA_ROOT = mounted
            settings.FILE_UPLOAD_TEMP_DIR = str(mounted / "uploading")
            yield mounted

    return mount


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("uma", password="secret-uma-42")


def noise_jpeg(size: int) -> bytes:
    """A JPEG of random pixels, at least ``size`` bytes (noise does not compress)."""
    side = int((size / 1.1) ** 0.5) + 16
    pixels = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    assert buffer.tell() >= size
    return buffer.getvalue()


def api_upload(live_server, user, content: bytes) -> tuple[int, dict, dict]:
    """POST a photo to the API over HTTP as ``user``: (status, JSON body, headers)."""
    token, _ = Token.objects.get_or_create(user=user)
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
            f"filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode() + content + (
            f"\r\n--{boundary}--\r\n").encode()
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/photos/", data=body, method="POST",
        headers={"Authorization": f"Token {token.key}",
                 "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error), dict(error.headers)


@pytest.mark.parametrize(("state", "code"), [
    ({"full": True}, "storage_full"),
    ({"read_only": True}, "storage_unavailable"),
])
@pytest.mark.parametrize("size", [40_000, 3_000_000], ids=["in memory", "spooled to disk"])
def test_an_api_upload_to_faulty_storage_is_a_503_that_leaves_nothing(
    live_server, user, media, state, code, size
):
    with media(**state) as root:
        status, body, headers = api_upload(live_server, user, noise_jpeg(size))
        assert status == 503, body
        assert body["error"]["code"] == code and "nothing was saved" in body["error"]["message"]
        assert headers["Retry-After"]
        assert files_in(root) == []
    assert not Photo.objects.exists()


@pytest.mark.parametrize(("state", "words"), [
    ({"full": True}, "storage is full"),
    ({"read_only": True}, "cannot write to its storage"),
])
def test_an_upload_page_on_faulty_storage_says_what_is_wrong_and_leaves_nothing(
    user, media, state, words
):
    client = Client(raise_request_exception=False)
    client.force_login(user)
    with media(**state) as root:
        response = client.post("/photos/upload/", {"file": upload(jpeg_bytes(200, 150))})
        assert response.status_code == 503
        page = response.content.decode()
        assert words in page and "nothing was saved" in page
        # The recognise page's script asks for JSON and shows error.message.
        response = client.post("/photos/upload/", {"file": upload(jpeg_bytes(200, 150))},
                               HTTP_ACCEPT="application/json")
        assert response.status_code == 503 and words in response.json()["error"]["message"]
        assert files_in(root) == []
    assert not Photo.objects.exists()


@pytest.mark.skipif("os.environ.get('DATABASE_URL', '').startswith('postgres')",
                    reason="SQLite's file lock; PostgreSQL locks rows, not the database")
def test_an_upload_while_the_database_is_locked_is_a_503_that_leaves_no_file(
    user, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    client = Client(raise_request_exception=False)
    client.force_login(user)
    token, _ = Token.objects.get_or_create(user=user)
    # Wait 1 s for the lock instead of 20, on a connection opened with that option.
    connection.close()
    options = connection.settings_dict["OPTIONS"]
    original, options["timeout"] = options["timeout"], 1
    holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # the write lock, as a long job would hold it
        response = client.post("/api/v1/photos/", {"image": upload(jpeg_bytes(200, 150))},
                               HTTP_AUTHORIZATION=f"Token {token.key}")
        assert response.status_code == 503, response.content
        assert response.json()["error"]["code"] == "database_unavailable"
        assert files_in(settings.MEDIA_ROOT) == []
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        connection.close()
        options["timeout"] = original
    assert not Photo.objects.exists()


def test_a_worker_that_cannot_write_its_crops_hands_the_photo_back_and_leaves_no_crop(
    fake_pipeline, media, monkeypatch
):
    """A full disk mid-analysis is transient: the transaction rolls back, the crops written
    so far are removed, the photo goes back to pending and the job retries with backoff."""
    fake_pipeline.faces = [face_result(embedding(1)), face_result(embedding(2))]
    with media() as root:
        photo = make_photo(status=Photo.Status.PENDING)
        retried = []
        monkeypatch.setattr(tasks.analyse_photo, "retry",
                            lambda **kwargs: retried.append(kwargs) or RuntimeError("retry"))
        fill(root)
        with pytest.raises(RuntimeError, match="retry"):
            tasks.analyse_photo.apply(args=[photo.pk], throw=True).get()
        assert files_in(root) == [photo.file.name]
        photo.refresh_from_db()
        assert photo.status == Photo.Status.PENDING and not Face.objects.exists()
        assert retried[0]["countdown"] == 5

        (root / "filler").unlink()  # space again: the retry finishes the photo
        tasks.analyse_photo.apply(args=retried[0]["args"], kwargs=retried[0]["kwargs"],
                                  throw=True)
        photo.refresh_from_db()
        assert photo.status == Photo.Status.DONE and photo.faces.count() == 2


def test_the_orphan_sweep_removes_old_files_no_row_points_at(settings, tmp_path):
    settings.MEDIA_ROOT, settings.FACEWEB_ORPHAN_AFTER_S = tmp_path / "media", 3600
    kept = make_photo()  # its file is known
    orphan = Path(settings.MEDIA_ROOT, "photos", "orphan.jpg")
    young = Path(settings.MEDIA_ROOT, "uploading", "tmp-in-flight.upload.jpg")
    elsewhere = Path(settings.MEDIA_ROOT, "notes.txt")  # not one of the app's folders
    for path in (orphan, young, elsewhere):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    hour_ago = time.time() - 3601
    os.utime(orphan, (hour_ago, hour_ago))
    os.utime(elsewhere, (hour_ago, hour_ago))
    os.utime(Path(settings.MEDIA_ROOT, kept.file.name), (hour_ago, hour_ago))

    assert services.files_remove_orphans(dry_run=True) == ["photos/orphan.jpg"]
    assert orphan.exists()
    assert services.files_remove_orphans() == ["photos/orphan.jpg"]
    assert not orphan.exists() and young.exists() and elsewhere.exists()
    assert Path(settings.MEDIA_ROOT, kept.file.name).exists()


def test_the_orphan_sweep_keeps_everything_when_no_row_points_at_any_file(settings, tmp_path):
    """An empty or wrong database (a typo in SQLITE_PATH, a restore not yet done) must not
    cost the photos; nor is anything outside the app's own folders ever touched."""
    settings.MEDIA_ROOT = tmp_path / "media"
    stored = Path(settings.MEDIA_ROOT, "photos", "2026", "11", "abc.jpg")
    other = Path(settings.MEDIA_ROOT, "backup.tar")
    hour_ago = time.time() - 7200
    for path in (stored, other):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
        os.utime(path, (hour_ago, hour_ago))
    assert services.files_remove_orphans() == []
    assert stored.exists() and other.exists()


def test_an_error_that_is_no_storage_fault_stays_a_plain_500(user, monkeypatch):
    client = Client(raise_request_exception=False)
    client.force_login(user)
    monkeypatch.setattr(services, "photo_create", lambda **_: 1 / 0)
    response = client.post("/photos/upload/", {"file": upload(jpeg_bytes(200, 150))})
    assert response.status_code == 500
