"""Expression evaluation: folder labels, the summary, and the evaluate_expressions command."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image

from recognition.pipeline import eval_expression, expression, loader
from recognition.pipeline.types import EXPRESSIONS, Detection

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("FACEWEB_DATA_DIR", ROOT / ".." / "shared" / "data"))
FER_TEST = DATA / "fer2013" / "public_test"

needs_fer = pytest.mark.skipif(
    not FER_TEST.is_dir(), reason=f"FER2013 public_test not found at {FER_TEST}"
)


def installed_expression_model():
    """The installed expression model (installs it first if needed)."""
    weights = loader.face_api_dir() / expression.MANIFEST
    if not weights.is_file():
        pytest.skip(f"face-api weights not found at {weights}: run `npm install`")
    loader.install_models(names=["expression"])
    return loader.get_net("expression")


def _folder(root: Path, names: list[str]) -> Path:
    for name in names:
        (root / name).mkdir(parents=True)
        Image.new("L", (48, 48), 128).save(root / name / "a.png")
    return root


def test_fer_folder_names_map_to_the_model_classes(tmp_path):
    root = _folder(tmp_path, ["fear", "disgust", "surprise", "happy", "neutral"])

    items = eval_expression.labelled_images(root=root)

    assert sorted(EXPRESSIONS[label] for _, label in items) == sorted(
        ["fearful", "disgusted", "surprised", "happy", "neutral"]
    )


def test_an_unknown_class_folder_is_refused(tmp_path):
    root = _folder(tmp_path, ["happy", "contempt"])

    with pytest.raises(ValueError, match="contempt"):
        eval_expression.labelled_images(root=root)


def test_a_limited_run_takes_the_same_sample_every_time(tmp_path):
    root = tmp_path
    for name in ("happy", "sad"):
        (root / name).mkdir()
        for i in range(10):
            Image.new("L", (48, 48), i).save(root / name / f"{i}.png")

    first = eval_expression.labelled_images(root=root, limit=6)

    assert first == eval_expression.labelled_images(root=root, limit=6)
    assert len(first) == 6


def test_the_summary_counts_missing_predictions_as_wrong():
    happy, sad = EXPRESSIONS.index("happy"), EXPRESSIONS.index("sad")
    truth = np.array([happy, happy, sad, sad])
    predicted = np.array([happy, sad, sad, -1])

    summary = eval_expression.summarise(truth=truth, predicted=predicted)

    assert summary["accuracy"] == 0.5
    assert summary["per_class_recall"]["happy"] == 0.5
    assert summary["per_class_recall"]["sad"] == 0.5
    assert summary["per_class_recall"]["angry"] is None
    assert np.array(summary["confusion"]).sum() == 3  # the missing one is in no cell


def test_detect_first_crops_the_best_face_and_counts_faceless_images_as_wrong(
    tmp_path, monkeypatch
):
    model = installed_expression_model()
    root = _folder(tmp_path, ["happy", "sad"])
    items = eval_expression.labelled_images(root=root)
    seen: list[tuple] = []
    cropped: list[float] = []
    crop = expression.crop_for_expression
    monkeypatch.setattr(
        expression, "crop_for_expression", lambda im, d: cropped.append(d.score) or crop(im, d)
    )

    def detect(image):  # a stand-in detector: a face in the first image only
        seen.append(image.shape)
        if len(seen) > 1:
            return []
        low = Detection(box=(0, 0, 10, 10), landmarks=np.zeros((5, 2)), score=0.5)
        return [low, Detection(box=(4, 4, 44, 44), landmarks=np.zeros((5, 2)), score=0.9)]

    summary = eval_expression.evaluate(
        items=items, read=lambda crops: expression.predict(model, crops), detect=detect)

    assert seen == [(48, 48, 3), (48, 48, 3)]
    assert cropped == [0.9]
    assert summary["no_face"] == 1
    assert np.array(summary["confusion"]).sum() == 1
    assert summary["accuracy"] == summary["accuracy_on_found"] / 2


@needs_fer
def test_it_is_well_above_chance_on_a_fer_sample():
    model = installed_expression_model()
    items = eval_expression.labelled_images(root=FER_TEST, limit=700)

    summary = eval_expression.evaluate(items=items,
                                       read=lambda crops: expression.predict(model, crops))

    # The full public_test gives 58.4%; the largest class (happy) is 25% of it.
    assert summary["accuracy"] > 0.52
    assert summary["no_face"] == 0
    assert np.array(summary["confusion"]).sum() == 700


@needs_fer
def test_the_command_prints_and_writes_the_figures(tmp_path, monkeypatch):
    if not (loader.face_api_dir() / expression.MANIFEST).is_file():
        pytest.skip(f"face-api weights missing in {loader.face_api_dir()}: run `npm install`")
    monkeypatch.setenv("FACEWEB_MODEL_DIR", str(tmp_path / "models"))
    loader.clear_cache()
    loader.install_models(names=list(expression.NETS))
    out, printed = tmp_path / "fer.json", io.StringIO()

    try:
        call_command("evaluate_expressions", images=FER_TEST, limit=70, json=out, stdout=printed)
    finally:
        loader.clear_cache()

    figures = json.loads(out.read_text())
    assert f"accuracy: {figures['accuracy']:.2%}" in printed.getvalue()
    assert figures["images"] == 70 and figures["mode"] == "whole image"
    assert set(figures["per_class_recall"]) == set(EXPRESSIONS)
    assert np.array(figures["confusion"]).shape == (7, 7)
    assert 0.0 < figures["accuracy"] <= 1.0
