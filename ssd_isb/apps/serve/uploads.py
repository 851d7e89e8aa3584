"""A photo posted to ``POST /v1/segment``: checked and decoded, never written to disk."""

from __future__ import annotations

import cv2
import numpy as np

from ...utils.errors import SSDISBError

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/bmp", "application/octet-stream")


class UploadError(SSDISBError, ValueError):
    """A posted image is refused; ``status`` is the HTTP code to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def sniff(data: bytes) -> str:
    """The image format of the first bytes ("jpeg", "png", "webp", "bmp") or ""."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:2] == b"BM":
        return "bmp"
    return ""


def header_size(data: bytes, kind: str):
    """(width, height) read from the header without decoding, where the format says it
    (PNG, JPEG); None otherwise. A 30000 x 30000 PNG is refused before it is inflated."""
    if kind == "png" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if kind == "jpeg":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            length = int.from_bytes(data[i + 2:i + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD,
                          0xCE, 0xCF):
                return (int.from_bytes(data[i + 7:i + 9], "big"),
                        int.from_bytes(data[i + 5:i + 7], "big"))
            i += 2 + length
    return None


def decode_upload(data: bytes, content_type: str, max_bytes: int, max_pixels: int) -> np.ndarray:
    """The posted bytes -> BGR uint8 [H, W, 3].

    Raises:
        UploadError: empty (400), too large (413), not an image type (415), not an image
            or truncated (400), too many pixels (413); the message names the problem.
    """
    media = (content_type or "").split(";")[0].strip().lower()
    if media and media not in IMAGE_TYPES:
        raise UploadError(f"content type {media!r} is not an image (send image/jpeg or "
                          f"image/png, or multipart/form-data with a file)", 415)
    if not data:
        raise UploadError("empty body: send the image's bytes")
    if len(data) > max_bytes:
        raise UploadError(f"the image is {len(data)} bytes, over the limit of {max_bytes}", 413)
    kind = sniff(data)
    if not kind:
        raise UploadError("the body is not a JPEG, PNG, WebP or BMP image", 415)
    size = header_size(data, kind)
    if size and size[0] * size[1] > max_pixels:
        raise UploadError(f"the image is {size[0]} x {size[1]} pixels, over the limit of "
                          f"{max_pixels}", 413)
    if kind == "jpeg" and b"\xff\xd9" not in data.rstrip(b"\x00\n\r ")[-16:]:
        raise UploadError("the JPEG is truncated (it ends before its image does)")
    if kind == "png" and b"IEND" not in data[-16:]:
        raise UploadError("the PNG is truncated (it ends before its image does)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise UploadError(f"the {kind.upper()} image cannot be decoded (corrupt)")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise UploadError(f"the image is {image.shape[1]} x {image.shape[0]} pixels, over the "
                          f"limit of {max_pixels}", 413)
    return image
