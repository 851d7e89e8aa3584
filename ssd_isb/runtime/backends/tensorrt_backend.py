"""TensorRT backend for ``.engine`` files built by ``convert/build_engine.py`` (TF-free)."""

from __future__ import annotations

from typing import Dict

import numpy as np

from .base import Backend, BackendError


class TensorRTBackend(Backend):
    """Runs a serialized engine on the GPU (needs tensorrt and cuda-python or pycuda)."""

    name = "tensorrt"

    def __init__(self, path, meta=None, threads=None):
        super().__init__(path, meta=meta, threads=threads)
        try:
            from ...tensorrt.engine import EngineRunner

            self.runner = EngineRunner(path)
        except (RuntimeError, ImportError) as err:
            raise BackendError(f"{path}: {err}") from None
        self.input_name = next(iter(self.runner.inputs))

    def run(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        out = self.runner.run({self.input_name: np.asarray(image, np.float32)})
        return self.check_outputs(out)

    def device_memory_mb(self):
        from ...tensorrt.cuda import gpu_memory_used_mb

        return gpu_memory_used_mb()
