"""``SegmenterBase``: what every segmenter is to the rest of the package (TF-free).

SSD-ISB models (:class:`~ssd_isb.runtime.Segmenter`) and the peers of the benchmarks
(:mod:`ssd_isb.peers`) run the same four steps: read the image, preprocess it to the model
input, infer, decode to a :class:`~ssd_isb.runtime.Segmentation`. The base class owns the
skeleton and the per-stage ``last_timings``, so prediction, evaluation, benchmarks and memory
measurement treat every model alike and never guess at attributes.
"""

from __future__ import annotations

import abc
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .image_io import ImageError, ImageLike, read_image, to_bgr
from .result import Segmentation

STAGES = ("preprocess", "inference", "postprocess", "total")


class SegmenterBase(abc.ABC):
    """An image in, a :class:`Segmentation` out, with per-stage timings.

    Subclasses set the attributes below in ``__init__`` and implement :meth:`preprocess`,
    :meth:`infer` and :meth:`decode`.

    Attributes:
        name: the runtime that executes the model ("tflite", "onnx", "keras", "tensorrt").
        class_names: names of the classes it reports.
        params: parameter count (None when unknown).
        quantization: "none", "fp16", "int8" or "uint8".
        input_size: (h, w) of the model input.
        score_threshold: detections below this score are dropped.
        last_timings: milliseconds of the last call per stage (see :data:`STAGES`).
    """

    name: str = "unknown"
    class_names: List[str] = ["person"]
    params: Optional[int] = None
    quantization: str = "none"
    input_size: Tuple[int, int] = (0, 0)
    score_threshold: float = 0.5

    def __init__(self) -> None:
        self.last_timings: Dict[str, float] = {}

    def __call__(self, image: ImageLike, color: str = "bgr") -> Segmentation:
        return self.segment(image, color)

    def segment(self, image: ImageLike, color: str = "bgr") -> Segmentation:
        """Segment one image.

        Args:
            image: a file path, or an array: BGR (default) or RGB per ``color``, uint8 or float,
                H x W, H x W x 1/3/4.
            color: "bgr" (OpenCV) or "rgb".

        Returns:
            The :class:`Segmentation`; ``last_timings`` holds each stage's milliseconds.
        """
        t0 = time.perf_counter()
        pixels, order = self.read(image, color)
        model_in, context = self.preprocess(pixels, order)
        t1 = time.perf_counter()
        raw = self.infer(model_in)
        t2 = time.perf_counter()
        result = self.decode(raw, pixels.shape[:2], context)
        t3 = time.perf_counter()
        self.last_timings = {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3,
                             "postprocess": (t3 - t2) * 1e3, "total": (t3 - t0) * 1e3}
        return result

    @staticmethod
    def read(image: ImageLike, color: str = "bgr") -> Tuple[np.ndarray, str]:
        """A path or an array -> (uint8 [H, W, 3], its channel order "bgr" or "rgb").

        Arrays keep their order (no copy for uint8 3-channel input); files are read as BGR.

        Raises:
            ImageError: unreadable file, unusable array, or an unknown ``color``.
        """
        if image is None:
            raise ImageError("image is None (cv2.imread returns None for a file it cannot "
                             "read: check the path)")
        if not isinstance(image, np.ndarray):
            return read_image(image), "bgr"
        order = str(color).lower()
        if order not in ("bgr", "rgb"):
            raise ImageError(f"color must be 'bgr' or 'rgb', got {color!r}")
        pixels = to_bgr(image)  # normalizes dtype and channels; 3-channel order is kept
        if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
            order = "bgr"  # gray was expanded as BGR
        return pixels, order

    @abc.abstractmethod
    def preprocess(self, pixels: np.ndarray, color: str) -> Tuple[Any, Any]:
        """Image -> (model input, context the decoder needs, e.g. a letterbox offset)."""

    @abc.abstractmethod
    def infer(self, model_input: Any) -> Any:
        """Run the model on one preprocessed input; returns its raw outputs."""

    @abc.abstractmethod
    def decode(self, raw: Any, image_size: Tuple[int, int], context: Any) -> Segmentation:
        """Raw outputs -> a :class:`Segmentation` at ``image_size`` (H, W)."""
