"""The encompassing bounding box (thesis 3.1.3).

The smallest window of whole stride-32 cells that contains a box. Its top-left cell says where to
crop the stride-32 map (and, scaled by 2 and 4, the stride-16 and stride-8 maps); its shape in
cells (h x w) picks the branch. Works on numpy (default) or ``keras.ops`` via ``xp``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

# A box edge within this many cells of a grid line is taken as on it: float noise in decoded
# boxes must not widen a window by a whole cell.
EDGE_TOLERANCE = 1e-3


def encompassing_windows(boxes, grid: Sequence[int], xp=np):
    """Grid-aligned windows that contain normalized boxes.

    Args:
        boxes: [..., 4] (ymin, xmin, ymax, xmax) normalized to [0, 1] (values outside are clipped).
        grid: (rows, cols) of the stride-32 feature map.
        xp: array namespace (numpy or keras.ops).

    Returns:
        int32 [..., 4] (y0, x0, h, w) in cells: rows y0..y0+h-1 and columns x0..x0+w-1, with
        h, w >= 1 and the window inside the grid.
    """
    gh, gw = float(grid[0]), float(grid[1])
    ymin = xp.clip(boxes[..., 0] * gh, 0.0, gh)
    xmin = xp.clip(boxes[..., 1] * gw, 0.0, gw)
    ymax = xp.clip(boxes[..., 2] * gh, 0.0, gh)
    xmax = xp.clip(boxes[..., 3] * gw, 0.0, gw)
    y0 = xp.clip(xp.floor(ymin + EDGE_TOLERANCE), 0.0, gh - 1.0)
    x0 = xp.clip(xp.floor(xmin + EDGE_TOLERANCE), 0.0, gw - 1.0)
    y1 = xp.clip(xp.ceil(ymax - EDGE_TOLERANCE), y0 + 1.0, gh)
    x1 = xp.clip(xp.ceil(xmax - EDGE_TOLERANCE), x0 + 1.0, gw)
    win = xp.stack([y0, x0, y1 - y0, x1 - x0], axis=-1)
    # Whole cells, but a full-integer TFLite export stores this float tensor in int8 at a
    # scale like 10/255, so cell 1 comes back as 0.98: round, never truncate, into int32.
    return xp.cast(xp.round(win), "int32") if xp is not np else win.astype(np.int32)
