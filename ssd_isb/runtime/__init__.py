"""TF-free deployment runtime: ``Segmenter`` over Keras, LiteRT, ONNX Runtime and TensorRT.

Importing this package never imports TensorFlow; only the Keras backend does, when chosen.
Its names load on first use, so a light helper such as :mod:`ssd_isb.core.boxes` can be
imported without OpenCV or a backend library.
"""

import importlib

_EXPORTS = {
    "Segmenter": "segmenter", "Segmentation": "result", "SegmenterBase": "protocol",
    "Backend": "backends", "BackendError": "backends", "BACKENDS": "backends",
    "infer_backend": "backends", "load_backend": "backends",
    "ImageError": "image_io", "model_input": "image_io", "read_image": "image_io",
    "to_bgr": "image_io", "paste_mask": "paste", "paste_masks": "paste",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
