"""Overlay of instance masks, boxes and scores on an image (OpenCV, TF-free)."""

from __future__ import annotations

from typing import List, Optional, Tuple

import cv2
import numpy as np

from .result import Segmentation

FONT, SCALE, THICKNESS = cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1


def instance_color(i: int) -> tuple:
    """A distinct BGR colour per instance index (golden-angle hues)."""
    hue = int((i * 137.508) % 180)
    bgr = cv2.cvtColor(np.uint8([[[hue, 200, 255]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return tuple(int(c) for c in bgr)


def _overlaps(a: Tuple[int, int, int, int], b: Tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def label_places(boxes, labels: List[str], image_size) -> List[Optional[Tuple[int, int]]]:
    """Where each label's text goes (its bottom-left corner), or None to leave it out.

    Highest-scoring first (the order of ``boxes``): above the box, else inside its top, else
    below it, at the first place that overlaps no label already placed and stays in the
    image. In a crowd some labels are left out rather than drawn over each other; the box and
    mask colours still tell the instances apart.
    """
    height, width = image_size
    placed: List[Tuple[int, int, int, int]] = []
    out: List[Optional[Tuple[int, int]]] = []
    for box, text in zip(boxes, labels):
        (tw, th), base = cv2.getTextSize(text, FONT, SCALE, THICKNESS)
        x0, y0, _, y1 = (int(round(v)) for v in box)
        x = min(max(x0, 0), max(width - tw - 4, 0))
        chosen = None
        for y in (y0 - 4, y0 + th + 4, y1 + th + 4):  # above, inside the top, below
            rect = (x, y - th - 2, x + tw + 4, y + base + 2)
            if rect[1] >= 0 and rect[3] <= height and not any(_overlaps(rect, r)
                                                              for r in placed):
                chosen = (x + 2, y)
                placed.append(rect)
                break
        out.append(chosen)
    return out


def draw_segmentation(image_bgr: np.ndarray, result: Segmentation, alpha: float = 0.5,
                      boxes: bool = True, scores: bool = True) -> np.ndarray:
    """Blend each instance's mask in its own colour, draw its box and a label that overlaps no
    other label (see :func:`label_places`). A tracked result (``track_ids`` set) colours each
    person by its ID, the same from frame to frame, and labels it ``#ID``."""
    out = image_bgr.copy()
    ids = result.track_ids
    colors = [instance_color(int(ids[i]) if ids is not None else i) for i in range(len(result))]
    for i in range(len(result)):
        color = colors[i]
        mask = result.masks[i]
        if mask.any():
            out[mask] = (out[mask] * (1 - alpha) + np.array(color) * alpha).astype(np.uint8)
            contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                           cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(out, contours, -1, color, 1, cv2.LINE_AA)
        if boxes:
            x0, y0, x1, y1 = (int(round(v)) for v in result.boxes[i])
            cv2.rectangle(out, (x0, y0), (x1, y1), color, 2, cv2.LINE_AA)
    if scores and len(result):
        if ids is not None:
            texts = [f"#{int(t)} {s:.2f}" for t, s in zip(ids, result.scores)]
        else:
            texts = [f"{name} {s:.2f}" for name, s in zip(result.labels, result.scores)]
        for i, (text, place) in enumerate(zip(texts, label_places(result.boxes, texts,
                                                                  out.shape[:2]))):
            if place is None:
                continue
            (tw, th), base = cv2.getTextSize(text, FONT, SCALE, THICKNESS)
            x, y = place
            cv2.rectangle(out, (x - 2, y - th - 2), (x + tw + 2, y + base), (0, 0, 0), -1)
            cv2.putText(out, text, (x, y), FONT, SCALE, colors[i], THICKNESS,
                        cv2.LINE_AA)
    return out
