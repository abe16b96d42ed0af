"""LFW evaluation arithmetic: pairs.txt parsing, threshold choice, k-fold, TAR at FAR, AUC."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from recognition.pipeline import eval_lfw, matching
from recognition.pipeline.types import Detection

PAIRS = """2\t2
Ann\t1\t2
Bob\t3\t4
Ann\t1\tBob\t2
Cy\t1\tDee\t12
Cy\t1\t3
Dee\t2\t5
Ann\t2\tCy\t3
Bob\t1\tDee\t1
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pairs.txt"
    path.write_text(text)
    return path


def test_it_reads_folds_and_same_and_different_pairs_from_a_standard_pairs_file(tmp_path):
    folds, pairs = eval_lfw.read_pairs(write(tmp_path, PAIRS))

    assert folds == 2 and len(pairs) == 8
    assert pairs[0] == eval_lfw.Pair(0, ("Ann", 1), ("Ann", 2), True)
    assert pairs[3] == eval_lfw.Pair(0, ("Cy", 1), ("Dee", 12), False)
    assert pairs[4] == eval_lfw.Pair(1, ("Cy", 1), ("Cy", 3), True)
    assert [p.same for p in pairs] == [True, True, False, False] * 2
    assert [p.fold for p in pairs] == [0] * 4 + [1] * 4


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2\n",  # header without the pairs per half-fold
        PAIRS.replace("Dee\t1\n", ""),  # a line short
        PAIRS.replace("Bob\t3\t4", "Bob\t3\tAnn\t4"),  # a different pair among the same ones
    ],
    ids=["empty", "bad header", "missing line", "wrong shape"],
)
def test_it_refuses_files_that_are_not_in_the_pairs_format(tmp_path, text):
    with pytest.raises(ValueError):
        eval_lfw.read_pairs(write(tmp_path, text))


def test_image_paths_follow_lfws_layout():
    path = eval_lfw.image_path(Path("/lfw"), ("Ann_Lee", 7))
    assert path == Path("/lfw/Ann_Lee/Ann_Lee_0007.jpg")


def test_it_picks_the_face_nearest_the_centre_and_falls_back_when_none_is_found():
    def face(x: float, y: float) -> Detection:
        return Detection(
            box=(x - 20, y - 20, x + 20, y + 20),
            landmarks=np.full((5, 2), x, np.float32),
            score=0.99,
        )

    landmarks, how = eval_lfw.pick_face([face(30, 30), face(120, 130)], width=250, height=250)
    assert how == "several" and landmarks[0, 0] == 120

    landmarks, how = eval_lfw.pick_face([], width=500, height=500)
    assert how == "fallback"
    np.testing.assert_allclose(landmarks, eval_lfw.LFW_FALLBACK_LANDMARKS * 2)


def test_the_best_threshold_separates_separable_distances_in_the_middle_of_the_gap():
    distances = np.array([0.1, 0.2, 0.3, 0.7, 0.8])
    same = np.array([True, True, True, False, False])

    threshold, accuracy = eval_lfw.best_threshold(distances, same)

    assert accuracy == 1.0
    assert 0.3 < threshold < 0.7


def test_the_best_threshold_counts_the_errors_it_cannot_avoid():
    distances = np.array([0.1, 0.2, 0.25, 0.3, 0.6, 0.9])
    same = np.array([True, False, True, True, True, False])  # one impostor close, one same far

    threshold, accuracy = eval_lfw.best_threshold(distances, same)

    assert accuracy == pytest.approx(5 / 6)
    assert (matching.is_match(distances, threshold) == same).mean() == pytest.approx(accuracy)


def test_kfold_chooses_each_folds_threshold_on_the_other_folds_only():
    # Folds 1 and 2 alone put the threshold in the wide gap (0.25, 0.7), at 0.475; fold 0
    # needs it in (0.4, 0.45), which would make it perfect if fold 0 took part in the choice.
    distances = np.array([0.4, 0.45, 0.2, 0.7, 0.25, 0.75])
    same = np.array([True, False, True, False, True, False])
    folds = np.array([0, 0, 1, 1, 2, 2])

    accuracies, thresholds = eval_lfw.kfold_accuracy(distances, same, folds)

    assert accuracies == [0.5, 1.0, 1.0]
    assert thresholds[0] == pytest.approx(0.475)
    assert thresholds[1] == pytest.approx(0.425)  # from folds 0 and 2: between 0.4 and 0.45


def test_tar_at_far_accepts_at_most_the_allowed_share_of_impostors():
    rng = np.random.default_rng(0)
    genuine = rng.uniform(0.0, 0.6, 1000)
    impostor = np.concatenate([[0.05, 0.5], rng.uniform(0.7, 1.0, 1998)])  # 2 of 2,000 close
    distances = np.concatenate([genuine, impostor])
    same = np.arange(3000) < 1000

    tar, threshold = eval_lfw.tar_at_far(distances, same, far=1e-3)  # 2 impostors allowed

    assert matching.is_match(impostor, threshold).sum() <= 2
    assert threshold > 0.6 and tar == 1.0
    tar, threshold = eval_lfw.tar_at_far(distances, same, far=5e-4)  # 1 allowed: stop at 0.5
    assert threshold == np.nextafter(0.5, 0)  # just below the second impostor
    assert matching.is_match(impostor, threshold).sum() == 1
    assert tar == pytest.approx((genuine < 0.5).mean())


def test_auc_is_one_for_separable_scores_a_half_for_ties_and_matches_a_direct_count():
    same = np.array([True, True, False, False])
    assert eval_lfw.roc_auc(np.array([0.1, 0.2, 0.3, 0.4]), same) == 1.0
    assert eval_lfw.roc_auc(np.full(4, 0.5), same) == 0.5

    rng = np.random.default_rng(1)
    distances, same = rng.uniform(size=60).round(1), rng.uniform(size=60) < 0.5
    genuine, impostor = distances[same][:, None], distances[~same][None, :]
    direct = ((genuine < impostor) + 0.5 * (genuine == impostor)).mean()
    assert eval_lfw.roc_auc(distances, same) == pytest.approx(direct)


def test_summary_gives_every_figure_for_the_pairs(tmp_path):
    _, pairs = eval_lfw.read_pairs(write(tmp_path, PAIRS))
    # Each person a direction; Ann's and Cy's photos vary a little, nobody resembles anybody.
    people = {"Ann": 0, "Bob": 1, "Cy": 2, "Dee": 3}
    descriptors = {}
    for p in pairs:
        for name, number in (p.first, p.second):
            vector = np.zeros(128)
            vector[people[name]], vector[127] = 1.0, 0.01 * number
            descriptors[name, number] = vector / np.linalg.norm(vector)

    summary = eval_lfw.summarise(pairs, descriptors)

    assert summary["pairs"] == 8 and summary["same_pairs"] == 4 and summary["folds"] == 2
    assert summary["kfold_accuracy_mean"] == 1.0 and summary["kfold_accuracy_std"] == 0.0
    assert summary["best_threshold_accuracy"] == 1.0 and summary["roc_auc"] == 1.0
    assert summary["tar_at_far_0.1%"] == 1.0
    assert summary["mean_distance_same"] < summary["best_threshold"]
    assert summary["best_threshold"] < summary["mean_distance_different"]


def test_the_command_refuses_pairs_whose_photos_are_missing(tmp_path):
    with pytest.raises(CommandError, match="12 photos named in the pairs are not under"):
        call_command("evaluate_lfw", pairs=write(tmp_path, PAIRS), images=tmp_path)


def test_the_command_reports_every_figure_on_real_lfw_photos(data_dir, tmp_path):
    lfw = data_dir / "lfw-dev"
    if not (lfw / "pairs-dev.txt").is_file():
        pytest.skip(f"LFW dev not found at {lfw}")
    # The first two same and two different pairs of folds 1 and 2, as a 2-fold file.
    lines = (lfw / "pairs-dev.txt").read_text().splitlines()[1:]
    chosen = [lines[start + i] for start in (0, 300, 600, 900) for i in range(2)]
    pairs = write(tmp_path, "2\t2\n" + "\n".join(chosen) + "\n")
    out, figures = io.StringIO(), tmp_path / "figures.json"

    call_command("evaluate_lfw", pairs=pairs, images=lfw / "images", json=figures, stdout=out)

    printed, summary = out.getvalue(), json.loads(figures.read_text())
    for phrase in ("2-fold accuracy", "best global threshold", "TAR at FAR=0.1%", "ROC AUC"):
        assert phrase in printed
    assert summary["pairs"] == 8 and summary["photos"] >= 10
    assert sum(summary["faces_found"].values()) == summary["photos"]
    assert summary["mean_distance_same"] < summary["mean_distance_different"]
    assert set(summary["median_ms_per_photo"]) == {"detect", "align", "embed"}


def test_pairs_fall_into_the_products_confidence_words_with_their_share_of_same_people():
    distances = np.array([0.2, 0.3, 0.4, 0.45, 0.46, 0.9])
    same = np.array([True, True, False, True, False, False])
    bands = eval_lfw.confidence_bands(distances, same, threshold=0.42)
    assert bands["very likely"] == {"pairs": 2, "same_share": 1.0}
    assert bands["likely"] == {"pairs": 1, "same_share": 0.0}
    assert bands["possibly"] == {"pairs": 2, "same_share": 0.5}
    assert bands["unlikely"] == {"pairs": 1, "same_share": 0.0}
