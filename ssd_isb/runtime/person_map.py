"""``PersonMap``: a per-pixel person probability over an image (TF-free).

What a semantic model (:class:`~ssd_isb.runtime.semantic.SemanticSegmenter`), the MediaPipe
selfie peer, or the union of an instance model's masks gives: the same type, so evaluation, the
background effects of the demo and the benchmarks treat all three alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PersonMap:
    """Attributes:
        probability: float32 [H, W] in [0, 1] at the image size.
        threshold: a pixel is person above this.
    """

    probability: np.ndarray
    threshold: float = 0.5

    def __len__(self) -> int:
        """1 when the map holds a person, else 0 (what a benchmark counts per image)."""
        return int(self.mask.any())

    @property
    def mask(self) -> np.ndarray:
        """bool [H, W]: the person pixels."""
        return self.probability > self.threshold

    @classmethod
    def from_masks(cls, masks: np.ndarray, image_size) -> "PersonMap":
        """The union of instance masks (bool [K, H, W]) as a hard 0/1 map."""
        h, w = image_size
        union = np.zeros((h, w), np.float32)
        if len(masks):
            union[np.any(masks, axis=0)] = 1.0
        return cls(union, 0.5)
