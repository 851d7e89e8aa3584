"""Pasting per-detection mask logits into full-resolution image masks (OpenCV).

As detectron2's ``paste_masks_in_image``: every mask is resized only over its own region and
written straight into one preallocated ``[K, H, W]`` array, so a frame costs one allocation
whatever the number of people.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from ..core.boxes import window_pixels


def paste_into(out: np.ndarray, logits: np.ndarray, window: Sequence[float],
               threshold: float = 0.0, limit: Optional[Sequence[float]] = None) -> np.ndarray:
    """Resize one mask's logits onto its window of ``out`` (bool [H, W]) and binarize there.

    The logits cover the detection's encompassing window; bilinear upsampling to the window's
    size in the image is the thesis' final upsampling (done here, after the 1x1 scoring conv,
    which is equivalent and far cheaper than inside the graph). Pixels outside the window are
    left as they are.

    Args:
        out: bool [H, W], written in place.
        logits: float [s, t] mask logits over the window.
        window: (ymin, xmin, ymax, xmax) normalized to the image; all zeros means no mask.
        threshold: logit above which a pixel is foreground (thesis: 0.0).
        limit: optional normalized yxyx region outside which the mask stays empty (see
            :func:`mask_limits`); the window is pasted whole when None (thesis).

    Returns:
        ``out``.
    """
    height, width = out.shape
    top, left, bottom, right = window_pixels(window, (height, width))
    if bottom <= top or right <= left:
        return out
    resized = cv2.resize(np.ascontiguousarray(logits, dtype=np.float32),
                         (right - left, bottom - top), interpolation=cv2.INTER_LINEAR)
    # The window may reach past the image only by rounding; clip to be safe.
    t, l = max(top, 0), max(left, 0)
    b, r = min(bottom, height), min(right, width)
    if limit is not None:
        lt, ll, lb, lr = window_pixels(limit, (height, width))
        t, l, b, r = max(t, lt), max(l, ll), min(b, lb), min(r, lr)
        if b <= t or r <= l:
            return out
    out[t:b, l:r] = resized[t - top:b - top, l - left:r - left] > threshold
    return out


def mask_limits(boxes: np.ndarray, margin: Optional[float]) -> Optional[np.ndarray]:
    """The regions masks are limited to: each box grown by ``margin`` of its height and width.

    The encompassing window is up to a cell wider than the box on each side, and the branches
    spill there (onto neighbours, background); the detector's box is the better-placed edge.

    Args:
        boxes: float [K, 4] normalized yxyx detection boxes.
        margin: fraction of the box's size added on each side; None: no limit.

    Returns:
        float [K, 4] normalized yxyx regions, or None.
    """
    if margin is None:
        return None
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    grow = np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, axis=1) * float(margin)
    return boxes + grow * np.array([-1, -1, 1, 1], dtype=np.float32)


def paste_mask(logits: np.ndarray, window: Sequence[float], image_size: Tuple[int, int],
               threshold: float = 0.0, limit: Optional[Sequence[float]] = None) -> np.ndarray:
    """One mask as a new bool [H, W] array (see :func:`paste_into`)."""
    return paste_into(np.zeros(tuple(image_size), dtype=bool), logits, window, threshold, limit)


def paste_masks(logits: Sequence[np.ndarray], windows: np.ndarray,
                image_size: Tuple[int, int], threshold: float = 0.0,
                limits: Optional[np.ndarray] = None) -> np.ndarray:
    """Every detection's mask into one bool [K, H, W] array (see :func:`paste_into`).

    Args:
        logits: K float [s, t] arrays (or one [K, S, S] array).
        windows: float [K, 4] normalized windows, all zeros where a detection has no mask.
        image_size: (H, W).
        threshold: the mask logit threshold.
        limits: optional float [K, 4] normalized regions each mask is limited to
            (:func:`mask_limits`).
    """
    out = np.zeros((len(windows), int(image_size[0]), int(image_size[1])), dtype=bool)
    for i in range(len(windows)):
        paste_into(out[i], logits[i], windows[i], threshold,
                   None if limits is None else limits[i])
    return out
