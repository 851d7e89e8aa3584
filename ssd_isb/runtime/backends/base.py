"""The backend interface."""

from __future__ import annotations

import abc
from typing import Dict, List, Optional

import numpy as np

from ...errors import SSDISBError
from ...metadata import OUTPUT_NAMES, ModelMetadata, read_sidecar


class BackendError(SSDISBError, RuntimeError):
    """A model cannot be opened or run by a backend; the message names the file."""


class Backend(abc.ABC):
    """Runs one model file.

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

    @abc.abstractmethod
    def run(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        """RGB float32 [1, H, W, 3] in [0, 255] -> the named outputs as numpy arrays."""

    def check_outputs(self, outputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Raise if an output head is missing (e.g. a model exported without masks)."""
        missing = [n for n in OUTPUT_NAMES if n not in outputs]
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
