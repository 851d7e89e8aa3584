"""SavedModel -> TFLite with builtin ops only (fp32, fp16 or full-integer int8)."""

from __future__ import annotations

import re
from typing import Callable, Iterable, List, Optional

import tensorflow as tf

from .formats import ExportError, Quantization

_SELECT_OPS = re.compile(r"TF Select ops: ([^\n.]+)")
_FLEX_OP = re.compile(r"'(tf\.[A-Za-z0-9_]+)' op is neither a custom op nor a flex op")


def to_tflite(saved_model: str, quantization: Quantization = Quantization.NONE,
              representative: Optional[Callable[[], Iterable]] = None,
              integer_io: bool = False, signature_keys: Optional[List[str]] = None) -> bytes:
    """Convert a SavedModel; fail naming the first non-builtin op.

    Args:
        saved_model: folder from :func:`~ssd_isb.export.saved_model.to_saved_model`.
        quantization: none, fp16 or int8.
        representative: for int8, yields the calibration samples: ``[image]`` lists (one
            signature), or ``(signature key, {input name: array})`` tuples (several).
        integer_io: int8 only: take a uint8 image input (outputs stay float / int32 heads).
        signature_keys: the SavedModel signatures to convert (default: serving_default); the
            flatbuffer keeps one signature each.

    Returns:
        The flatbuffer.
    """
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model,
                                                         signature_keys=signature_keys)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization == Quantization.FP16:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == Quantization.INT8:
        if representative is None:
            raise ExportError("int8 needs representative images (--calibration or data.train)")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        # int8 kernels wherever they exist; NMS and the box decoding keep float builtins.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                               tf.lite.OpsSet.TFLITE_BUILTINS]
        if integer_io:
            converter.inference_input_type = tf.uint8
    elif integer_io:
        raise ExportError("--integer-io needs --quantize int8")
    try:
        return converter.convert()
    except Exception as err:  # the converter raises several types; all carry the MLIR text
        text = str(err)
        ops = _SELECT_OPS.search(text)
        flex = _FLEX_OP.search(text)
        if ops or flex:
            name = ops.group(1).strip() if ops else flex.group(1)
            raise ExportError(f"TFLite export failed: {name} is not a builtin TFLite op "
                              f"(the model must run without Flex/Select TF ops)") from None
        first = next((line for line in text.splitlines() if "error" in line.lower()),
                     text.splitlines()[0] if text else repr(err))
        raise ExportError(f"TFLite export failed: {first.strip()[:300]}") from None


def op_names(model_content: bytes) -> set:
    """Every op in every subgraph of a TFLite flatbuffer (builtin names; CUSTOM for custom
    ops)."""
    from ..runtime.tflite import model_op_names

    return model_op_names(model_content)
