"""INT8 entropy calibration with a cache file.

:class:`CalibratorCore` holds the logic (next batch to the device, the cache file) without
TensorRT; :func:`make_entropy_calibrator` wraps it in a ``trt.IInt8EntropyCalibrator2``.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Iterator, Optional

import numpy as np

from .batcher import ImageBatcher

log = logging.getLogger("ssd_isb.tensorrt")


class CalibratorCore:
    """Feeds calibration batches to device memory and reads/writes the calibration cache.

    Args:
        batcher: the image batches (None when only the cache is used).
        cache_file: calibration cache path; reused when present (no images needed then).
        to_device: copies a host batch into device memory and returns its device pointer
            (from :mod:`ssd_isb.tensorrt.cuda`).
    """

    def __init__(self, batcher: Optional[ImageBatcher], cache_file: str,
                 to_device: Optional[Callable[[np.ndarray], int]] = None):
        self.batcher = batcher
        self.cache_file = cache_file
        self.to_device = to_device
        self._batches: Optional[Iterator[np.ndarray]] = None
        self.served = 0

    def batch_size(self) -> int:
        return self.batcher.batch_size if self.batcher else 1

    def next_batch(self, names) -> Optional[list]:
        """Device pointers of the next batch for the input names, or None when done."""
        if self.batcher is None:
            return None
        if self._batches is None:
            self._batches = iter(self.batcher)
        try:
            batch = next(self._batches)
        except StopIteration:
            return None
        self.served += 1
        log.info("calibration batch %d/%d %s", self.served, self.batcher.num_batches,
                 list(batch.shape))
        return [self.to_device(batch)]

    def read_cache(self) -> Optional[bytes]:
        """The cache's bytes when it exists (TensorRT then skips calibration)."""
        if self.cache_file and os.path.exists(self.cache_file):
            with open(self.cache_file, "rb") as fh:
                log.info("using calibration cache %s", self.cache_file)
                return fh.read()
        return None

    def write_cache(self, cache) -> None:
        """Store the cache atomically."""
        if not self.cache_file:
            return
        tmp = self.cache_file + ".tmp"
        with open(tmp, "wb") as fh:
            fh.write(bytes(cache))
        os.replace(tmp, self.cache_file)
        log.info("wrote calibration cache %s", self.cache_file)


def make_entropy_calibrator(core: CalibratorCore):
    """A ``trt.IInt8EntropyCalibrator2`` delegating to ``core`` (needs TensorRT)."""
    import tensorrt as trt

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.core = core

        def get_batch_size(self):
            return self.core.batch_size()

        def get_batch(self, names):
            return self.core.next_batch(names)

        def read_calibration_cache(self):
            return self.core.read_cache()

        def write_calibration_cache(self, cache):
            self.core.write_cache(cache)

    return EntropyCalibrator()
