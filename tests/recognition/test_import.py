"""manage.py import_photos: a folder of photos stored for a user, queued on the import queue,
each once however often the import runs."""

import io

import pytest
from django.core.management import call_command
from django.test import TestCase

from recognition.models import Photo
from recognition.tasks import analyse_photo
from tests.factories import png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="pw")


@pytest.fixture
def imports(monkeypatch) -> list:
    """(photo id, queue) of every import job published."""
    published = []
    monkeypatch.setattr(analyse_photo, "apply_async",
                        lambda args, queue: published.append((args[0], queue)))
    return published


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "library"
    (root / "2024" / "summer").mkdir(parents=True)
    (root / "a.png").write_bytes(png_bytes())
    (root / "2024" / "b.png").write_bytes(png_bytes(colour=(10, 200, 30)))
    (root / "2024" / "summer" / "c.png").write_bytes(png_bytes(colour=(200, 10, 30)))
    (root / "2024" / "copy-of-a.png").write_bytes(png_bytes())  # the same photo again
    (root / "broken.jpg").write_bytes(b"not a photo at all")
    (root / "notes.txt").write_text("not a photo")
    return root


def run(folder, **options) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    with TestCase.captureOnCommitCallbacks(execute=True):  # jobs are published on commit
        call_command("import_photos", str(folder), stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def test_a_folder_is_imported_once_and_queued_apart_from_uploads(
    folder, alice, queued, imports
):
    out, err = run(folder, user="alice", recursive=True)

    photos = Photo.objects.order_by("original_name")
    # In path order: the copy of a.png comes first, and a.png is then the one already there.
    assert [p.original_name for p in photos] == ["b.png", "c.png", "copy-of-a.png"]
    assert {p.source for p in photos} == {"import"} and {p.uploaded_by for p in photos} == {alice}
    assert sorted(queue for _, queue in imports) == ["import"] * 3 and queued == []
    assert "5 photos in" in out and "3 imported, 1 already there, 1 refused" in out
    assert "refused broken.jpg" in err and "[" in err  # the progress bar

    out, _ = run(folder, user="alice", recursive=True)  # again: nothing new
    assert "0 imported, 4 already there" in out and Photo.objects.count() == 3
    assert len(imports) == 3


def test_without_recursive_only_the_folder_itself(folder, alice, imports):
    out, _ = run(folder, user="alice")
    assert "2 photos in" in out and Photo.objects.get().original_name == "a.png"


def test_an_unknown_user_or_folder_is_refused(folder, tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no user 'nobody'"):
        run(folder, user="nobody")
    with pytest.raises(CommandError, match="is not a folder"):
        run(tmp_path / "missing", user="nobody")


def test_the_sweep_queues_a_lost_import_on_the_import_queue(folder, alice, imports, queued):
    from datetime import timedelta

    from django.utils import timezone

    from recognition import services

    run(folder, user="alice")  # a.png
    Photo.objects.update(queued_at=None)  # as if Redis had lost its job
    services.photos_requeue_stuck(now=timezone.now() + timedelta(minutes=5))
    assert [queue for _, queue in imports] == ["import", "import"] and queued == []
