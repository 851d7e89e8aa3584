"""Temporal smoothing of instance masks between video frames (TF-free).

Masks of a fast model flicker at their edges from frame to frame. Each detection is matched to
the previous frame's instance with the highest box IoU (>= 0.3), or, in a tracked result
(``track_ids`` set), to the same person's mask by its ID, kept while the person is out of
sight; its mask becomes an exponential moving average of the binary masks, re-thresholded at
0.5; unmatched detections start fresh. Boxes and scores are left as detected.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List

import numpy as np

from ..core.boxes import iou_matrix
from ..runtime.result import Segmentation


class MaskSmoother:
    """Args: ``alpha`` weight of the current frame (1.0 disables smoothing)."""

    def __init__(self, alpha: float = 0.6, min_iou: float = 0.3):
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        self.alpha = alpha
        self.min_iou = min_iou
        self._boxes = np.zeros((0, 4), np.float32)
        self._masks: List[np.ndarray] = []
        self._by_track: Dict[int, np.ndarray] = {}
        self.max_kept = 64  # IDs out of sight whose mask is kept (the oldest go first)

    def _by_id(self, result: Segmentation) -> Segmentation:
        masks = []
        for tid, mask in zip(result.track_ids.tolist(), result.masks):
            m = mask.astype(np.float32)
            before = self._by_track.pop(tid, None)
            if before is not None and before.shape == m.shape:
                m = self.alpha * m + (1 - self.alpha) * before
            self._by_track[tid] = m  # re-inserted: the dict keeps the newest last
            masks.append(m >= 0.5)
        while len(self._by_track) > self.max_kept:
            self._by_track.pop(next(iter(self._by_track)))
        if not len(result):
            return result
        return dataclasses.replace(result, masks=np.stack(masks))

    def __call__(self, result: Segmentation) -> Segmentation:
        if result.track_ids is not None:
            return self._by_id(result)
        current = [m.astype(np.float32) for m in result.masks]
        if len(self._masks) and len(result) and self._masks[0].shape == result.masks.shape[1:]:
            ious = iou_matrix(result.boxes, self._boxes)
            used = set()
            for i in np.argsort(-result.scores):
                j = int(np.argmax(ious[i]))
                if ious[i, j] >= self.min_iou and j not in used:
                    used.add(j)
                    current[i] = self.alpha * current[i] + (1 - self.alpha) * self._masks[j]
        self._boxes = result.boxes.copy()
        self._masks = current
        if not len(result):
            return result
        masks = np.stack([m >= 0.5 for m in current])
        return dataclasses.replace(result, masks=masks)
