"""Crops of encompassing windows from feature maps, in numpy (the two-stage runtime).

The same crops as the graph's :func:`ssd_isb.model.crops.crop_windows`, cell for cell: exact
windows are slices; resizing branches sample the window bilinearly at half-pixel centres,
clamped to the window (OpenCV's ``INTER_LINEAR``), with the sample positions computed by
:func:`resize_samples`, which the graph uses too. Single-Branch crops at ``pool`` x its shape
and max-pools. OpenCV is not used for the resize because a map can have more channels (768,
1024) than an OpenCV image may (512).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def resize_samples(start, size, count: int, xp=np):
    """Where ``count`` half-pixel-centred samples of a window fall, per window.

    Sample i of ``count`` over a window of ``size`` cells lies at (i + 0.5) * size / count - 0.5
    from its start, i.e. at num / den with num = (2i + 1) * size - count and den = 2 * count.
    Indices are whole-number int32 arithmetic: a full-integer TFLite export would store float
    positions in int8, and a position of 3 read back as 2.98 floors to the wrong cell.

    Args:
        start: int32 [K] first cell of each window (at the map's resolution).
        size: int32 [K] window length in cells.
        count: samples per window.
        xp: numpy, or the graph's op namespace.

    Returns:
        (lo [K, count], hi [K, count]) int32 cells and frac [K, count] float32: the sample is
        (1 - frac) * cell lo + frac * cell hi.
    """
    den = 2 * count
    num = (2 * xp.arange(count, dtype="int32")[None, :] + 1) * size[:, None] - count
    num = xp.clip(num, 0, (size[:, None] - 1) * den)
    lo = num // den
    frac = xp.cast(num - lo * den, "float32") * (1.0 / den) if xp is not np else (
        (num - lo * den).astype(np.float32) * np.float32(1.0 / den))
    hi = xp.minimum(lo + 1, size[:, None] - 1)
    return start[:, None] + lo, start[:, None] + hi, frac


def crop_windows(feature: np.ndarray, windows: np.ndarray, out_shape: Sequence[int],
                 level: int = 1, resize: bool = False, pool: int = 1) -> np.ndarray:
    """Crop cell windows from one image's feature map.

    Args:
        feature: [H, W, C] map whose stride is ``32 / level`` (H = level x grid rows).
        windows: int [K, 4] (y0, x0, h, w) in stride-32 cells.
        out_shape: (th, tw) in stride-32 cells, before pooling.
        level: map resolution relative to the stride-32 grid (1, 2, 4 or 8).
        resize: sample each window bilinearly to ``out_shape``; if False, read ``out_shape``
            cells from each window's top-left (the window must have that shape).
        pool: max-pool the crop by this factor (Single-Branch crops at 2 x its shape).

    Returns:
        float32 [K, level * th / pool, level * tw / pool, C], contiguous.
    """
    windows = np.asarray(windows, np.int64).reshape(-1, 4)
    ty, tx = int(out_shape[0]) * level, int(out_shape[1]) * level
    y0, x0 = windows[:, 0] * level, windows[:, 1] * level
    if not resize:
        ys = y0[:, None] + np.arange(ty)
        xs = x0[:, None] + np.arange(tx)
        crops = feature[ys[:, :, None], xs[:, None, :]]
    else:
        crops = np.empty((len(windows), ty, tx, feature.shape[-1]), np.float32)
        ylo, yhi, fy = resize_samples(np.zeros_like(y0), windows[:, 2] * level, ty)
        xlo, xhi, fx = resize_samples(np.zeros_like(x0), windows[:, 3] * level, tx)
        for k in range(len(windows)):
            # Separable, over the window alone: rows first, then columns. Four fancy-indexed
            # gathers of the whole output cost 5 ms a branch on 768-channel maps; whole rows
            # and columns taken from the window cost a fraction of it, and no BLAS call (whose
            # threads spin against the interpreter's on a small CPU) is made.
            sub = feature[y0[k]:y0[k] + windows[k, 2] * level, x0[k]:x0[k] + windows[k, 3] * level]
            top = sub[ylo[k]]
            rows = top + fy[k][:, None, None] * (sub[yhi[k]] - top)
            left = rows[:, xlo[k]]
            crops[k] = left + fx[k][None, :, None] * (rows[:, xhi[k]] - left)
    if pool > 1:
        k, h, w, c = crops.shape
        crops = crops.reshape(k, h // pool, pool, w // pool, pool, c).max(axis=(2, 4))
    return np.ascontiguousarray(crops, dtype=np.float32)

