"""Turning whatever the user passes into the model's RGB input (TF-free, OpenCV)."""

from __future__ import annotations

import os
from typing import Sequence, Union

import cv2
import numpy as np

ImageLike = Union[str, os.PathLike, np.ndarray]


class ImageError(ValueError):
    """An image cannot be read or has an unusable layout; the message names it."""


def read_image(path: Union[str, os.PathLike]) -> np.ndarray:
    """Read an image file as BGR uint8 [H, W, 3] (grayscale, alpha, 16-bit all handled).

    Raises:
        ImageError: missing, unreadable or corrupt file (one line naming it).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImageError(f"{path}: no such image")
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ImageError(f"{path}: not a readable image (corrupt or unsupported format)")
    return to_bgr(image, name=path)


def to_bgr(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Normalize an array to BGR uint8 [H, W, 3]."""
    if not isinstance(image, np.ndarray):
        raise ImageError(f"{name}: expected a numpy array, got {type(image).__name__}")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        if np.issubdtype(image.dtype, np.floating) and image.size and image.max() <= 1.0:
            image = image * 255.0
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ImageError(f"{name}: expected an H x W (x 1, 3 or 4) image, got shape {image.shape}")


def model_input(image_bgr: np.ndarray, input_size: Sequence[int]) -> np.ndarray:
    """BGR uint8 [H, W, 3] -> RGB float32 [1, h, w, 3] in [0, 255] at the model's input size.

    The image is stretched to the input size like the thesis' training (no letterbox), so
    boxes map back by scaling each axis.
    """
    h, w = int(input_size[0]), int(input_size[1])
    interp = cv2.INTER_AREA if image_bgr.shape[0] > h and image_bgr.shape[1] > w else (
        cv2.INTER_LINEAR)
    resized = cv2.resize(image_bgr, (w, h), interpolation=interp)
    return cv2.cvtColor(resized, cv2.COLOR_BGR2RGB).astype(np.float32)[None]
