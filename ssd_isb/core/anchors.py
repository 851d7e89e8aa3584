"""SSD default anchors, exactly as the TF Object Detection API's ``ssd_anchor_generator``.

Thesis eq. 3.1: six layers with scales evenly spaced between ``min_scale`` and ``max_scale``, the
configured aspect ratios plus one interpolated scale per cell, and three anchors in the lowest
layer (0.1 at 1:1, ``min_scale`` at 2:1 and 1:2). Anchors are ordered (layer, y, x, anchor) like
the box predictor outputs they pair with. At 300x300 this gives the 1917 anchors of the zoo model.
"""

from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import numpy as np

from ..config import AnchorConfig
from .boxes import center_to_corners  # noqa: F401  (anchors -> yxyx)


def feature_map_sizes(input_size: Sequence[int], num_layers: int = 6) -> List[Tuple[int, int]]:
    """Spatial sizes of the six SSD MobileNet-v1 feature maps for an input (h, w).

    The first map is Conv2d_11 (stride 16), the second Conv2d_13 (stride 32), then one
    stride-2 'SAME' conv per extra layer; each stride-2 'SAME' conv gives ceil(n / 2).
    """
    sizes = []
    h, w = input_size
    for _ in range(4):  # stride 16
        h, w = math.ceil(h / 2), math.ceil(w / 2)
    for _ in range(num_layers):
        sizes.append((h, w))
        h, w = math.ceil(h / 2), math.ceil(w / 2)
    return sizes


def box_specs(cfg: AnchorConfig) -> List[List[Tuple[float, float]]]:
    """(scale, aspect ratio) of each anchor in each layer, in predictor channel order."""
    n = cfg.num_layers
    scales = [cfg.min_scale + (cfg.max_scale - cfg.min_scale) * i / (n - 1) for i in range(n)]
    scales.append(1.0)
    specs = []
    for layer in range(n):
        scale, scale_next = scales[layer], scales[layer + 1]
        if layer == 0 and cfg.reduce_boxes_in_lowest_layer:
            layer_specs = [(0.1, 1.0), (scale, 2.0), (scale, 0.5)]
        else:
            layer_specs = [(scale, ar) for ar in cfg.aspect_ratios]
            if cfg.interpolated_scale_aspect_ratio > 0.0:
                layer_specs.append(
                    (math.sqrt(scale * scale_next), cfg.interpolated_scale_aspect_ratio))
        specs.append(layer_specs)
    return specs


def anchors_per_layer(cfg: AnchorConfig) -> List[int]:
    """Number of anchors per cell for each layer (3 in the lowest, 6 elsewhere by default)."""
    return [len(s) for s in box_specs(cfg)]


def anchor_layers(cfg: AnchorConfig, input_size: Sequence[int]) -> np.ndarray:
    """The layer (0 finest .. 5 coarsest) of every anchor, in :func:`generate_anchors` (and the
    predictors') order -> int32 [A]."""
    counts = [gh * gw * n for (gh, gw), n in
              zip(feature_map_sizes(input_size, cfg.num_layers), anchors_per_layer(cfg))]
    return np.repeat(np.arange(len(counts), dtype=np.int32), counts)


def generate_anchors(cfg: AnchorConfig, input_size: Sequence[int]) -> np.ndarray:
    """All anchors for an input size, as float32 [A, 4] (y_center, x_center, height, width).

    Coordinates are normalized to [0, 1] of the input image. For non-square inputs the base
    anchor is scaled like the TF OD API does, so anchors stay square in pixels.
    """
    im_h, im_w = float(input_size[0]), float(input_size[1])
    min_side = min(im_h, im_w)
    base_h, base_w = min_side / im_h, min_side / im_w
    out = []
    for (gh, gw), specs in zip(feature_map_sizes(input_size, cfg.num_layers), box_specs(cfg)):
        scales = np.array([s for s, _ in specs], dtype=np.float32)
        ratio_sqrts = np.sqrt(np.array([r for _, r in specs], dtype=np.float32))
        heights = scales / ratio_sqrts * np.float32(base_h)
        widths = scales * ratio_sqrts * np.float32(base_w)
        yc = (np.arange(gh, dtype=np.float32) + np.float32(0.5)) * np.float32(1.0 / gh)
        xc = (np.arange(gw, dtype=np.float32) + np.float32(0.5)) * np.float32(1.0 / gw)
        yy, xx, hh = np.meshgrid(yc, xc, heights, indexing="ij")
        _, _, ww = np.meshgrid(yc, xc, widths, indexing="ij")
        out.append(np.stack([yy, xx, hh, ww], axis=-1).reshape(-1, 4))
    return np.concatenate(out, axis=0).astype(np.float32)
