"""The backend interface."""

from __future__ import annotations

import abc
from typing import Dict, List, Optional

import numpy as np

from ...utils.errors import SSDISBError
from ...core.metadata import ModelMetadata, read_sidecar


class BackendError(SSDISBError, RuntimeError):
    """A model cannot be opened or run by a backend; the message names the file."""


class Backend(abc.ABC):
    """Runs one model file.

    A single-graph model runs with :meth:`run`; a two-stage model (``meta.two_stage``) with
    :meth:`detect` and :meth:`run_branch` (:mod:`ssd_isb.core.stages`).

    Args:
        path: model file.
        meta: its metadata (read from the sidecar when None).
        threads: CPU threads for inference (None: the library's default).
    """

    name = "base"

    def __init__(self, path: str, meta: Optional[ModelMetadata] = None,
                 threads: Optional[int] = None):
        self.path = path
        self.threads = threads
        self.meta = meta or self.read_metadata(path)

    def read_metadata(self, path: str) -> ModelMetadata:
        """The sidecar beside the model (backends may derive it from the model instead)."""
        return read_sidecar(path)

    @property
    def two_stage(self) -> bool:
        """Whether this model is the two-stage graph."""
        return self.meta.two_stage

    def run(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        """Single graph: RGB float32 [1, H, W, 3] in [0, 255] -> the six named outputs."""
        raise BackendError(f"{self.path}: a two-stage model runs with detect() and "
                           f"run_branch(), not run()")

    def detect(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        """Two-stage: the image -> detections (``boxes scores classes count``, padded) and the
        feature maps the branches crop (``stride32`` ...), batch 1."""
        raise BackendError(f"{self.path}: not a two-stage model (export it with --graph "
                           f"two_stage)")

    def run_branch(self, name: str, crops: List[np.ndarray]) -> np.ndarray:
        """Two-stage: one branch on K crops (one array per map it reads) -> logits
        [K, h', w', classes]."""
        raise BackendError(f"{self.path}: not a two-stage model")

    @property
    def has_features(self) -> bool:
        """Whether the model has a features stage (:meth:`features`)."""
        return bool(self.meta.features_stage)

    def features(self, images: np.ndarray) -> Dict[str, np.ndarray]:
        """Two-stage with a features stage: RGB float32 [B, H, W, 3] (H, W multiples of 32)
        -> the maps the branches crop, ``stride32`` ... [B, h, w, C] each, and nothing else."""
        raise BackendError(f"{self.path}: no features stage (exported before it existed: "
                           f"export the model again)")

    def check_outputs(self, outputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Raise if an output head is missing (e.g. a model exported without masks)."""
        missing = [n for n in self.meta.output_names if n not in outputs]
        if missing:
            raise BackendError(f"{self.path}: model lacks output(s) {', '.join(missing)}")
        return outputs

    def activation_bytes(self) -> Optional[int]:
        """Upper bound of the activation memory, where the backend can tell (TFLite)."""
        return None

    def device_memory_mb(self) -> Optional[float]:
        """Accelerator memory in use, where the backend runs on one (TensorRT)."""
        return None

    def io_lines(self) -> List[str]:
        """One line per model input and output: name, shape, dtype (logged after export)."""
        return []
