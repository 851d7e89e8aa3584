"""The models shipped with the package (``ssd-isb models`` lists them)."""

from __future__ import annotations

import json
import os
from typing import Dict, List

ZOO_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = "ssd_isb_multi_shape_int8.tflite"


class NoShippedModel(FileNotFoundError):
    """No model file is shipped yet under the expected name."""


def default_model_path() -> str:
    """Path of the default model (int8 Multi-Shape TFLite)."""
    path = os.path.join(ZOO_DIR, DEFAULT_MODEL)
    if not os.path.exists(path):
        raise NoShippedModel(f"{path}: no shipped default model in this install; pass --model")
    return path


MODEL_EXTENSIONS = (".tflite", ".onnx", ".engine", ".keras")
METRICS_FILE = "metrics.json"  # dev-validation figures per shipped file, written at release


def shipped_models() -> List[Dict]:
    """Every model shipped in ``ssd_isb/zoo`` with what its sidecar and the metrics file say.

    Returns:
        One dict per model file: ``file``, ``path``, ``bytes``, ``variant``, ``quantization``,
        ``input_size``, ``params``, ``default`` and, when measured, ``metrics``.
    """
    from ..metadata import read_sidecar

    metrics = {}
    metrics_path = os.path.join(ZOO_DIR, METRICS_FILE)
    if os.path.exists(metrics_path):
        with open(metrics_path, encoding="utf-8") as fh:
            metrics = json.load(fh)
    out = []
    for name in sorted(os.listdir(ZOO_DIR)):
        path = os.path.join(ZOO_DIR, name)
        if not name.endswith(MODEL_EXTENSIONS):
            continue
        meta = read_sidecar(path)
        out.append({"file": name, "path": path, "bytes": os.path.getsize(path),
                    "variant": meta.variant, "quantization": meta.quantization,
                    "input_size": list(meta.input_size), "params": meta.params,
                    "default": name == DEFAULT_MODEL, "metrics": metrics.get(name)})
    return out

