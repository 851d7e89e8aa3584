"""TensorRT backend for ``.engine`` files built by ``convert/build_engine.py`` (TF-free)."""

from __future__ import annotations

import os
from typing import Dict, List

import numpy as np

from ...core.stages import FEATURES, crop_names, features_output, logits_name
from .base import Backend, BackendError


class TensorRTBackend(Backend):
    """Runs a serialized engine on the GPU (needs tensorrt and cuda-python or pycuda).

    A two-stage model is two engines, three with a features stage: the detect stage (this
    file), the branch stage and the features stage (named in the sidecar's ``stage_files``),
    see :mod:`ssd_isb.tensorrt.stages`.
    """

    name = "tensorrt"

    def __init__(self, path, meta=None, threads=None):
        super().__init__(path, meta=meta, threads=threads)
        try:
            from ...tensorrt.engine import EngineRunner

            self.runner = EngineRunner(path)
            if self.two_stage:
                other = (self.meta.stage_files or {}).get("branches")
                if not other:
                    raise BackendError(f"{path}: its sidecar names no branch-stage engine")
                self.branch_runner = EngineRunner(os.path.join(os.path.dirname(path), other))
                features = (self.meta.stage_files or {}).get("features")
                self.features_runner = EngineRunner(
                    os.path.join(os.path.dirname(path), features)) if features else None
        except (RuntimeError, ImportError) as err:
            raise BackendError(f"{path}: {err}") from None
        self.input_name = "image" if "image" in self.runner.inputs else next(
            iter(self.runner.inputs))

    def run(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        if self.two_stage:
            return super().run(image)
        return self.check_outputs(self.runner.run({self.input_name: np.asarray(image,
                                                                                np.float32)}))

    def detect(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        if not self.two_stage:
            return super().detect(image)
        return self.runner.run({self.input_name: np.asarray(image, np.float32)})

    @property
    def has_features(self) -> bool:
        return bool(self.two_stage and getattr(self, "features_runner", None))

    def features(self, images: np.ndarray) -> Dict[str, np.ndarray]:
        if not self.has_features:
            return super().features(images)
        names = [features_output(k) for k in FEATURES]
        out = self.features_runner.run({"images": np.asarray(images, np.float32)},
                                       outputs=[n for n in names
                                                if n in self.features_runner.outputs])
        return {k: out[features_output(k)] for k in FEATURES if features_output(k) in out}

    def run_branch(self, name: str, crops: List[np.ndarray]) -> np.ndarray:
        feeds = dict(zip(crop_names(name, len(crops) - 1), crops))
        return self.branch_runner.run(feeds, outputs=[logits_name(name)])[logits_name(name)]

    def device_memory_mb(self):
        from ...tensorrt.cuda import gpu_memory_used_mb

        return gpu_memory_used_mb()
