"""Ultralytics YOLOv8-seg exported to TFLite, decoded as Ultralytics does (letterbox, NMS,
prototype masks), for comparison only (the weights are AGPL-3.0: never shipped or copied)."""

from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np

from ..runtime.backends.base import BackendError
from ..runtime.boxes import center_xywh_to_xyxy
from ..runtime.protocol import SegmenterBase
from ..runtime.result import Segmentation
from ..runtime.tflite import dequantize, open_interpreter, parameter_count, quantize

PAD_VALUE = 114  # Ultralytics' letterbox grey
PERSON = 0  # COCO-80 index of person in Ultralytics' class order


def letterbox(image: np.ndarray, size: int, color: str = "bgr"
              ) -> Tuple[np.ndarray, float, Tuple[int, int]]:
    """Resize keeping the aspect ratio and pad to ``size`` x ``size`` with grey, centred.

    Args:
        image: uint8 [H, W, 3] in ``color`` order ("bgr" or "rgb").

    Returns:
        (RGB uint8 [size, size, 3], scale, (pad_top, pad_left)).
    """
    h, w = image.shape[:2]
    scale = min(size / h, size / w)
    nh, nw = int(round(h * scale)), int(round(w * scale))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, left = (size - nh) // 2, (size - nw) // 2
    out = cv2.copyMakeBorder(resized, top, size - nh - top, left, size - nw - left,
                             cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return (cv2.cvtColor(out, cv2.COLOR_BGR2RGB) if color == "bgr" else out), scale, (top, left)


class YoloV8Seg(SegmenterBase):
    """YOLOv8-seg TFLite (``[1,116,N]`` boxes+scores+coefficients, ``[1,160,160,32]``
    prototypes), person class only.

    Args:
        path: the ``.tflite`` file (float or int8 I/O).
        threads: LiteRT threads.
        score_threshold: Ultralytics' ``conf`` (0.25 for prediction, 0.001 for validation).
        iou_threshold: Ultralytics' NMS IoU (0.7).
        max_detections: Ultralytics' ``max_det`` (300).
    """

    name = "tflite"
    class_names = ["person"]

    def __init__(self, path: str, threads: Optional[int] = None, score_threshold: float = 0.25,
                 iou_threshold: float = 0.7, max_detections: int = 300):
        super().__init__()
        self.path = path
        self.interpreter = open_interpreter(path, threads=threads)
        self.input = self.interpreter.get_input_details()[0]
        outs = self.interpreter.get_output_details()
        protos = [d for d in outs if len(d["shape"]) == 4]
        preds = [d for d in outs if len(d["shape"]) == 3]
        if len(protos) != 1 or len(preds) != 1:
            raise BackendError(f"{path}: not a YOLOv8-seg export (outputs "
                               f"{[tuple(d['shape']) for d in outs]})")
        self.pred, self.protos = preds[0], protos[0]
        self.size = int(self.input["shape"][1])
        self.num_coefficients = int(self.protos["shape"][-1])
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.max_detections = int(max_detections)
        self.params = parameter_count(self.interpreter)
        self.quantization = "int8" if self.input["dtype"] == np.int8 else "none"
        self.input_size = (self.size, self.size)

    def _output(self, detail) -> np.ndarray:
        value = self.interpreter.get_tensor(detail["index"])
        return np.asarray(dequantize(value, detail), np.float32)

    def preprocess(self, pixels: np.ndarray, color: str):
        rgb, scale, pad = letterbox(pixels, self.size, color)
        return quantize(rgb.astype(np.float32)[None] / 255.0, self.input), (scale, pad)

    def infer(self, x: np.ndarray):
        self.interpreter.set_tensor(self.input["index"], x)
        self.interpreter.invoke()
        # [4 + classes + coefficients, N] and [160, 160, C]
        return self._output(self.pred)[0], self._output(self.protos)[0]

    def decode(self, raw, image_size, context) -> Segmentation:
        (pred, protos), (scale, pad) = raw, context
        height, width = image_size
        nc = pred.shape[0] - 4 - self.num_coefficients
        scores = pred[4 + PERSON]
        keep = np.nonzero(scores > self.score_threshold)[0]
        centre = pred[:4, keep].T
        if centre.size and float(np.max(pred[:4])) <= 2.0:  # normalized export: to pixels
            centre = centre * self.size
        xyxy = center_xywh_to_xyxy(centre)
        order = np.zeros((0,), np.int64)
        if keep.size:
            # OpenCV's NMS takes (x, y, w, h) boxes.
            xywh = np.concatenate([xyxy[:, :2], centre[:, 2:]], axis=1)
            idx = cv2.dnn.NMSBoxes(xywh.tolist(), scores[keep].tolist(), self.score_threshold,
                                   self.iou_threshold, top_k=self.max_detections)
            order = np.asarray(idx, np.int64).reshape(-1)[:self.max_detections]
        boxes_lb = xyxy[order]
        coefs = pred[4 + nc:, keep][:, order].T  # [K, C]
        top, left = pad
        offset = np.array([left, top, left, top], np.float32)
        boxes = (boxes_lb - offset) / scale
        boxes = np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)
        masks = np.zeros((len(order), height, width), dtype=bool)
        if len(order):
            masks = self._masks(coefs, protos, boxes, (height, width), scale, pad)
        n = len(order)
        return Segmentation(boxes=boxes, scores=scores[keep][order].astype(np.float32),
                            class_ids=np.ones((n,), np.int32), masks=masks,
                            has_mask=np.ones((n,), bool), image_size=(height, width),
                            class_names=list(self.class_names))

    def _masks(self, coefs, protos, boxes, image_size, scale, pad) -> np.ndarray:
        """Prototype masks (coefficients x prototypes), each kept inside its box and brought
        to the image bilinearly, foreground where the logit is above 0 (Ultralytics'
        ``process_mask``: crop to the box, upsample, threshold; sigmoid > 0.5 is logit > 0).

        Only each box's own pixels are resampled (one affine warp per box from the prototype
        grid), so the cost follows the boxes, not the image size.
        """
        height, width = image_size
        ph, pw, nc = protos.shape
        stride = self.size / ph
        logits = (coefs @ protos.reshape(-1, nc).T).reshape(-1, ph, pw).astype(np.float32)
        masks = np.zeros((len(coefs), height, width), dtype=bool)
        top, left = pad
        a = scale / stride  # prototype cells per image pixel
        for i, (x0, y0, x1, y1) in enumerate(boxes):
            c0, r0 = int(np.floor(x0)), int(np.floor(y0))
            c1, r1 = int(np.ceil(x1)), int(np.ceil(y1))
            if c1 <= c0 or r1 <= r0:
                continue
            # Image pixel centre (c + 0.5) -> letterbox (c + 0.5) * scale + pad -> prototype
            # cell coordinate / stride - 0.5 (cell centres).
            bx = ((c0 + 0.5) * scale + left) / stride - 0.5
            by = ((r0 + 0.5) * scale + top) / stride - 0.5
            warp = np.array([[a, 0.0, bx], [0.0, a, by]], np.float32)
            roi = cv2.warpAffine(logits[i], warp, (c1 - c0, r1 - r0),
                                 flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                 borderMode=cv2.BORDER_REPLICATE)
            masks[i, r0:r1, c0:c1] = roi > 0.0
        return masks
