"""evaluate_clustering: BCubed and pairwise figures on hand-made labels, the choice of photos,
and the command on real LFW photos with the product's grouping."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from recognition.pipeline import eval_clustering


def test_bcubed_precision_and_recall_count_each_face_and_faces_in_no_group_alone():
    truth, labels = ["a", "a", "b", "b"], np.array([0, 0, 0, -1])
    precision, recall = eval_clustering.bcubed(np.array(truth), labels)
    # Precision: a, a see 2 of 3 as theirs, b sees 1 of 3, the lone b itself.
    assert precision == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1) / 4)
    # Recall: each a is with both a's; each b is with 1 of the 2 b's.
    assert recall == pytest.approx((1 + 1 + 0.5 + 0.5) / 4)
    assert eval_clustering.pairwise_precision(np.array(truth), labels) == pytest.approx(1 / 3)


def test_a_perfect_grouping_and_one_group_of_everyone():
    truth = np.array(["a", "a", "b", "c", "c", "c"])
    assert eval_clustering.bcubed(truth, np.array([1, 1, -1, 0, 0, 0])) == (1.0, 1.0)
    precision, recall = eval_clustering.bcubed(truth, np.zeros(6, int))
    assert recall == 1.0 and precision == pytest.approx((2 * 2 + 1 + 3 * 3) / 36)
    summary = eval_clustering.summarise(list(truth), np.array([1, 1, -1, 0, 0, 0]))
    assert (summary["faces"], summary["people"], summary["groups"]) == (6, 3, 2)
    assert summary["faces_grouped"] == 5 and summary["bcubed_f1"] == 1.0


def test_it_takes_people_with_enough_photos_in_name_order(tmp_path):
    for name, count in (("Bea", 5), ("Al", 4), ("Cy", 2), ("Di", 6)):
        (tmp_path / name).mkdir()
        for n in range(1, count + 1):
            (tmp_path / name / f"{name}_{n:04d}.jpg").touch()
    chosen = eval_clustering.select(tmp_path, min_per_person=4)
    assert sorted({name for name, _ in chosen}) == ["Al", "Bea", "Di"] and len(chosen) == 15
    assert eval_clustering.select(tmp_path, min_per_person=4, people=2, per_person=3) == [
        ("Al", 1), ("Al", 2), ("Al", 3), ("Bea", 1), ("Bea", 2), ("Bea", 3)
    ]


def test_the_command_refuses_a_folder_without_enough_photos(tmp_path):
    with pytest.raises(CommandError, match="no person"):
        call_command("evaluate_clustering", images=tmp_path)


def test_the_command_groups_real_lfw_faces_with_the_products_grouping(data_dir: Path, tmp_path):
    lfw = data_dir / "lfw-dev" / "images"
    if not lfw.is_dir():
        pytest.skip(f"LFW dev not found at {lfw}")
    out, figures = io.StringIO(), tmp_path / "figures.json"
    call_command("evaluate_clustering", images=lfw, people=4, per_person=4, time_faces=24,
                 json=figures, descriptors=tmp_path / "cache.npz", stdout=out)
    summary = json.loads(figures.read_text())
    assert {"bcubed_precision", "bcubed_recall", "groups", "faces", "seconds"} <= set(summary)
    assert summary["faces"] == 16 and summary["people"] == 4 and summary["timed_faces"] == 24
    # Four people, four photos each: no group mixes them, and most faces find their own.
    assert summary["bcubed_precision"] == 1.0 and summary["bcubed_recall"] > 0.6
    assert "BCubed precision" in out.getvalue()
    again = tmp_path / "again.json"  # from the cache: the same figures
    call_command("evaluate_clustering", images=lfw, people=4, per_person=4, time_faces=24,
                 json=again, descriptors=tmp_path / "cache.npz", stdout=io.StringIO())
    assert json.loads(again.read_text())["bcubed_recall"] == summary["bcubed_recall"]
