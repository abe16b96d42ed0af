"""Passive liveness: the features, the measures, the trainer, and the shipped model on NUAA."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command

from recognition.pipeline import eval_liveness, liveness, loader, train_liveness
from recognition.pipeline.image import load_image
from recognition.pipeline.types import Detection


def test_a_face_is_cut_square_on_its_box_at_64_px():
    image = np.zeros((100, 200, 3), np.uint8)
    image[20:80, 70:130] = 200  # the face: a bright 60 px square
    face = Detection(box=(70.0, 20.0, 130.0, 80.0), landmarks=np.zeros((5, 2), np.float32),
                     score=1.0)

    crop = liveness.crop(image, face)

    assert crop.shape == (64, 64, 3) and crop.dtype == np.uint8
    assert crop[2:-2, 2:-2].min() == 200  # all face, nothing of the dark around it


def test_features_count_texture_and_tell_flat_from_grainy():
    rng = np.random.default_rng(0)
    flat = np.full((1, 64, 64, 3), 128, np.uint8)
    grainy = rng.integers(0, 256, (1, 64, 64, 3), np.uint8)

    f = liveness.features(np.concatenate([flat, grainy]))

    assert f.shape == (2, liveness.FEATURES) and f.dtype == np.float32
    # Square roots of histograms: each cell's squares sum to one.
    cells = (f ** 2).reshape(2, -1, liveness.FEATURES // (6 * 4))
    np.testing.assert_allclose(cells.sum(2), 1, atol=1e-5)
    assert not np.allclose(f[0], f[1])


def test_errors_and_auc_follow_their_definitions():
    live = np.array([True, True, True, False, False, False])
    scores = np.array([0.9, 0.6, 0.2, 0.7, 0.1, np.nan])  # the last: no face found

    e = eval_liveness.errors(scores, live, 0.5)

    assert e == {"apcer": pytest.approx(1 / 3), "bpcer": pytest.approx(1 / 3),
                 "acer": pytest.approx(1 / 3)}
    # live above spoof in 6 of the 9 pairs (an attack without a face is left out of the ranking)
    ok = ~np.isnan(scores)
    assert eval_liveness.roc_auc(scores[ok], live[ok]) == pytest.approx(4 / 6)
    assert eval_liveness.roc_auc(np.array([0.5, 0.5]), np.array([True, False])) == 0.5


def test_the_threshold_is_the_middle_of_the_best_gap():
    live = np.array([True, True, False, False])
    threshold = train_liveness.calibrate(np.array([0.9, 0.8, 0.2, 0.1]), live)

    assert 0.2 < threshold <= 0.8
    assert threshold == pytest.approx(0.5, abs=0.01)  # the log-odds midway between 0.2 and 0.8


def test_the_regression_separates_what_it_can_and_folds_its_scaling_in():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 5)) * [1, 10, 100, 1, 1] + [0, 5, 50, 0, 0]
    live = x[:, 0] + x[:, 1] / 10 > 0.5

    weights, bias = train_liveness.fit(x, live)
    p = train_liveness.probabilities(x, weights, bias)

    assert ((p >= 0.5) == live).mean() > 0.95


@pytest.fixture(scope="module")
def nuaa(data_dir: Path) -> Path:
    folder = data_dir / "nuaa-dev"
    if not (folder / "real").is_dir():
        pytest.skip(f"NUAA photos not found at {folder}")
    return folder


def test_the_shipped_weights_are_the_ones_the_loader_checks():
    path = Path(loader.REPO) / loader.PACKAGED["liveness"][1]
    assert loader._sha256_files([path]) == loader.PACKAGED["liveness"][2]


def test_the_shipped_model_tells_live_faces_from_prints(nuaa, settings):
    """A sample of NUAA dev photos (the model was trained on them: this checks the product's
    path from photo to score, not its accuracy, which train_liveness measures honestly)."""
    loader.install_models(names=["liveness"])
    detect = loader.get_detector().detect
    crops = {}
    for sub in ("real", "spoof_print"):
        paths = eval_liveness.photos(nuaa / sub)[::40]
        crops[sub], found = eval_liveness.largest_face_crops(paths, detect)
        assert found.all()
    live = liveness.scores(crops["real"])
    spoof = liveness.scores(crops["spoof_print"])

    assert live.min() > settings.FACEWEB_LIVENESS_THRESHOLD > spoof.max()


def test_the_product_scores_camera_faces_only_when_asked(nuaa):
    from recognition.pipeline import analyse

    image = load_image(eval_liveness.photos(nuaa / "real")[0])
    plain = analyse.analyse_image(image, attributes=False)
    scored = analyse.analyse_image(image, attributes=False, liveness=True)

    assert plain.faces[0].liveness is None and "liveness" not in plain.timings_ms
    assert 0 <= scored.faces[0].liveness <= 1 and "liveness" in scored.timings_ms
    # How open the eyes are only when asked (the active check): the landmark net is not free.
    assert scored.faces[0].eye_openness is None
    eyes = analyse.analyse_image(image, attributes=False, eyes=True).faces[0].eye_openness
    assert 0.15 < eyes < 0.45  # open eyes


def _small_nuaa(nuaa: Path, out: Path, step: int) -> Path:
    """Every ``step``-th photo of each class, in NUAA's layout."""
    for sub in ("real", "spoof_print"):
        (out / sub).mkdir(parents=True)
        for path in eval_liveness.photos(nuaa / sub)[::step]:
            shutil.copy(path, out / sub / path.name)
    return out


def test_train_and_evaluate_commands_report_honest_figures(nuaa, tmp_path):
    data = _small_nuaa(nuaa, tmp_path / "nuaa", 8)
    printed = io.StringIO()

    call_command("train_liveness", data=[data], out=tmp_path / "model", stdout=printed)

    report = json.loads((tmp_path / "model" / "report.json").read_text())
    assert report["faces"] == 100 and report["no_face"] == 0
    for name in ("cross_subject", "cross_session"):
        assert 0.9 < report[name]["roc_auc"] <= 1
        assert set(report[name]["by_subject"]) <= {f"000{i}" for i in range(1, 10)}
    assert "leaving each subject out: ACER" in printed.getvalue()
    assert (tmp_path / "model" / "liveness.npz").is_file()

    out = tmp_path / "figures.json"
    call_command("evaluate_liveness", real=data / "real", spoof=data / "spoof_print", json=out,
                 stdout=io.StringIO())
    figures = json.loads(out.read_text())
    assert {"acer", "apcer", "bpcer", "roc_auc", "ms_per_face"} <= set(figures)
    assert figures["real"] == {"photos": 50, "no_face": 0}
