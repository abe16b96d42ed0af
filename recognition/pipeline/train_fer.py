"""Train :mod:`recognition.pipeline.fer_net` on FER2013 (``manage.py train_expressions``).

- **Data**: ``DATA/train/<label>/*.jpg``; a stratified share (:data:`VALIDATION_SHARE`) of it,
  drawn with the seed, is held out for validation: the running figure the progress bar shows
  and the report's. ``public_test`` is only read for the final report, never to choose
  anything.
- **Augmentation** (:func:`augment`, each batch afresh): mirror, shifts of up to 10%, turns of
  up to 10 degrees, zoom of up to 10%, and random erasing of a patch in :data:`ERASE_SHARE`
  of the images.
- **Imbalance**: classes weighted by the square root of their rarity (disgust, 1.5% of the
  faces, counts ~3x; happy, 25%, ~0.75x): full inverse weights trade too much accuracy for
  the rare classes.
- **Loss and schedule**: cross-entropy with label smoothing 0.1; SGD with Nesterov momentum,
  decoupled weight decay, a linear warm-up of one epoch and a cosine decay to zero.
- **Checkpoints** every epoch (Keras ``BackupAndRestore``): ``resume=True`` carries on from
  the last finished epoch with the same optimizer state.
- **Output** in ``out``: ``fer_resnet.npz`` (the weights in float16, what the repository
  ships), ``report.json``, ``confusion.png`` and ``history.csv``.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from recognition.pipeline import eval_expression, fer_net
from recognition.pipeline.types import EXPRESSIONS

VALIDATION_SHARE = 0.1
BATCH = 128
PEAK_LR = 0.05
WEIGHT_DECAY = 5e-4
LABEL_SMOOTHING = 0.1
# Share of the faces given a noise patch. fer_resnet v1 was trained with 0.5 and underfitted
# (training accuracy level with validation to the end: its model card); a quarter since.
ERASE_SHARE = 0.25
WEIGHTS_FILE = "fer_resnet.npz"


def load(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(faces (N, 48, 48) uint8 grey, labels (N,) indices into EXPRESSIONS)`` of a folder of
    ``<label>/`` folders (FER2013's layout), in a stable order."""
    items = eval_expression.labelled_images(root=folder)
    faces = np.stack([np.asarray(Image.open(p).convert("L"), np.uint8) for p, _ in items])
    return faces, np.array([label for _, label in items], np.int64)


def split(labels: np.ndarray, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, validation)``: VALIDATION_SHARE of each class to validation."""
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        held.append(members[: round(len(members) * VALIDATION_SHARE)])
    validation = np.sort(np.concatenate(held))
    return np.setdiff1d(np.arange(len(labels)), validation), validation


def class_weights(labels: np.ndarray) -> dict[int, float]:
    """Square-root inverse frequency, scaled so that the average face weighs 1."""
    counts = np.bincount(labels, minlength=len(EXPRESSIONS)).astype(np.float64)
    raw = np.where(counts > 0, np.sqrt(counts.sum() / np.maximum(counts, 1)), 0.0)
    raw /= (raw * counts).sum() / counts.sum()
    return {i: float(w) for i, w in enumerate(raw)}


def augment(faces: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A randomly changed copy of a batch ``(N, 48, 48, 1)`` float32: each face mirrored half
    the time, turned up to 10 degrees, scaled by 0.9-1.1 and shifted up to 10% in one affine
    warp (one resampling: Keras's preprocessing layers, one after another, blur a 48 px face
    past reading its expression), and ERASE_SHARE of them with a random patch of 2-15% of the
    face replaced by noise (random erasing)."""
    size = faces.shape[1]
    out = np.empty_like(faces)
    for i, face in enumerate(faces[:, :, :, 0]):
        if rng.random() < 0.5:
            face = face[:, ::-1]
        matrix = cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), rng.uniform(-10, 10),
                                         rng.uniform(0.9, 1.1))
        matrix[:, 2] += rng.uniform(-0.1, 0.1, 2) * size
        warped = cv2.warpAffine(np.ascontiguousarray(face), matrix, (size, size),
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if rng.random() < ERASE_SHARE:
            area = rng.uniform(0.02, 0.15) * size * size
            aspect = np.exp(rng.uniform(np.log(0.3), np.log(3.3)))
            h = int(min(size, round(np.sqrt(area * aspect))))
            w = int(min(size, round(np.sqrt(area / aspect))))
            top, left = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
            warped[top : top + h, left : left + w] = rng.uniform(0, 255, (h, w))
        out[i, :, :, 0] = warped
    return out


def batches(x: np.ndarray, y: np.ndarray, weights: np.ndarray, *, seed: int):
    """The training batches, shuffled and augmented afresh each epoch (a Keras PyDataset)."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.epoch = 0
            self.on_epoch_end()

        def __len__(self):
            return math.ceil(len(x) / BATCH)

        def __getitem__(self, index):
            at = self.order[index * BATCH : (index + 1) * BATCH]
            rng = np.random.default_rng((seed, self.epoch, index))
            return augment(x[at], rng), y[at], weights[at]

        def on_epoch_end(self):
            self.epoch += 1
            self.order = np.random.default_rng((seed, self.epoch)).permutation(len(x))

    return Batches()


def schedule(steps_per_epoch: int, epochs: int):
    import keras

    warm = steps_per_epoch
    total = steps_per_epoch * epochs

    class WarmCosine(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            from keras import ops

            step = ops.cast(step, "float32")
            rising = PEAK_LR * (step + 1) / warm
            progress = ops.clip((step - warm) / max(total - warm, 1), 0.0, 1.0)
            falling = PEAK_LR * 0.5 * (1 + ops.cos(math.pi * progress))
            return ops.where(step < warm, rising, falling)

        def get_config(self):
            return {}

    return WarmCosine()


def predict(model, faces: np.ndarray, *, mirror: bool = True) -> np.ndarray:
    """Probabilities ``(N, 7)``; with ``mirror`` the mean over the face and its mirror image."""
    x = fer_net.to_input(faces)
    probs = model.predict(x, batch_size=256, verbose=0)
    if mirror:
        probs = (probs + model.predict(x[:, :, ::-1], batch_size=256, verbose=0)) / 2
    return probs


def confusion_png(confusion: list[list[int]], path: Path, title: str) -> None:
    """The confusion matrix as a picture: rows true, columns predicted, each row shaded by
    its share."""
    n, cell, left, top = len(EXPRESSIONS), 64, 96, 72
    image = Image.new("RGB", (left + n * cell + 16, top + n * cell + 16), "white")
    draw = ImageDraw.Draw(image)
    draw.text((8, 8), title, fill="black")
    draw.text((left, 40), "predicted ->", fill="black")
    for j, name in enumerate(EXPRESSIONS):
        draw.text((left + j * cell + 4, top - 16), name[:8], fill="black")
    for i, row in enumerate(confusion):
        draw.text((8, top + i * cell + cell // 2 - 6), EXPRESSIONS[i], fill="black")
        total = max(sum(row), 1)
        for j, value in enumerate(row):
            share = value / total
            shade = int(255 * (1 - share))
            box = (left + j * cell, top + i * cell, left + (j + 1) * cell - 1,
                   top + (i + 1) * cell - 1)
            draw.rectangle(box, fill=(shade, shade, 255), outline="grey")
            draw.text((box[0] + 6, box[1] + 24), f"{share:.0%}",
                      fill="white" if share > 0.5 else "black")
    image.save(path)


def precision() -> str:
    """The Keras dtype policy to train with: bfloat16 arithmetic (float32 weights) on a CPU
    that does it natively (AVX-512 BF16 or AMX), else float32. On this project's machines (AMX)
    the network trains 1.15x faster in bfloat16 without XLA, which is 1.6x faster than with it
    (the XLA CPU compiler does not use oneDNN's kernels; it was 15% ahead on the machine v1
    was trained on, which had neither)."""
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return "mixed_bfloat16" if {"avx512_bf16", "amx_bf16"} & set(flags.split()) else "float32"


def train(*, data: Path, out: Path, epochs: int, resume: bool, seed: int = 0,
          limit: int | None = None, log=print) -> dict:
    """Train, report, and write the outputs listed in the module doc. Returns the report."""
    import keras

    keras.utils.set_random_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    backup = out / "checkpoint"
    if not resume and backup.exists():
        shutil.rmtree(backup)
    faces, labels = load(data / "train")
    train_at, val_at = split(labels, seed=seed)
    if limit is not None:
        train_at = np.random.default_rng(seed).permutation(train_at)[:limit]
    log(f"{len(train_at)} training faces, {len(val_at)} for validation (seed {seed})")

    steps = math.ceil(len(train_at) / BATCH)
    weights = class_weights(labels[train_at])
    training = batches(
        fer_net.to_input(faces[train_at]),
        keras.utils.to_categorical(labels[train_at], len(EXPRESSIONS)),
        np.array([weights[k] for k in labels[train_at]], np.float32),
        seed=seed,
    )
    validation = (fer_net.to_input(faces[val_at]),
                  keras.utils.to_categorical(labels[val_at], len(EXPRESSIONS)))

    keras.mixed_precision.set_global_policy(precision())
    try:
        model = fer_net.build()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.compile(
        optimizer=keras.optimizers.SGD(schedule(steps, epochs), momentum=0.9, nesterov=True,
                                       weight_decay=WEIGHT_DECAY),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=LABEL_SMOOTHING),
        metrics=["accuracy"],
        jit_compile=False,
    )
    started = time.monotonic()
    model.fit(
        training, epochs=epochs, validation_data=validation, verbose=1,
        callbacks=[
            keras.callbacks.BackupAndRestore(str(backup), delete_checkpoint=False),
            keras.callbacks.CSVLogger(str(out / "history.csv"), append=resume),
        ],
    )
    seconds = time.monotonic() - started
    fer_net.save_weights(model, out / WEIGHTS_FILE)

    # The report: the shipped (float16) weights, mirror-averaged as served.
    served = fer_net.build()
    fer_net.load_weights(served, out / WEIGHTS_FILE)
    report = {"epochs": epochs, "seed": seed, "precision": precision(),
              "train_faces": len(train_at), "validation_faces": len(val_at),
              "train_seconds_this_run": round(seconds), "parameters": int(served.count_params())}
    sets = {"validation": (faces[val_at], labels[val_at])}
    if (data / "public_test").is_dir():
        sets["public_test"] = load(data / "public_test")
    for name, (x, y) in sets.items():
        probs = predict(served, x)
        report[name] = eval_expression.summarise(truth=y, predicted=probs.argmax(axis=1))
        report[name]["accuracy_no_mirror"] = float(
            np.mean(predict(served, x, mirror=False).argmax(axis=1) == y))
        log(f"{name}: accuracy {report[name]['accuracy']:.2%} (no mirror "
            f"{report[name]['accuracy_no_mirror']:.2%}); recall "
            + ", ".join(f"{k} {v:.0%}" for k, v in report[name]["per_class_recall"].items()))
    final = report.get("public_test", report["validation"])
    confusion_png(final["confusion"], out / "confusion.png",
                  f"fer_resnet on {'PublicTest' if 'public_test' in report else 'validation'}: "
                  f"{final['accuracy']:.1%}")
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
