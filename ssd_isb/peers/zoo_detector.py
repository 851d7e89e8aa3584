"""The TF model zoo's SSD-MobileNet TFLite detector as a box-only peer: what detection alone
costs, against which the branches' extra time is read."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..core.boxes import normalized_to_pixels
from ..runtime.protocol import SegmenterBase
from ..runtime.result import Segmentation
from ..runtime.tf_zoo_detector import TFZooDetector
from ..runtime.tflite import parameter_count

COCO_PERSON = 1


class ZooBoxDetector(SegmenterBase):
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
        super().__init__()
        self.path = path
        self.detector = TFZooDetector(path, threads=threads)
        self.score_threshold = float(score_threshold)
        self.params = parameter_count(self.detector.interpreter)
        self.input_size = self.detector.input_size

    def preprocess(self, pixels: np.ndarray, color: str):
        return self.detector.prepare(pixels, color), None

    def infer(self, x: np.ndarray):
        return self.detector.run(x)

    def decode(self, raw, image_size, context=None) -> Segmentation:
        """Person boxes; ``has_mask`` is all False."""
        boxes, classes, scores = raw
        keep = (classes == COCO_PERSON) & (scores >= self.score_threshold)
        height, width = image_size
        n = int(keep.sum())
        return Segmentation(boxes=normalized_to_pixels(boxes[keep], image_size),
                            scores=scores[keep].astype(np.float32),
                            class_ids=np.ones((n,), np.int32),
                            masks=np.zeros((n, height, width), bool),
                            has_mask=np.zeros((n,), bool), image_size=(height, width),
                            class_names=list(self.class_names))
