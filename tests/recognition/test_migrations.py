"""Data migrations, run forwards on rows and files as the version before them stored them."""

from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import png_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def migrate(target: tuple[str, str]):
    """Migrate the test database to ``target``; returns the app registry at that state."""
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    executor.loader.build_graph()
    return executor.loader.project_state([target]).apps


def test_stored_files_get_random_names_and_a_stored_non_image_is_deleted(settings):
    apps = migrate(("recognition", "0001_initial"))
    Photo, Face = apps.get_model("recognition", "Photo"), apps.get_model("recognition", "Face")
    # As the old code named them: a prefix of the content hash with the client's suffix, and
    # the crop after the photo's id.
    content = png_bytes()
    old_photo = default_storage.save("photos/2026/11/ebdd80ed1cc53398df0ea13f.png",
                                     ContentFile(content))
    old_page = default_storage.save("photos/2026/11/16ba136d4298f3171c80d1a6.html",
                                    ContentFile(b"<script>alert(1)</script>"))
    old_crop = default_storage.save("faces/2026/11/p1.jpg", ContentFile(b"\xff\xd8 a crop"))
    photo = Photo.objects.create(file=old_photo, content_hash="e" * 64, size_bytes=len(content))
    page = Photo.objects.create(file=old_page, content_hash="1" * 64, size_bytes=25,
                                status="failed")
    face = Face.objects.create(photo=photo, box=[0, 0, 1, 1], landmarks=[], detection_score=1,
                               embedding=b"", model_version="v", crop=old_crop,
                               expression="happy", expression_scores={})

    try:
        apps = migrate(("recognition", "0002_random_file_names"))
    finally:
        migrate_to_latest()
    photo = apps.get_model("recognition", "Photo").objects.get(pk=photo.pk)
    page = apps.get_model("recognition", "Photo").objects.get(pk=page.pk)
    face = apps.get_model("recognition", "Face").objects.get(pk=face.pk)

    assert Path(photo.file.name).parent == Path("photos/2026/11")
    assert Path(photo.file.name).suffix == ".png" and "ebdd80ed" not in photo.file.name
    with default_storage.open(photo.file.name, "rb") as f:
        assert f.read() == content
    assert Path(face.crop.name).parent == Path("faces/2026/11")
    assert Path(face.crop.name).name != "p1.jpg" and face.crop.name.endswith(".jpg")
    assert page.file.name == ""  # only images are kept
    stored = sorted(str(p.relative_to(settings.MEDIA_ROOT))
                    for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())
    assert stored == sorted([photo.file.name, face.crop.name])


def migrate_to_latest() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_people_whose_names_clash_ignoring_case_and_spaces_are_renamed_not_merged():
    apps = migrate(("recognition", "0007_face_rejected_person"))
    Person = apps.get_model("recognition", "Person")
    people = [Person.objects.create(name=name) for name in
              ("Tony Blair", "tony blair ", " Ada", "TONY BLAIR", "Tony Blair (2)")]
    try:
        apps = migrate(("recognition", "0008_person_names_unique"))
    finally:
        migrate_to_latest()
    Person = apps.get_model("recognition", "Person")
    assert [Person.objects.get(pk=p.pk).name for p in people] == [
        "Tony Blair", "tony blair (2)", "Ada", "TONY BLAIR (3)", "Tony Blair (2) (2)"
    ]
