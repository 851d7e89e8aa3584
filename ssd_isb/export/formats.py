"""Export formats and quantization modes."""

from __future__ import annotations

import enum

from ..utils.errors import SSDISBError


class ExportFormat(str, enum.Enum):
    """What ``ssd-isb export --format`` writes."""

    TFLITE = "tflite"
    ONNX = "onnx"
    SAVED_MODEL = "saved_model"


class Quantization(str, enum.Enum):
    """Weights/activations precision of an export.

    ``INT8`` is full-integer post-training quantization with a representative dataset; ops
    without an int8 kernel (NMS, box decoding) keep float builtin kernels.
    """

    NONE = "none"
    FP16 = "fp16"
    INT8 = "int8"


class ExportError(SSDISBError, RuntimeError):
    """An export failed; the message names the op, file or tolerance at fault."""
