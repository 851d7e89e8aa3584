"""TensorRT engine building and execution (TF-free; ``tensorrt`` and CUDA bindings optional).

Everything here imports without TensorRT; only the functions that need it import it, so the
calibration batching, the calibration cache and the engine sidecar are usable and tested on any
machine, and the engine itself is built on the device that will run it.
"""

from .batcher import ImageBatcher
from .calibrator import CalibratorCore, make_entropy_calibrator
from .metadata import engine_metadata

__all__ = ["CalibratorCore", "ImageBatcher", "engine_metadata", "make_entropy_calibrator",
           "tensorrt_available"]


def tensorrt_available() -> bool:
    """Whether the ``tensorrt`` Python package imports here."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return True
