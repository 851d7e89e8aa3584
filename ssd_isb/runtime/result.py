"""The result every backend returns: per-person boxes, scores and full-resolution masks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np


@dataclass
class Segmentation:
    """Instances found in one image, in decreasing score order.

    Attributes:
        boxes: float32 [K, 4] (x0, y0, x1, y1) in pixels of the input image.
        scores: float32 [K].
        class_ids: int32 [K], 1-based indices into ``class_names`` + 1 (COCO person = 1).
        masks: bool [K, H, W] full-resolution instance masks.
        has_mask: bool [K]; False where the model's branches gave this box no mask.
        image_size: (H, W) of the input image.
        class_names: names of the model's classes.
        track_ids: int64 [K] identity of each person across frames, set by
            :class:`ssd_isb.tracking.Tracker`; None for a single image.
    """

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    masks: np.ndarray
    has_mask: np.ndarray
    image_size: Tuple[int, int]
    class_names: List[str] = field(default_factory=lambda: ["person"])
    track_ids: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @property
    def labels(self) -> List[str]:
        """Class name of each instance."""
        return [self.class_names[c - 1] if 0 < c <= len(self.class_names) else str(c)
                for c in self.class_ids.tolist()]
