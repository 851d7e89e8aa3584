"""The sidecar of an engine: the ONNX model's, with the TensorRT build recorded."""

from __future__ import annotations

import dataclasses
from typing import Optional

from ..core.metadata import ModelMetadata, read_sidecar


def engine_metadata(onnx_path: str, precision: str, tensorrt_version: Optional[str] = None,
                    device: Optional[str] = None) -> ModelMetadata:
    """Metadata for ``M.engine`` built from ``onnx_path`` (whose sidecar must exist)."""
    meta = read_sidecar(onnx_path)
    config = dict(meta.config or {})
    config["tensorrt"] = {"precision": precision, "version": tensorrt_version,
                          "device": device, "onnx": onnx_path}
    return dataclasses.replace(meta, backend_format="tensorrt",
                               quantization={"fp32": "none"}.get(precision, precision),
                               config=config)
