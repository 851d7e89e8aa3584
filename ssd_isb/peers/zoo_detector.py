"""The TF model zoo's SSD-MobileNet TFLite detector as a box-only peer: what detection alone
costs, against which the branches' extra time is read."""

from __future__ import annotations

import time
from typing import Dict, Optional

import cv2
import numpy as np

from ..runtime.image_io import ImageLike, read_image, to_bgr
from ..runtime.result import Segmentation
from ..runtime.tf_zoo_detector import TFZooDetector
from .yolov8_seg import tflite_parameter_count

COCO_PERSON = 1


class ZooBoxDetector:
    """``detect.tflite`` (uint8, ``TFLite_Detection_PostProcess``), person boxes, no masks.

    Args:
        path: the ``.tflite`` file.
        threads: LiteRT threads.
        score_threshold: detections below are dropped.
    """

    name = "tflite"
    class_names = ["person"]
    quantization = "uint8"

    def __init__(self, path: str, threads: Optional[int] = None, score_threshold: float = 0.5):
        self.path = path
        self.detector = TFZooDetector(path, threads=threads)
        self.score_threshold = float(score_threshold)
        self.params = tflite_parameter_count(self.detector.interpreter)
        self.last_timings: Dict[str, float] = {}

    @property
    def input_size(self):
        return self.detector.input_size

    def __call__(self, image: ImageLike) -> Segmentation:
        return self.segment(image)

    def segment(self, image: ImageLike) -> Segmentation:
        """Person boxes of one BGR image (or image file); ``has_mask`` is all False."""
        t0 = time.perf_counter()
        bgr = to_bgr(image) if isinstance(image, np.ndarray) else read_image(image)
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        t1 = time.perf_counter()
        boxes, classes, scores = self.detector.detect(rgb)  # resizes inside
        t2 = time.perf_counter()
        keep = (classes == COCO_PERSON) & (scores >= self.score_threshold)
        height, width = bgr.shape[:2]
        scale = np.array([width, height, width, height], np.float32)
        xyxy = boxes[keep][:, [1, 0, 3, 2]].astype(np.float32) * scale
        n = int(keep.sum())
        result = Segmentation(boxes=xyxy, scores=scores[keep].astype(np.float32),
                              class_ids=np.ones((n,), np.int32),
                              masks=np.zeros((n, height, width), bool),
                              has_mask=np.zeros((n,), bool), image_size=(height, width),
                              class_names=list(self.class_names))
        t3 = time.perf_counter()
        self.last_timings = {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3,
                             "postprocess": (t3 - t2) * 1e3, "total": (t3 - t0) * 1e3}
        return result
