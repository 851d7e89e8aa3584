"""Real images for int8 calibration and export checks, from the training data pipeline or a
folder (TF-free)."""

from __future__ import annotations

from typing import Iterator, List, Optional

import numpy as np

from ..config import Config
from ..runtime.image_io import ImageError, folder_images, model_input, read_image
from .formats import ExportError


def calibration_paths(cfg: Config, source: Optional[str], count: int, seed: int = 0,
                      side: str = "train") -> List[str]:
    """``count`` image paths: from ``source`` (a folder) or the config's data pipeline.

    The pipeline's records are shuffled with a fixed seed so the sample spans every dataset.
    """
    if source:
        paths = folder_images(source)
    else:
        from ..data import load_datasets

        records, _ = load_datasets(cfg, side)
        if not records:
            raise ExportError(f"no {side} images in the config for calibration; pass "
                             f"--calibration FOLDER")
        paths = [r.path for r in records]
    order = np.random.default_rng(seed).permutation(len(paths))
    return [paths[i] for i in order[:count]]


def model_inputs(paths: List[str], input_size) -> Iterator[np.ndarray]:
    """RGB float32 [1, H, W, 3] inputs of readable images (unreadable ones are skipped)."""
    for path in paths:
        try:
            yield model_input(read_image(path), input_size)
        except ImageError:
            continue


def read_images(paths: List[str]) -> List[np.ndarray]:
    """The readable images among ``paths`` (BGR uint8), in order."""
    out = []
    for path in paths:
        try:
            out.append(read_image(path))
        except ImageError:
            continue
    return out
