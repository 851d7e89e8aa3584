"""Box formats and their converters, named once (numpy; the graph passes ``xp``).

The package meets five formats; each function says which it takes and gives:

* **anchors**: (y_center, x_center, height, width), normalized to the input;
* **normalized yxyx**: (ymin, xmin, ymax, xmax) in [0, 1]: model outputs, training targets;
* **cell windows**: (y0, x0, h, w) in whole stride-32 cells: encompassing windows;
* **pixel xyxy**: (x0, y0, x1, y1) in pixels of the image: :class:`Segmentation`, datasets;
* **COCO xywh**: (x, y, width, height) in pixels: annotation and result ``bbox``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of corner boxes a [N, 4] and b [M, 4] (any consistent corner order) -> [N, M]."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=-1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=-1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def center_to_corners(anchors: np.ndarray) -> np.ndarray:
    """Anchors (yc, xc, h, w) -> normalized yxyx."""
    yc, xc, h, w = np.moveaxis(anchors, -1, 0)
    return np.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], axis=-1)


def swap_xy(boxes: np.ndarray) -> np.ndarray:
    """yxyx <-> xyxy (the same permutation both ways)."""
    return np.asarray(boxes)[..., [1, 0, 3, 2]]


def normalized_to_pixels(yxyx: np.ndarray, image_size: Sequence[int]) -> np.ndarray:
    """Normalized yxyx -> pixel xyxy float32 for an image of (H, W)."""
    h, w = float(image_size[0]), float(image_size[1])
    return (swap_xy(yxyx) * np.array([w, h, w, h], np.float32)).astype(np.float32)


def pixels_to_normalized(xyxy: np.ndarray, image_size: Sequence[int]) -> np.ndarray:
    """Pixel xyxy -> normalized yxyx float32 for an image of (H, W)."""
    h, w = float(image_size[0]), float(image_size[1])
    return swap_xy(np.asarray(xyxy, np.float32) / np.array([w, h, w, h], np.float32))


def xyxy_to_xywh(xyxy: np.ndarray) -> np.ndarray:
    """Pixel xyxy -> COCO xywh."""
    b = np.asarray(xyxy, np.float32)
    return np.concatenate([b[..., :2], b[..., 2:] - b[..., :2]], axis=-1)


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    """COCO xywh -> pixel xyxy."""
    b = np.asarray(xywh, np.float32)
    return np.concatenate([b[..., :2], b[..., :2] + b[..., 2:]], axis=-1)


def center_xywh_to_xyxy(cxcywh: np.ndarray) -> np.ndarray:
    """(x_center, y_center, w, h) (YOLO heads) -> xyxy, in the same units."""
    b = np.asarray(cxcywh, np.float32)
    return np.concatenate([b[..., :2] - b[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2], axis=-1)


def cells_to_normalized(windows, grid: Sequence[int], xp=np):
    """Cell windows (y0, x0, h, w) -> normalized yxyx on a (rows, cols) grid."""
    gh, gw = float(grid[0]), float(grid[1])
    w = windows.astype(np.float32) if xp is np else xp.cast(windows, "float32")
    return xp.stack([w[..., 0] / gh, w[..., 1] / gw,
                     (w[..., 0] + w[..., 2]) / gh, (w[..., 1] + w[..., 3]) / gw], axis=-1)


def window_pixels(window: Sequence[float], image_size: Sequence[int]):
    """A normalized yxyx window -> its pixel rows and columns ``(top, left, bottom, right)``,
    rounded to whole pixels (may reach past the image by rounding; callers clip)."""
    height, width = image_size
    y0, x0, y1, x1 = (float(v) for v in window)
    return (int(round(y0 * height)), int(round(x0 * width)),
            int(round(y1 * height)), int(round(x1 * width)))
