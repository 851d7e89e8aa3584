"""Inference backends behind one interface; each imports its own library only when chosen.

A backend is constructed from a model path, its metadata and a thread count, and maps an RGB
float32 [1, H, W, 3] image in [0, 255] to the six named outputs of
:data:`ssd_isb.core.metadata.OUTPUT_NAMES` as numpy arrays.
"""

from __future__ import annotations

import importlib
import os
from typing import Dict, Optional

from .base import Backend, BackendError

# name -> "module:class"; modules are imported only when that backend is used, so choosing
# TFLite never imports TensorFlow.
BACKENDS: Dict[str, str] = {
    "keras": "ssd_isb.runtime.backends.keras_backend:KerasBackend",
    "tflite": "ssd_isb.runtime.backends.tflite_backend:TFLiteBackend",
    "onnx": "ssd_isb.runtime.backends.onnx_backend:ONNXBackend",
    "tensorrt": "ssd_isb.runtime.backends.tensorrt_backend:TensorRTBackend",
}
EXTENSIONS = {".keras": "keras", ".tflite": "tflite", ".onnx": "onnx", ".engine": "tensorrt",
              ".plan": "tensorrt"}


def infer_backend(path: str) -> str:
    """Backend name from a model file's extension."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in EXTENSIONS:
        known = ", ".join(sorted(EXTENSIONS))
        raise BackendError(f"{path}: unknown model type '{ext or '(none)'}' (expected {known})")
    return EXTENSIONS[ext]


def load_backend(path: str, backend: Optional[str] = None, threads: Optional[int] = None,
                 meta=None) -> Backend:
    """Open a model with the named (or inferred) backend."""
    from ...zoo import resolve_model

    path = resolve_model(os.fspath(path))
    name = backend or infer_backend(path)
    if name not in BACKENDS:
        known = ", ".join(sorted(BACKENDS))
        raise BackendError(f"{path}: backend '{name}' is not available (available: {known})")
    if not os.path.exists(path):
        from ...zoo import missing_model_message

        raise BackendError(missing_model_message(path))
    module_name, cls_name = BACKENDS[name].split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    return cls(path, meta=meta, threads=threads)


__all__ = ["Backend", "BackendError", "BACKENDS", "EXTENSIONS", "infer_backend", "load_backend"]
