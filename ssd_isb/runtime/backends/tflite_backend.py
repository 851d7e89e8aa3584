"""LiteRT backend for ``.tflite`` models (TF-free; see :mod:`ssd_isb.runtime.tflite`)."""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from ..tflite import activation_bytes, dequantize, open_interpreter, quantize
from .base import Backend, BackendError


class TFLiteBackend(Backend):
    """Runs the exported graph through its ``serving_default`` signature (named outputs).

    Integer inputs (int8/uint8 I/O exports) are quantized here from the RGB 0-255 image, and
    quantized outputs are dequantized, so every backend returns the same float arrays.
    """

    name = "tflite"

    def __init__(self, path, meta=None, threads=None):
        super().__init__(path, meta=meta, threads=threads)
        self.interpreter = open_interpreter(path, threads=threads)
        signatures = self.interpreter.get_signature_list()
        if "serving_default" not in signatures:
            raise BackendError(f"{path}: no serving_default signature (not an ssd-isb export)")
        self.runner = self.interpreter.get_signature_runner("serving_default")
        self.input_name = signatures["serving_default"]["inputs"][0]
        self.input_detail = self.runner.get_input_details()[self.input_name]
        self.output_details = self.runner.get_output_details()

    def run(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        out = self.runner(**{self.input_name: quantize(image, self.input_detail)})
        return self.check_outputs({name: dequantize(value, self.output_details[name])
                                   for name, value in out.items()})

    def activation_bytes(self) -> Optional[int]:
        return activation_bytes(self.interpreter)

    def io_lines(self):
        d = self.input_detail
        lines = [f"input  {self.input_name}: {list(d['shape'])} {np.dtype(d['dtype']).name}"]
        for name, d in sorted(self.output_details.items()):
            lines.append(f"output {name}: {list(d['shape'])} {np.dtype(d['dtype']).name}")
        return lines
