"""LiteRT backend for ``.tflite`` models (TF-free: ai_edge_litert, else tflite_runtime,
else tf.lite as a last resort)."""

from __future__ import annotations

from typing import Dict

import numpy as np

from .base import Backend, BackendError


def interpreter_class():
    """The first available TFLite interpreter: LiteRT, tflite_runtime, then TensorFlow's."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter  # type: ignore

        return Interpreter
    except ImportError:
        pass
    try:
        import tensorflow as tf  # noqa: F401  (only when nothing lighter is installed)

        return tf.lite.Interpreter
    except ImportError:
        raise BackendError("no TFLite interpreter: pip install ai-edge-litert") from None


class TFLiteBackend(Backend):
    """Runs the exported graph through its ``serving_default`` signature (named outputs).

    Integer inputs (int8/uint8 I/O exports) are quantized here from the RGB 0-255 image, and
    quantized outputs are dequantized, so every backend returns the same float arrays.
    """

    name = "tflite"

    def __init__(self, path, meta=None, threads=None):
        super().__init__(path, meta=meta, threads=threads)
        cls = interpreter_class()
        try:
            self.interpreter = cls(model_path=path, num_threads=threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as err:
            raise BackendError(f"{path}: cannot load TFLite model ({err})") from None
        signatures = self.interpreter.get_signature_list()
        if "serving_default" not in signatures:
            raise BackendError(f"{path}: no serving_default signature (not an ssd-isb export)")
        self.runner = self.interpreter.get_signature_runner("serving_default")
        self.input_name = signatures["serving_default"]["inputs"][0]
        self.input_detail = self.runner.get_input_details()[self.input_name]
        self.output_details = self.runner.get_output_details()

    def run(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        detail = self.input_detail
        x = np.asarray(image, np.float32)
        if detail["dtype"] in (np.uint8, np.int8):
            scale, zero = detail["quantization"]
            info = np.iinfo(detail["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(detail["dtype"])
        out = self.runner(**{self.input_name: x})
        result = {}
        for name, value in out.items():
            d = self.output_details[name]
            if d["dtype"] in (np.uint8, np.int8) and d["quantization"][0]:
                scale, zero = d["quantization"]
                value = (value.astype(np.float32) - zero) * scale
            result[name] = value
        return self.check_outputs(result)
