"""TF-free deployment runtime: ``Segmenter`` over Keras, LiteRT, ONNX Runtime and TensorRT.

Importing this package never imports TensorFlow; only the Keras backend does, when chosen.
"""

from .backends import BACKENDS, Backend, BackendError, infer_backend, load_backend
from .image_io import ImageError, model_input, read_image, to_bgr
from .paste import paste_mask
from .result import Segmentation
from .segmenter import Segmenter

__all__ = ["Segmenter", "Segmentation", "Backend", "BackendError", "BACKENDS", "ImageError",
           "infer_backend", "load_backend", "model_input", "paste_mask", "read_image", "to_bgr"]
