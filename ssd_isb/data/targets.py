"""SSD training targets (thesis 3.1.1): anchor matching and box encoding (numpy, TF-free).

Each ground-truth box takes its best anchor, then every anchor with IoU >= 0.5 takes its best
ground truth. Unmatched anchors are negatives, except those lying mostly (IoA >= 0.5) inside an
ignore region (COCO ``iscrowd``, people mostly cropped away), which are ignored.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

from ..core.box_coder import DEFAULT_SCALE_FACTORS, encode
from ..core.boxes import iou_matrix

IGNORE = -1
MATCH_THRESHOLD = 0.5
IGNORE_IOA = 0.5


def ioa(anchors: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Fraction of each anchor's area inside each region -> [A, M]."""
    lo = np.maximum(anchors[:, None, :2], regions[None, :, :2])
    hi = np.minimum(anchors[:, None, 2:], regions[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    return inter / np.maximum(np.prod(anchors[:, 2:] - anchors[:, :2], axis=-1)[:, None], 1e-12)


def match_anchors(gt_boxes: np.ndarray, anchor_corners: np.ndarray,
                  ignore_boxes: np.ndarray | None = None) -> np.ndarray:
    """Index of the ground truth each anchor regresses, -1 negative, -2 ignored.

    Args:
        gt_boxes: [G, 4] normalized (ymin, xmin, ymax, xmax).
        anchor_corners: [A, 4] same layout.
        ignore_boxes: [M, 4] regions whose anchors are neither positive nor negative.
    """
    num_anchors = len(anchor_corners)
    matched = np.full(num_anchors, -1, np.int64)
    if len(gt_boxes):
        iou = iou_matrix(gt_boxes, anchor_corners)  # [G, A]
        best_gt = iou.argmax(0)
        matched = np.where(iou.max(0) >= MATCH_THRESHOLD, best_gt, -1)
        # Every ground truth keeps at least its best anchor (in order, later boxes win ties).
        for g, a in enumerate(iou.argmax(1)):
            if iou[g, a] > 0:
                matched[a] = g
    if ignore_boxes is not None and len(ignore_boxes):
        inside = ioa(anchor_corners, ignore_boxes).max(1) >= IGNORE_IOA
        matched = np.where((matched < 0) & inside, -2, matched)
    return matched


def encode_targets(gt_boxes: np.ndarray, gt_classes: np.ndarray, anchors: np.ndarray,
                   anchor_corners: np.ndarray, ignore_boxes: np.ndarray | None = None,
                   scale_factors: Sequence[float] = DEFAULT_SCALE_FACTORS
                   ) -> Tuple[np.ndarray, np.ndarray]:
    """Class and box targets for every anchor.

    Returns:
        (classes int32 [A]: 0 background, k class k, -1 ignore;
         boxes float32 [A, 4] encoded (zero where not positive)).
    """
    matched = match_anchors(gt_boxes, anchor_corners, ignore_boxes)
    classes = np.zeros(len(anchors), np.int32)
    boxes = np.zeros((len(anchors), 4), np.float32)
    pos = matched >= 0
    if pos.any():
        classes[pos] = gt_classes[matched[pos]]
        boxes[pos] = encode(gt_boxes[matched[pos]], anchors[pos], scale_factors)
    classes[matched == -2] = IGNORE
    return classes, boxes
