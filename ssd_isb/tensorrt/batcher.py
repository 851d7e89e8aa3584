"""Batches of real images for INT8 calibration, preprocessed exactly like the runtime."""

from __future__ import annotations

import logging
from typing import Iterator, List, Optional, Sequence

import numpy as np

from ..utils.errors import UsageError
from ..runtime.image_io import ImageError, model_input, read_image

log = logging.getLogger("ssd_isb.tensorrt")


class ImageBatcher:
    """Reads a folder (or list) of images into float32 NHWC batches for the engine's input.

    Args:
        images: image paths (see :func:`ssd_isb.runtime.image_io.list_images`).
        input_shape: the engine input shape (batch, height, width, 3); the batch size is the
            engine's (1 for SSD-ISB exports).
        max_batches: stop after this many batches.

    Unreadable images are skipped and counted in :attr:`skipped`.
    """

    def __init__(self, images: Sequence[str], input_shape: Sequence[int],
                 max_batches: Optional[int] = None):
        if len(input_shape) != 4 or input_shape[3] != 3:
            raise UsageError(f"expected an NHWC input shape with 3 channels, got "
                             f"{list(input_shape)}")
        self.images: List[str] = list(images)
        self.batch_size = int(input_shape[0])
        self.size = (int(input_shape[1]), int(input_shape[2]))
        self.max_batches = max_batches
        self.skipped = 0
        if not self.images:
            raise UsageError("no calibration images")

    @property
    def num_batches(self) -> int:
        """Full batches available (before skipping unreadable images)."""
        n = len(self.images) // self.batch_size
        return min(n, self.max_batches) if self.max_batches else n

    def __iter__(self) -> Iterator[np.ndarray]:
        batch: List[np.ndarray] = []
        made = 0
        for path in self.images:
            try:
                batch.append(model_input(read_image(path), self.size)[0])
            except ImageError as err:
                self.skipped += 1
                log.warning("calibration: %s, skipped", err)
                continue
            if len(batch) == self.batch_size:
                yield np.ascontiguousarray(np.stack(batch), dtype=np.float32)
                batch = []
                made += 1
                if self.max_batches and made >= self.max_batches:
                    return
