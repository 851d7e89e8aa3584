"""Save and load the inference model as ``.keras`` with its sidecar metadata."""

from __future__ import annotations

import os

import keras

from ..config import Config
from ..core.metadata import ModelMetadata, write_sidecar


def save_model(model: keras.Model, path: str, cfg: Config, **metadata) -> str:
    """Write ``path`` (.keras) and its sidecar ``path.json``; return ``path``.

    The sidecar says ``graph: two_stage`` unless given otherwise: loaded through the runtime,
    the model runs as the two stages, like an exported model (every detection gets a mask).
    """
    if not path.endswith(".keras"):
        raise ValueError(f"{path}: a Keras model file must end in .keras")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    model.save(path)
    metadata.setdefault("graph", "two_stage")
    write_sidecar(path, ModelMetadata.from_config(cfg, backend_format="keras", **metadata))
    return path


def load_model(path: str) -> keras.Model:
    """Load a ``.keras`` SSD-ISB model with ``safe_mode`` on (no arbitrary code)."""
    from . import builder, isb, mask_head, postprocess, semantic  # noqa: F401  (register layers)

    return keras.saving.load_model(path, safe_mode=True, compile=False)
