"""Merging the detections of several passes (the frame and its tiles) into one set (TF-free).

Every pass reports boxes in the image's normalized coordinates with the same model's scores, so
scores compare across passes as they are. Three rules make one person one detection:

* a person cut by a tile's inner edge is taken from a pass that sees them whole: detections
  touching an inner tile edge are dropped (the frame pass, which every plan holds, sees
  everyone whole; overlapping tiles see most people whole at a larger scale);
* each tile answers only for the people it sees small: a detection longer than ``tile_max``
  of its tile is dropped (as SNIP keeps each scale to the sizes it is good at). The frame pass
  sees such a person at a size the detector was trained for; the tile sees a part of them, or
  background magnified into something person-like, at a score that ranks with the real ones
  (on the training side, tiles of 2x2 without this rule lowered box AP50 62.6 -> 59.5; with
  it they raise it to 70.6);
* duplicates across passes are removed by greedy non-maximum suppression in score order
  (class-agnostic: one person is one detection whatever pass found it).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..core.boxes import iou_matrix


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.5,
        groups: Optional[np.ndarray] = None) -> np.ndarray:
    """Greedy non-maximum suppression.

    Args:
        boxes: [K, 4] corner boxes (any consistent order).
        scores: [K].
        iou_threshold: a box overlapping a kept, better-scored one above this is dropped.
        groups: optional int [K]; boxes of the same group never suppress each other (each
            pass already ran its own NMS).

    Returns:
        int64 indices of the kept boxes, best score first.
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
    if not len(order):
        return order.astype(np.int64)
    iou = iou_matrix(boxes[order], boxes[order])
    same = None if groups is None else (
        np.asarray(groups)[order][:, None] == np.asarray(groups)[order][None, :])
    keep = np.ones(len(order), bool)
    for i in range(len(order)):
        if not keep[i]:
            continue
        drop = iou[i, i + 1:] > iou_threshold
        if same is not None:
            drop &= ~same[i, i + 1:]
        keep[i + 1:] &= ~drop
    return order[keep].astype(np.int64)


def merge_passes(boxes: np.ndarray, scores: np.ndarray, passes: np.ndarray, cut: np.ndarray,
                 iou_threshold: float = 0.4) -> np.ndarray:
    """The detections kept from several passes over one frame.

    Args:
        boxes: [K, 4] normalized yxyx of the image, all passes together.
        scores: [K].
        passes: int [K], the pass each detection comes from (0: the whole frame).
        cut: bool [K], detections a tile does not answer for: touching its inner edge
            (:func:`ssd_isb.runtime.regions.cut_by_edges`) or too large in it
            (:func:`ssd_isb.runtime.regions.too_large`).
        iou_threshold: duplicates across passes above this IoU are removed.

    Returns:
        int64 indices into the inputs, best score first.
    """
    candidates = np.nonzero(~np.asarray(cut, bool))[0]
    kept = nms(np.asarray(boxes)[candidates], np.asarray(scores)[candidates], iou_threshold,
               groups=np.asarray(passes)[candidates])
    return candidates[kept]
