"""Installing converted models and loading them, once, through the getters."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from recognition.pipeline import embed, loader, tfjs

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fresh_getters():
    loader.clear_cache()
    yield
    loader.clear_cache()


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A model dir with the embedder installed once for this module (read-only: copy it)."""
    if not (loader.face_api_dir() / embed.MANIFEST).exists():
        pytest.skip(f"face-api weights missing in {loader.face_api_dir()}: run `npm install`")
    directory = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACEWEB_MODEL_DIR", str(directory))
        messages = loader.install_models(names=["embedder"])
    path = directory / "embedder.tflite"
    assert messages == [f"embedder: installed {path} from {embed.MANIFEST} (converted, verified)"]
    return directory


@pytest.fixture
def model_dir(installed, tmp_path, monkeypatch) -> Path:
    """A private copy of the installed dir, selected through FACEWEB_MODEL_DIR."""
    directory = tmp_path / "models"
    shutil.copytree(installed, directory)
    monkeypatch.setenv("FACEWEB_MODEL_DIR", str(directory))
    return directory


def test_loading_from_an_empty_dir_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEWEB_MODEL_DIR", str(tmp_path))
    with pytest.raises(loader.ModelNotInstalled, match="python manage.py install_models"):
        loader.get_embedder()


def test_a_corrupt_model_file_is_refused_and_reinstalled(model_dir):
    weights = model_dir / "embedder.tflite"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(loader.ModelNotInstalled, match="corrupt.*python manage.py install_models"):
        loader.get_embedder()

    assert loader.install_models(names=["embedder"])[0].startswith("embedder: installed")
    assert loader.get_embedder() is not None


def test_installing_twice_leaves_an_up_to_date_model_alone(model_dir):
    before = (model_dir / "embedder.tflite").stat().st_mtime_ns
    assert loader.install_models(names=["embedder"]) == [
        f"embedder: up to date ({model_dir / 'embedder.tflite'})"
    ]
    assert (model_dir / "embedder.tflite").stat().st_mtime_ns == before


def test_it_reinstalls_when_forced_or_when_the_source_weights_change(model_dir):
    assert loader.install_models(names=["embedder"], force=True)[0].startswith(
        "embedder: installed"
    )

    record = json.loads((model_dir / loader.RECORD).read_text())
    record["embedder"]["source_sha256"] = "0" * 64  # as if npm brought other weights
    (model_dir / loader.RECORD).write_text(json.dumps(record))
    assert loader.install_models(names=["embedder"])[0].startswith("embedder: installed")
    record = json.loads((model_dir / loader.RECORD).read_text())
    assert record["embedder"]["source_sha256"] != "0" * 64


def test_the_record_names_source_and_output_checksums(installed):
    entry = json.loads((installed / loader.RECORD).read_text())["embedder"]
    assert entry["file"] == "embedder.tflite"
    assert len(entry["sha256"]) == len(entry["source_sha256"]) == 64
    assert entry["source_manifest"].endswith(embed.MANIFEST)


def test_the_getter_loads_once_per_process(model_dir):
    first = loader.get_embedder()
    assert loader.get_embedder() is first
    assert embed.embed(first, np.zeros((1, 150, 150, 3), np.uint8)).shape == (1, 128)


def test_an_install_from_before_litert_is_redone_as_tflite(model_dir):
    # Keras weights recorded under the same source checksum, as the previous version wrote.
    (model_dir / "embedder.tflite").rename(model_dir / "embedder.weights.h5")
    record = json.loads((model_dir / loader.RECORD).read_text())
    record["embedder"]["file"] = "embedder.weights.h5"
    (model_dir / loader.RECORD).write_text(json.dumps(record))
    with pytest.raises(loader.ModelNotInstalled, match="not installed"):
        loader.get_embedder()

    assert loader.install_models(names=["embedder"])[0].startswith("embedder: installed")
    assert loader.get_embedder() is not None


def test_a_model_whose_module_is_not_written_yet_is_skipped(model_dir, monkeypatch):
    monkeypatch.setitem(loader.CONVERTED, "future", ("recognition.pipeline.not_there", 3))
    assert loader.install_models(names=["future"]) == [
        "future: skipped (recognition.pipeline.not_there does not exist yet)"
    ]


def test_missing_face_api_weights_say_to_run_npm_install(model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEWEB_FACE_API_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(tfjs.ManifestError, match="npm install"):
        loader.install_models(names=["embedder"], force=True)


def test_the_command_reports_what_it_did(model_dir, monkeypatch, capsys):
    for name in ("expression", "age_gender"):  # keep this test to the embedder
        monkeypatch.delitem(loader.CONVERTED, name)
    call_command("install_models")
    out = capsys.readouterr().out
    assert f"model dir: {model_dir}" in out
    assert "embedder: up to date" in out


def test_the_command_fails_loudly_without_face_api_weights(model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEWEB_FACE_API_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(CommandError, match="install_models failed"):
        call_command("install_models", "--force")


def test_a_conversion_that_computes_otherwise_is_refused(model_dir, monkeypatch):
    loader.import_tensorflow()
    real = loader.TfliteNet

    class Off(real):
        def __call__(self, *inputs):
            return tuple(out + 1e-3 for out in super().__call__(*inputs))

    monkeypatch.setattr(loader, "TfliteNet", Off)
    with pytest.raises(RuntimeError, match="computes otherwise"):
        loader.install_models(names=["embedder"], force=True)


def test_importing_the_pipeline_loads_no_model_and_no_tensorflow():
    code = (
        "import sys, recognition.pipeline.loader, recognition.pipeline.embed;"
        "print('tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_models_run_on_the_threads_the_settings_give_each_worker(settings):
    """FACEWEB_MODEL_THREADS (by default the cores shared among FACEWEB_WORKER_CONCURRENCY
    processes) is what every interpreter is made with."""
    import os

    from recognition.pipeline import tflite

    assert tflite.THREADS == settings.FACEWEB_MODEL_THREADS == max(
        1, len(os.sched_getaffinity(0)) // settings.FACEWEB_WORKER_CONCURRENCY)
