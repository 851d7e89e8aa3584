"""The Faster R-CNN box coder used by SSD (scale factors y, x, h, w = 10, 10, 5, 5).

Functions take an array namespace ``xp`` with the numpy API: ``numpy`` (default, TF-free) or
``keras.ops`` inside the Keras graph, so one implementation serves both.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

DEFAULT_SCALE_FACTORS = (10.0, 10.0, 5.0, 5.0)
_EPS = 1e-8


def encode(boxes, anchors, scale_factors: Sequence[float] = DEFAULT_SCALE_FACTORS, xp=np):
    """Encode corner boxes relative to center-size anchors.

    Args:
        boxes: [..., 4] (ymin, xmin, ymax, xmax), normalized.
        anchors: [..., 4] (y_center, x_center, height, width), broadcastable to ``boxes``.
        scale_factors: (y, x, h, w) multipliers.
        xp: array namespace (numpy or keras.ops).

    Returns:
        [..., 4] (ty, tx, th, tw).
    """
    ya, xa, ha, wa = anchors[..., 0], anchors[..., 1], anchors[..., 2], anchors[..., 3]
    h = boxes[..., 2] - boxes[..., 0]
    w = boxes[..., 3] - boxes[..., 1]
    yc = boxes[..., 0] + 0.5 * h
    xc = boxes[..., 1] + 0.5 * w
    ha, wa = ha + _EPS, wa + _EPS
    h, w = h + _EPS, w + _EPS
    sy, sx, sh, sw = scale_factors
    return xp.stack([(yc - ya) / ha * sy, (xc - xa) / wa * sx,
                     xp.log(h / ha) * sh, xp.log(w / wa) * sw], axis=-1)


def decode(codes, anchors, scale_factors: Sequence[float] = DEFAULT_SCALE_FACTORS, xp=np):
    """Inverse of :func:`encode`: (ty, tx, th, tw) + anchors -> (ymin, xmin, ymax, xmax)."""
    ya, xa, ha, wa = anchors[..., 0], anchors[..., 1], anchors[..., 2], anchors[..., 3]
    sy, sx, sh, sw = scale_factors
    yc = codes[..., 0] / sy * ha + ya
    xc = codes[..., 1] / sx * wa + xa
    h = xp.exp(codes[..., 2] / sh) * ha
    w = xp.exp(codes[..., 3] / sw) * wa
    return xp.stack([yc - 0.5 * h, xc - 0.5 * w, yc + 0.5 * h, xc + 0.5 * w], axis=-1)
