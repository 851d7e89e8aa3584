"""``Segmenter``: a model file in, per-person boxes, scores and full-resolution masks out."""

from __future__ import annotations

import time
from typing import Dict, Optional

import numpy as np

from .backends import load_backend
from .image_io import ImageLike, model_input, read_image, to_bgr
from .paste import paste_mask
from .result import Segmentation


class Segmenter:
    """Segment the people in images with any exported SSD-ISB model.

    Args:
        model: ``.keras``, ``.tflite``, ``.onnx`` or ``.engine`` file (with its ``.json`` sidecar).
        backend: backend name; inferred from the file extension when None.
        threads: CPU threads for the backend.
        score_threshold: detections below this score are dropped.
        mask_threshold: mask logit threshold (default: the model's, 0.0 as in the thesis).

    Example:
        >>> seg = Segmenter("model.tflite")
        >>> result = seg(cv2.imread("people.jpg"))   # BGR, any size
        >>> result.masks.shape                        # (K, H, W) bool
    """

    def __init__(self, model: str, backend: Optional[str] = None, threads: Optional[int] = None,
                 score_threshold: float = 0.5, mask_threshold: Optional[float] = None):
        self.backend = load_backend(model, backend, threads)
        self.meta = self.backend.meta
        self.score_threshold = float(score_threshold)
        self.mask_threshold = (self.meta.mask_threshold_logit if mask_threshold is None
                               else float(mask_threshold))
        self.last_timings: Dict[str, float] = {}

    @property
    def class_names(self):
        """The model's class names."""
        return list(self.meta.class_names)

    @property
    def input_size(self):
        """(h, w) of the model input."""
        return tuple(self.meta.input_size)

    def __call__(self, image: ImageLike, color: str = "bgr") -> Segmentation:
        return self.segment(image, color)

    def segment(self, image: ImageLike, color: str = "bgr") -> Segmentation:
        """Segment one image.

        Args:
            image: a file path, or an array: BGR (default) or RGB per ``color``, uint8 or float,
                H x W, H x W x 1/3/4.
            color: "bgr" (OpenCV) or "rgb".

        Returns:
            A :class:`Segmentation`; ``last_timings`` holds the preprocess / inference /
            postprocess milliseconds of this call.
        """
        t0 = time.perf_counter()
        if isinstance(image, np.ndarray):
            bgr = to_bgr(image)
            if color.lower() == "rgb":
                bgr = np.ascontiguousarray(bgr[:, :, ::-1])
            elif color.lower() != "bgr":
                raise ValueError(f"color must be 'bgr' or 'rgb', got {color!r}")
        else:
            bgr = read_image(image)
        x = model_input(bgr, self.input_size)
        t1 = time.perf_counter()
        raw = self.backend.run(x)
        t2 = time.perf_counter()
        result = self.postprocess(raw, bgr.shape[:2])
        t3 = time.perf_counter()
        self.last_timings = {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3,
                             "postprocess": (t3 - t2) * 1e3, "total": (t3 - t0) * 1e3}
        return result

    def postprocess(self, raw: Dict[str, np.ndarray], image_size) -> Segmentation:
        """Raw model outputs -> a :class:`Segmentation` for an image of ``image_size`` (H, W)."""
        return decode_outputs(raw, image_size, self.meta.class_names, self.score_threshold,
                              self.mask_threshold)


def decode_outputs(raw: Dict[str, np.ndarray], image_size, class_names,
                   score_threshold: float = 0.5, mask_threshold: float = 0.0) -> Segmentation:
    """Raw model outputs (the six heads) -> a :class:`Segmentation` at ``image_size`` (H, W)."""
    height, width = int(image_size[0]), int(image_size[1])
    count = int(np.asarray(raw["count"]).reshape(-1)[0])
    scores = np.asarray(raw["scores"], dtype=np.float32).reshape(-1)[:count]
    keep = np.nonzero(scores >= score_threshold)[0]
    boxes = np.asarray(raw["boxes"], dtype=np.float32).reshape(-1, 4)[keep]
    logits = np.asarray(raw["masks"], dtype=np.float32)
    logits = logits.reshape((-1,) + logits.shape[-2:])[keep]
    windows = np.asarray(raw["mask_windows"], dtype=np.float32).reshape(-1, 4)[keep]
    classes = np.asarray(raw["classes"]).reshape(-1)[keep].astype(np.int32)
    scale = np.array([width, height, width, height], dtype=np.float32)
    xyxy = boxes[:, [1, 0, 3, 2]] * scale
    masks = np.zeros((len(keep), height, width), dtype=bool)
    for i in range(len(keep)):
        masks[i] = paste_mask(logits[i], windows[i], (height, width), mask_threshold)
    has_mask = (windows[:, 2] > windows[:, 0]) & (windows[:, 3] > windows[:, 1])
    return Segmentation(boxes=xyxy, scores=scores[keep], class_ids=classes, masks=masks,
                        has_mask=has_mask, image_size=(height, width),
                        class_names=list(class_names))
