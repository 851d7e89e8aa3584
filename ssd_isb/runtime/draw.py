"""Overlay of instance masks, boxes and scores on an image (OpenCV, TF-free)."""

from __future__ import annotations

import cv2
import numpy as np

from .result import Segmentation


def instance_color(i: int) -> tuple:
    """A distinct BGR colour per instance index (golden-angle hues)."""
    hue = int((i * 137.508) % 180)
    bgr = cv2.cvtColor(np.uint8([[[hue, 200, 255]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return tuple(int(c) for c in bgr)


def draw_segmentation(image_bgr: np.ndarray, result: Segmentation, alpha: float = 0.5,
                      boxes: bool = True, scores: bool = True) -> np.ndarray:
    """Blend each instance's mask in its own colour and draw its box and score."""
    out = image_bgr.copy()
    for i in range(len(result)):
        color = instance_color(i)
        mask = result.masks[i]
        if mask.any():
            out[mask] = (out[mask] * (1 - alpha) + np.array(color) * alpha).astype(np.uint8)
            contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                           cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(out, contours, -1, color, 1, cv2.LINE_AA)
        x0, y0, x1, y1 = (int(round(v)) for v in result.boxes[i])
        if boxes:
            cv2.rectangle(out, (x0, y0), (x1, y1), color, 2, cv2.LINE_AA)
        if scores:
            label = f"{result.labels[i]} {result.scores[i]:.2f}"
            cv2.putText(out, label, (x0 + 2, max(y0 - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        color, 1, cv2.LINE_AA)
    return out
