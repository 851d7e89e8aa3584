"""The SSD-ISB Keras model (TensorFlow backend). Importing this package imports TensorFlow.

Importing it also registers the custom layers, so ``keras.saving.load_model(path)`` works with
``safe_mode`` on.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep CLI output readable

from .builder import (  # noqa: E402
    SSDISB, build_detection_model, build_detector, build_inference_model, build_model, build_training_model)
from .crops import crop_windows  # noqa: E402
from .isb import ISBBranch  # noqa: E402
from .mask_head import InstanceMasks, MaskHead  # noqa: E402
from .postprocess import DetectionPostprocess  # noqa: E402
from .serialization import load_model, save_model  # noqa: E402

__all__ = [
    "SSDISB", "build_detection_model", "build_detector", "build_inference_model", "build_model", "build_training_model",
    "crop_windows", "ISBBranch", "MaskHead", "InstanceMasks", "DetectionPostprocess",
    "load_model", "save_model",
]
