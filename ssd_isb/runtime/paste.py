"""Pasting per-detection mask logits into full-resolution image masks (OpenCV)."""

from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np


def paste_mask(logits: np.ndarray, window: np.ndarray, image_size: Tuple[int, int],
               threshold: float = 0.0) -> np.ndarray:
    """Resize one mask's logits onto its window of the image and binarize.

    The logits cover the detection's encompassing window; bilinear upsampling to the window's
    size in the image is the thesis' final upsampling (done here, after the 1x1 scoring conv,
    which is equivalent and far cheaper than inside the graph).

    Args:
        logits: float [S, S] mask logits.
        window: (ymin, xmin, ymax, xmax) normalized to the image; all zeros means no mask.
        image_size: (H, W) of the output mask.
        threshold: logit above which a pixel is foreground (thesis: 0.0).

    Returns:
        bool [H, W].
    """
    height, width = image_size
    out = np.zeros((height, width), dtype=bool)
    y0, x0, y1, x1 = (float(v) for v in window)
    if y1 <= y0 or x1 <= x0:
        return out
    top, left = int(round(y0 * height)), int(round(x0 * width))
    bottom, right = int(round(y1 * height)), int(round(x1 * width))
    if bottom <= top or right <= left:
        return out
    resized = cv2.resize(np.ascontiguousarray(logits, dtype=np.float32),
                         (right - left, bottom - top), interpolation=cv2.INTER_LINEAR)
    # The window may reach past the image only by rounding; clip to be safe.
    t, l = max(top, 0), max(left, 0)
    b, r = min(bottom, height), min(right, width)
    out[t:b, l:r] = resized[t - top:b - top, l - left:r - left] > threshold
    return out
