"""The TF model zoo's COCO SSD-MobileNet TFLite detector, run as its authors ship it (TF-free).

Used as the reference the imported Keras detector is checked against, and as a speed peer.
"""

from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np

from .tflite import open_interpreter


class TFZooDetector:
    """``detect.tflite`` from the TFLite object detection example (uint8 in, 10 detections out).

    Args:
        path: the ``.tflite`` file.
        threads: LiteRT threads.
    """

    def __init__(self, path: str, threads: Optional[int] = None):
        self.interpreter = open_interpreter(path, threads=threads)
        self.input = self.interpreter.get_input_details()[0]
        self.outputs = self.interpreter.get_output_details()
        self.input_size = tuple(int(s) for s in self.input["shape"][1:3])

    def detect(self, image_rgb: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """RGB uint8 image of any size -> (boxes [K, 4] normalized ymin, xmin, ymax, xmax,
        COCO category ids [K] (person = 1), scores [K])."""
        return self.run(self.prepare(image_rgb))

    def prepare(self, image: np.ndarray, color: str = "rgb") -> np.ndarray:
        """uint8 image of any size (``color`` order) -> the RGB uint8 [1, h, w, 3] input."""
        h, w = self.input_size
        x = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
        if color == "bgr":
            x = cv2.cvtColor(x, cv2.COLOR_BGR2RGB)
        return x[None].astype(np.uint8)

    def run(self, x: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The prepared input -> (boxes, COCO category ids, scores), as :meth:`detect`."""
        self.interpreter.set_tensor(self.input["index"], x)
        self.interpreter.invoke()
        boxes, classes, scores, count = (self.interpreter.get_tensor(o["index"])
                                         for o in self.outputs)
        n = int(count.reshape(-1)[0])
        # The post-process op numbers classes from 0 without background: +1 is the COCO id.
        return boxes[0, :n], classes[0, :n].astype(np.int32) + 1, scores[0, :n]
