"""Turning whatever the user passes into the model's RGB input (TF-free, OpenCV)."""

from __future__ import annotations

import logging
import os
from typing import List, Optional, Sequence, Union

import cv2
import numpy as np

from ..utils.errors import SSDISBError

log = logging.getLogger("ssd_isb.images")

ImageLike = Union[str, os.PathLike, np.ndarray]
# What counts as an image file everywhere (folders for predict, demo, benchmark, calibration).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class ImageError(SSDISBError, ValueError):
    """An image cannot be read or has an unusable layout; the message names it."""


def is_image_file(path: Union[str, os.PathLike]) -> bool:
    """Whether ``path`` names an image by its extension (any case)."""
    return os.fspath(path).lower().endswith(IMAGE_EXTENSIONS)


def list_images(folder: Union[str, os.PathLike], limit: Optional[int] = None) -> List[str]:
    """The image files of a folder (not recursive), sorted by name; at most ``limit``."""
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        return []
    # A folder named like an image (photos/sub.jpg/) is not one.
    paths = sorted(p for p in (os.path.join(folder, f) for f in os.listdir(folder)
                               if is_image_file(f)) if os.path.isfile(p))
    return paths[:limit] if limit else paths


def folder_images(folder: Union[str, os.PathLike], limit: Optional[int] = None) -> List[str]:
    """:func:`list_images` of a folder the user named: at least one image, or an error.

    Raises:
        ImageError: no such folder, or no image in it (one line naming it).
    """
    if not os.path.isdir(folder):
        raise ImageError(f"{folder}: no such folder")
    paths = list_images(folder, limit)
    if not paths:
        raise ImageError(f"{folder}: no images ({', '.join(IMAGE_EXTENSIONS)})")
    return paths


def truncated(path: Union[str, os.PathLike]) -> bool:
    """Whether a JPEG or PNG file ends before its image does (a copy cut short, a download
    that stopped): libjpeg decodes what is there and greys out the rest without an error,
    so the people in the missing part are silently not found. Reads only the file's tail."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 1024))
            tail = fh.read()
    except OSError:
        return False
    if head[:2] == b"\xff\xd8":  # JPEG: ends with the EOI marker (padding after it is seen)
        return b"\xff\xd9" not in tail.rstrip(b"\x00\n\r ")[-16:]
    if head == b"\x89PNG\r\n\x1a\n":  # PNG: ends with the IEND chunk
        return b"IEND" not in tail[-16:]
    return False


def read_image(path: Union[str, os.PathLike], warn_truncated: bool = True) -> np.ndarray:
    """Read an image file as BGR uint8 [H, W, 3] (grayscale, alpha, 16-bit all handled).

    A truncated file (:func:`truncated`) is decoded as far as it goes, with a warning naming
    it (``warn_truncated``).

    Raises:
        ImageError: missing, unreadable or corrupt file (one line naming it).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImageError(f"{path}: no such image")
    if os.path.isdir(path):
        raise ImageError(f"{path}: is a folder, not an image")
    # cv2.imread as the ecosystem reads: it applies a phone JPEG's EXIF orientation (the image
    # every viewer shows upright) and keeps what libjpeg can decode of a truncated file, where
    # cv2.imdecode refuses it. imdecode stays for the paths imread cannot open.
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        data = np.fromfile(path, dtype=np.uint8)
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ImageError(f"{path}: not a readable image (corrupt or unsupported format)")
    if warn_truncated and truncated(path):
        log.warning("%s: truncated (the file ends before its image does); only the part "
                    "that is there is segmented", path)
    return to_bgr(image, name=path)


def to_bgr(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Normalize an array to BGR uint8 [H, W, 3]."""
    if not isinstance(image, np.ndarray):
        raise ImageError(f"{name}: expected a numpy array, got {type(image).__name__}")
    if image.ndim < 2 or 0 in image.shape[:2]:
        raise ImageError(f"{name}: empty image (shape {image.shape})")
    if image.dtype == np.bool_:
        # A mask, not a picture: silently it would give 0 persons.
        raise ImageError(f"{name}: a bool array is not an image (give uint8 0-255 or float 0-1)")
    if np.issubdtype(image.dtype, np.floating) and not np.isfinite(image).all():
        raise ImageError(f"{name}: the image holds NaN or infinite values")
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


def model_input(image: np.ndarray, input_size: Sequence[int], color: str = "bgr") -> np.ndarray:
    """uint8 [H, W, 3] -> RGB float32 [1, h, w, 3] in [0, 255] at the model's input size.

    The image is stretched to the input size like the thesis' training (no letterbox), so
    boxes map back by scaling each axis. ``color`` is the order of ``image`` ("bgr" from
    OpenCV, or "rgb"); only the small resized image is reordered.
    """
    h, w = int(input_size[0]), int(input_size[1])
    interp = cv2.INTER_AREA if image.shape[0] > h and image.shape[1] > w else (
        cv2.INTER_LINEAR)
    resized = cv2.resize(image, (w, h), interpolation=interp)
    if color == "bgr":
        resized = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
    return resized.astype(np.float32)[None]
