"""Our expression network: its input, its shipped weights, and the training run (one tiny step;
the real run is ``manage.py train_expressions``, never part of the suite)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from recognition.pipeline import expression, fer_net, loader, train_fer
from recognition.pipeline.tflite import TfliteNet
from recognition.pipeline.types import EXPRESSIONS

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / loader.PACKAGED["fer_resnet"][1]


def test_a_crop_becomes_a_48_px_grey_square_whatever_its_size_and_colour():
    rgb = np.zeros((2, 112, 112, 3), np.uint8)
    rgb[:, :, :, 0] = 255  # pure red: grey 76 (ITU-R 601 weights, as cv2 and Pillow)
    grey = np.full((1, 30, 30), 200, np.uint8)

    assert fer_net.to_input(rgb).shape == (2, 48, 48, 1)
    assert np.allclose(fer_net.to_input(rgb), 76)
    assert np.allclose(fer_net.to_input(grey, 64), 200)
    with pytest.raises(ValueError, match="uint8"):
        fer_net.to_input(rgb.astype(np.float32))


def test_the_weights_survive_float16_storage_and_conversion(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    model = fer_net.build()
    fer_net.save_weights(model, tmp_path / "w.npz")
    x = np.random.default_rng(0).uniform(0, 255, (4, 48, 48, 1)).astype(np.float32)

    again = fer_net.build()
    fer_net.load_weights(again, tmp_path / "w.npz")
    converted = TfliteNet(fer_net.convert(tmp_path / "w.npz"))(x)[0]

    # Float16 moves an untrained network's probabilities by a few thousandths (the figures in
    # the model card are of the float16 weights themselves).
    stored, kept = np.asarray(again(x)), np.asarray(model(x))
    assert np.abs(stored - kept).max() < 1e-2
    assert (stored.argmax(axis=1) == kept.argmax(axis=1)).all()
    assert np.abs(converted - np.asarray(again(x))).max() < 1e-4


def test_weights_of_another_network_are_refused(tmp_path):
    np.savez(tmp_path / "w.npz", **{"dense/kernel": np.zeros((3, 3), np.float16)})
    with pytest.raises(ValueError, match="does not fit"):
        fer_net.load_weights(fer_net.build(), tmp_path / "w.npz")


def test_the_split_is_stratified_and_the_same_for_a_seed():
    labels = np.repeat(np.arange(7), [100, 10, 100, 300, 150, 150, 90])
    train, validation = train_fer.split(labels, seed=0)

    assert len(np.intersect1d(train, validation)) == 0 and len(train) + len(validation) == 900
    assert np.bincount(labels[validation]).tolist() == [10, 1, 10, 30, 15, 15, 9]
    assert np.array_equal(validation, train_fer.split(labels, seed=0)[1])
    assert not np.array_equal(validation, train_fer.split(labels, seed=1)[1])


def test_rare_classes_weigh_more_and_the_average_face_weighs_one():
    labels = np.repeat(np.arange(7), [400, 100, 400, 1600, 400, 400, 400])
    weights = train_fer.class_weights(labels)

    assert weights[1] == pytest.approx(2 * weights[0]) and weights[3] == pytest.approx(
        weights[0] / 2)
    assert np.mean([weights[k] for k in labels]) == pytest.approx(1.0)


def test_a_tiny_run_trains_checkpoints_resumes_and_reports(tmp_path):
    rng = np.random.default_rng(0)
    for split_name, count in (("train", 12), ("public_test", 3)):
        for name in ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"):
            folder = tmp_path / "fer" / split_name / name
            folder.mkdir(parents=True)
            for i in range(count):
                Image.fromarray(rng.integers(0, 256, (48, 48), np.uint8)).save(folder / f"{i}.png")
    out = tmp_path / "out"

    def run(epochs, resume):
        return train_fer.train(data=tmp_path / "fer", out=out, epochs=epochs, resume=resume,
                               log=lambda _: None)

    run(1, resume=False)
    report = run(2, resume=True)

    with (out / "history.csv").open() as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0", "1"]  # the 2nd run resumed
    assert json.loads((out / "report.json").read_text()) == report
    assert report["train_faces"] + report["validation_faces"] == 84
    assert report["public_test"]["images"] == 21
    assert set(report["public_test"]["per_class_recall"]) == set(EXPRESSIONS)
    with Image.open(out / "confusion.png") as picture:
        assert picture.size[0] > 400
    fer_net.load_weights(fer_net.build(), out / train_fer.WEIGHTS_FILE)


def test_the_shipped_weights_are_the_ones_the_loader_checks():
    assert loader._sha256_files([SHIPPED]) == loader.PACKAGED["fer_resnet"][2]
    assert SHIPPED.stat().st_size < 8_000_000
    assert (SHIPPED.parent / "fer_resnet.md").is_file()  # its model card


def test_every_expression_network_answers_in_the_same_order_and_shape():
    loader.install_models(names=list(expression.NETS))
    faces = np.random.default_rng(3).integers(0, 256, (3, 112, 112, 3), np.uint8)
    for name in expression.NETS:
        probs = expression.scores(name, faces)
        assert probs.shape == (3, len(EXPRESSIONS)), name
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    combined = expression.read(faces)
    assert combined.shape == (3, len(EXPRESSIONS))
    assert expression.read(faces[:0]).shape == (0, len(EXPRESSIONS))
