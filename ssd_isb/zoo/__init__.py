"""The models shipped with the package (``ssd-isb models`` lists them)."""

from __future__ import annotations

import os

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
