"""Read TF.js layers weight manifests (as shipped in face-api's ``model/`` folder).

A manifest is a JSON list of groups; each group names its ``.bin`` shards (concatenated in
order) and its weights: ``name``, ``shape``, ``dtype`` and optionally ``quantization``
(``{"dtype": "uint8", "scale": s, "min": m}``, meaning ``value = q * s + m``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

_DTYPES = {"float32": np.float32, "int32": np.int32, "uint8": np.uint8, "uint16": np.uint16}


class ManifestError(ValueError):
    """The manifest or its shards are missing, truncated or malformed."""


def read_manifest(manifest_path: str | Path) -> dict[str, np.ndarray]:
    """Return ``{weight name: float32 array}`` for every weight in a TF.js manifest.

    Quantized weights are dequantized. Raises ManifestError on any inconsistency, so a
    half-downloaded or corrupt model never loads silently.
    """
    manifest_path = Path(manifest_path)
    try:
        groups = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ManifestError(f"cannot read weights manifest {manifest_path}: {exc}") from exc

    weights: dict[str, np.ndarray] = {}
    for group in groups:
        try:
            buffer = b"".join((manifest_path.parent / p).read_bytes() for p in group["paths"])
        except OSError as exc:
            raise ManifestError(f"missing weights shard for {manifest_path}: {exc}") from exc
        offset = 0
        for spec in group["weights"]:
            shape = tuple(spec["shape"])
            count = int(np.prod(shape)) if shape else 1
            quant = spec.get("quantization")
            stored = np.dtype(_DTYPES[quant["dtype"] if quant else spec["dtype"]])
            nbytes = count * stored.itemsize
            if offset + nbytes > len(buffer):
                raise ManifestError(f"{manifest_path}: shards too short for {spec['name']}")
            raw = np.frombuffer(buffer, dtype=stored, count=count, offset=offset)
            offset += nbytes
            if quant:
                values = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(
                    quant["min"]
                )
            else:
                values = raw.astype(np.float32)
            weights[spec["name"]] = values.reshape(shape)
        if offset != len(buffer):
            raise ManifestError(f"{manifest_path}: {len(buffer) - offset} unread bytes in shards")
    return weights


def load_weights(model, weights: dict[str, np.ndarray], names, *, what: str) -> None:
    """Set every weighted layer of a Keras ``model`` from face-api ``weights``: ``names(layer)``
    gives that layer's weight names in ``set_weights`` order. Every name must exist and every
    weight be used once; ``what`` names the network in the errors."""
    unused = set(weights)
    for layer in model.layers:
        if not layer.weights:
            continue
        wanted = names(layer)
        missing = [n for n in wanted if n not in weights]
        if missing:
            raise ValueError(f"{what} weights lack {missing}")
        layer.set_weights([weights[n] for n in wanted])  # raises on a shape mismatch
        unused -= set(wanted)
    if unused:
        raise ValueError(f"unexpected {what} weights: {sorted(unused)}")
