"""Retention (FACEWEB_RETENTION_DAYS, `purge_expired`) and erasure of a deleted account's data."""

from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from recognition.models import Face, Photo
from recognition.tasks import purge_expired_photos
from tests.factories import make_face, make_person, make_photo

pytestmark = pytest.mark.django_db(transaction=True)  # files go once the deletion commits


def stored(settings) -> set[str]:
    media = Path(settings.MEDIA_ROOT)
    return {p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file()}


def aged(photo: Photo, days: int) -> Photo:
    Photo.objects.filter(pk=photo.pk).update(created_at=timezone.now() - timedelta(days=days))
    return photo


@pytest.fixture
def library():
    """An old photo with an unknown face; an old photo holding Ada's reference face and an
    automatic match; a new photo."""
    ada = make_person("Ada")
    old = make_face(aged(make_photo(), 40)).photo
    gallery = aged(make_photo(), 40)
    reference = make_face(gallery, person=ada, reference=True)
    match = make_face(gallery, person=ada)
    new = make_face(make_photo()).photo
    return {"old": old, "gallery": gallery, "reference": reference, "match": match, "new": new}


def test_the_dry_run_counts_and_deletes_nothing(library, settings):
    before = stored(settings)
    out = StringIO()
    call_command("purge_expired", "--days", "30", "--dry-run", stdout=out)
    assert "would delete 1 photos and 2 faces" in out.getvalue()
    assert stored(settings) == before and Photo.objects.count() == 3


def test_old_photos_and_faces_go_with_their_files_but_references_stay(library, settings):
    out = StringIO()
    call_command("purge_expired", "--days", "30", stdout=out)
    assert "deleted 1 photos and 2 faces" in out.getvalue()
    assert set(Photo.objects.values_list("pk", flat=True)) == {
        library["gallery"].pk, library["new"].pk}
    assert set(Face.objects.values_list("pk", flat=True)) == {
        library["reference"].pk, library["new"].faces.get().pk}
    left = stored(settings)
    assert library["old"].file.name not in left and library["match"].crop.name not in left
    assert library["reference"].crop.name in left and library["gallery"].file.name in left


def test_the_daily_task_purges_only_when_retention_is_set(library, settings):
    settings.FACEWEB_RETENTION_DAYS = 0
    assert purge_expired_photos() == 0 and Photo.objects.count() == 3
    settings.FACEWEB_RETENTION_DAYS = 30
    assert purge_expired_photos() == 1 and Photo.objects.count() == 2


def test_the_command_needs_a_number_of_days(settings):
    settings.FACEWEB_RETENTION_DAYS = 0
    with pytest.raises(CommandError, match="--days"):
        call_command("purge_expired")


def test_deleting_an_account_erases_its_photos_faces_and_files(django_user_model, settings):
    gone = django_user_model.objects.create_user("gone")
    kept = django_user_model.objects.create_user("kept")
    theirs = make_face(make_photo(uploaded_by=gone)).photo
    others = make_face(make_photo(uploaded_by=kept)).photo
    gone.delete()
    assert list(Photo.objects.values_list("pk", flat=True)) == [others.pk]
    assert not Face.objects.filter(photo_id=theirs.pk).exists()
    left = stored(settings)
    assert theirs.file.name not in left and others.file.name in left
    assert len(left) == 2  # the other photo and its crop
