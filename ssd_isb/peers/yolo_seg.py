"""Ultralytics YOLO-seg TFLite exports (YOLOv8n-seg, YOLO11n-seg), decoded as Ultralytics does
(letterbox, NMS, prototype masks), for comparison only (the weights are AGPL-3.0: never shipped
or copied). The two heads differ only in how detections come out: YOLOv8's raw
``[1, 4 + classes + 32, N]`` grid needs NMS here, YOLO11's export runs NMS in the graph and
gives ``[1, 300, 38]`` (x1, y1, x2, y2 normalized, score, class, 32 coefficients)."""

from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np

from ..runtime.backends.base import BackendError
from ..core.boxes import center_xywh_to_xyxy
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


class YoloSeg(SegmenterBase):
    """A YOLO-seg TFLite file: a detections output and ``[1, 160, 160, 32]`` prototypes;
    person class only. Subclasses read the detections (:meth:`detections`).

    Args:
        path: the ``.tflite`` file (float or int8 I/O).
        threads: LiteRT threads.
        score_threshold: Ultralytics' ``conf`` (0.25 for prediction, 0.001 for validation).
        iou_threshold: Ultralytics' NMS IoU (0.7).
        max_detections: Ultralytics' ``max_det`` (300).
    """

    name = "tflite"
    class_names = ["person"]
    model_name = "YOLO-seg"

    def __init__(self, path: str, threads: Optional[int] = None, score_threshold: float = 0.25,
                 iou_threshold: float = 0.7, max_detections: int = 300):
        super().__init__()
        self.path = path
        self.interpreter = open_interpreter(path, threads=threads)
        self.input = self.interpreter.get_input_details()[0]
        outs = self.interpreter.get_output_details()
        protos = [d for d in outs if len(d["shape"]) == 4]
        preds = [d for d in outs if len(d["shape"]) == 3]
        if len(protos) != 1 or len(preds) != 1 or not self.accepts(preds[0]["shape"]):
            raise BackendError(f"{path}: not a {self.model_name} export (outputs "
                               f"{[tuple(int(v) for v in d['shape']) for d in outs]})")
        self.pred, self.protos = preds[0], protos[0]
        self.size = int(self.input["shape"][1])
        self.num_coefficients = int(self.protos["shape"][-1])
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.max_detections = int(max_detections)
        self.params = parameter_count(self.interpreter)
        int8 = any(t["dtype"] == np.int8 for t in self.interpreter.get_tensor_details())
        self.quantization = "int8" if int8 else "none"
        self.input_size = (self.size, self.size)

    @staticmethod
    def accepts(shape) -> bool:
        """Whether a detections output of this shape is this head's."""
        return True

    def _output(self, detail) -> np.ndarray:
        value = self.interpreter.get_tensor(detail["index"])
        return np.asarray(dequantize(value, detail), np.float32)

    def preprocess(self, pixels: np.ndarray, color: str):
        rgb, scale, pad = letterbox(pixels, self.size, color)
        return quantize(rgb.astype(np.float32)[None] / 255.0, self.input), (scale, pad)

    def infer(self, x: np.ndarray):
        self.interpreter.set_tensor(self.input["index"], x)
        self.interpreter.invoke()
        return self._output(self.pred)[0], self._output(self.protos)[0]

    def detections(self, pred: np.ndarray):
        """Person detections of the head: (xyxy [K, 4] in letterbox pixels, scores [K],
        coefficients [K, C]), best first."""
        raise NotImplementedError

    def decode(self, raw, image_size, context) -> Segmentation:
        (pred, protos), (scale, pad) = raw, context
        height, width = image_size
        boxes_lb, scores, coefs = self.detections(pred)
        top, left = pad
        offset = np.array([left, top, left, top], np.float32)
        boxes = (boxes_lb - offset) / scale
        boxes = np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)
        n = len(boxes)
        masks = np.zeros((n, height, width), dtype=bool)
        if n:
            masks = self._masks(coefs, protos, boxes, (height, width), scale, pad)
        return Segmentation(boxes=boxes, scores=scores.astype(np.float32),
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


class YoloV8Seg(YoloSeg):
    """YOLOv8-seg: ``[1, 4 + classes + 32, N]`` (cx, cy, w, h, class scores, coefficients);
    class-agnostic NMS here, as Ultralytics' ``non_max_suppression``."""

    model_name = "YOLOv8-seg"

    @staticmethod
    def accepts(shape) -> bool:
        return int(shape[1]) < int(shape[2])  # channels first, thousands of candidates

    def detections(self, pred: np.ndarray):
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
        return xyxy[order], scores[keep][order], pred[4 + nc:, keep][:, order].T


class Yolo11Seg(YoloSeg):
    """YOLO11-seg exported with NMS in the graph: ``[1, 300, 38]`` rows of (x1, y1, x2, y2
    normalized to the letterboxed input, score, class, 32 coefficients), best first."""

    model_name = "YOLO11-seg (NMS in graph)"

    @staticmethod
    def accepts(shape) -> bool:
        return int(shape[1]) > int(shape[2])  # one row per detection

    def detections(self, pred: np.ndarray):
        keep = (pred[:, 5].round() == PERSON) & (pred[:, 4] > self.score_threshold)
        rows = pred[keep][:self.max_detections]
        xyxy = rows[:, :4] * self.size
        return xyxy, rows[:, 4], rows[:, 6:6 + self.num_coefficients]
