"""ONNX Runtime backend for ``.onnx`` models (TF-free)."""

from __future__ import annotations

from typing import Dict

import numpy as np

from ...errors import require
from .base import Backend, BackendError


class ONNXBackend(Backend):
    """An exported ONNX graph through onnxruntime (CUDA provider first when it is present)."""

    name = "onnx"

    def __init__(self, path, meta=None, threads=None):
        super().__init__(path, meta=meta, threads=threads)
        ort = require("onnxruntime", "onnx", f"{path} (an ONNX model)")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                     if p in ort.get_available_providers()]
        try:
            self.session = ort.InferenceSession(path, options, providers=providers)
        except Exception as err:  # onnxruntime raises its own exception types
            raise BackendError(f"{path}: cannot load ONNX model ({str(err).splitlines()[0]})") \
                from None
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        values = self.session.run(self.output_names,
                                  {self.input_name: np.asarray(image, np.float32)})
        return self.check_outputs(dict(zip(self.output_names, values)))

    def io_lines(self):
        lines = [f"input  {i.name}: {i.shape} {i.type}" for i in self.session.get_inputs()]
        return lines + [f"output {o.name}: {o.shape} {o.type}"
                        for o in self.session.get_outputs()]
