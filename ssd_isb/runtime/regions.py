"""Sub-regions of an image that the model runs on as if each were a whole image (TF-free).

Sliced inference (tiles) and the second look per person (zoom) are the same operation: cut a
rectangle of the image, stretch it to the model input, run the stages on it, and map what comes
back (boxes, encompassing windows) from the rectangle's normalized coordinates to the image's.
A :class:`Region` is that rectangle; the plans below say which rectangles a frame gets.

Coordinates: regions are whole pixels of the image (a crop is a slice, never a resampling of
a resampling); boxes and windows move between normalized yxyx of a region and of the image.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import UsageError
from .image_io import model_input

KINDS = ("full", "tile", "zoom")


@dataclass(frozen=True)
class Region:
    """A rectangle of whole pixels inside the image: ``[y0, y1) x [x0, x1)``.

    Attributes:
        x0, y0, x1, y1: pixel bounds (x1, y1 exclusive).
        kind: "full" (the whole frame), "tile" (sliced inference) or "zoom" (a second look).
    """

    x0: int
    y0: int
    x1: int
    y1: int
    kind: str = "full"

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    def model_input(self, pixels: np.ndarray, input_size: Sequence[int],
                    color: str = "bgr") -> np.ndarray:
        """The region of ``pixels`` stretched to the model input (as :func:`model_input`)."""
        return model_input(pixels[self.y0:self.y1, self.x0:self.x1], input_size, color)

    def _scale(self, image_size: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
        h, w = float(image_size[0]), float(image_size[1])
        offset = np.array([self.y0 / h, self.x0 / w, self.y0 / h, self.x0 / w], np.float32)
        scale = np.array([self.height / h, self.width / w] * 2, np.float32)
        return offset, scale

    def to_image(self, yxyx: np.ndarray, image_size: Sequence[int]) -> np.ndarray:
        """Normalized yxyx of this region -> normalized yxyx of the image (H, W)."""
        offset, scale = self._scale(image_size)
        return (np.asarray(yxyx, np.float32) * scale + offset).astype(np.float32)

    def from_image(self, yxyx: np.ndarray, image_size: Sequence[int]) -> np.ndarray:
        """Normalized yxyx of the image (H, W) -> normalized yxyx of this region."""
        offset, scale = self._scale(image_size)
        return ((np.asarray(yxyx, np.float32) - offset) / scale).astype(np.float32)

    def inner_edges(self, image_size: Sequence[int]) -> np.ndarray:
        """bool [4] (top, left, bottom, right): which sides lie inside the image, where a
        person can be cut by this region rather than by the frame."""
        h, w = int(image_size[0]), int(image_size[1])
        return np.array([self.y0 > 0, self.x0 > 0, self.y1 < h, self.x1 < w])


def full_region(image_size: Sequence[int]) -> Region:
    """The whole frame."""
    return Region(0, 0, int(image_size[1]), int(image_size[0]), "full")


TileSpec = Union[str, Tuple[int, int], None]


def parse_tiles(value: TileSpec) -> Union[str, Tuple[int, int]]:
    """``auto``, ``off`` (also None) or a grid ``RxC`` (rows x columns, each 1-8).

    Raises:
        UsageError: anything else (one line naming the value).
    """
    if value is None:
        return "off"
    if isinstance(value, tuple):
        rows, cols = value
    else:
        text = str(value).strip().lower()
        if text in ("auto", "off"):
            return text
        match = re.fullmatch(r"(\d+)\s*x\s*(\d+)", text)
        if not match:
            raise UsageError(f"--tiles {value!r}: expected auto, off or RxC (e.g. 2x3)")
        rows, cols = int(match.group(1)), int(match.group(2))
    if not (1 <= rows <= 8 and 1 <= cols <= 8):
        raise UsageError(f"--tiles {value!r}: rows and columns must be 1 to 8")
    return (int(rows), int(cols))


def tiles_text(spec) -> str:
    """A parsed tiles setting as the option spells it: ``auto``, ``off`` or ``2x3``."""
    return spec if isinstance(spec, str) else f"{spec[0]}x{spec[1]}"


def tile_grid(image_size: Sequence[int], rows: int, cols: int,
              overlap: float = 0.25) -> List[Region]:
    """``rows`` x ``cols`` tiles of equal size covering the image, neighbours sharing
    ``overlap`` of a tile (so a person cut by one tile's edge is whole in the next one's,
    up to that size)."""
    h, w = int(image_size[0]), int(image_size[1])

    def spans(length: int, n: int) -> List[Tuple[int, int]]:
        if n == 1:
            return [(0, length)]
        size = length / (n - (n - 1) * overlap)
        size_px = int(math.ceil(size))
        starts = np.linspace(0, length - size_px, n)
        return [(int(round(s)), int(round(s)) + size_px) for s in starts]

    return [Region(x0, y0, x1, y1, "tile") for y0, y1 in spans(h, rows)
            for x0, x1 in spans(w, cols)]


def auto_grid(image_size: Sequence[int], input_size: Sequence[int],
              tile_side: float = 1.5, max_tiles: int = 6) -> Tuple[int, int]:
    """The tile grid ``auto`` chooses for a frame: near-square tiles (the frame's native
    aspect, not its stretch) about ``tile_side`` x the model input on a side, at most
    ``max_tiles`` of them; (1, 1) when the frame is already that small (no tiles).

    Args:
        image_size: (H, W) of the frame.
        input_size: (h, w) of the model input.
        tile_side: tile side in model input sides (1.5 at 320: 480-px tiles).
        max_tiles: cost cap (each tile is one detect pass).
    """
    h, w = int(image_size[0]), int(image_size[1])
    side = float(tile_side) * float(max(input_size))
    rows, cols = max(1, round(h / side)), max(1, round(w / side))
    # The short side sets the tile size: a 4:3 photo gets two tiles side by side, not one.
    if rows == 1 and cols == 1 and max(h, w) > 1.2 * min(h, w) and min(h, w) <= side * 1.5:
        rows, cols = (1, 2) if w > h else (2, 1)
    while rows * cols > max_tiles:
        if rows >= cols:
            rows -= 1
        else:
            cols -= 1
    return rows, cols


def tile_plan(image_size: Sequence[int], input_size: Sequence[int], tiles: TileSpec = "off",
              overlap: float = 0.25) -> List[Region]:
    """The regions a frame is run on: the whole frame first, then the tiles (none for
    ``off``, or where the grid is 1 x 1)."""
    spec = parse_tiles(tiles)
    regions = [full_region(image_size)]
    if spec == "off":
        return regions
    rows, cols = auto_grid(image_size, input_size) if spec == "auto" else spec
    if rows * cols == 1:
        return regions
    return regions + tile_grid(image_size, rows, cols, overlap)


def zoom_region(box: Sequence[float], image_size: Sequence[int], context: float = 1.3,
                min_side: int = 16) -> Region:
    """A square around a pixel box (x0, y0, x1, y1): ``context`` x its longer side, centred on
    it, moved inside the image where it reaches past an edge (the person stays whole and no
    padding is invented), and cut to the image where the image is smaller than the square."""
    h, w = int(image_size[0]), int(image_size[1])
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(context * max(x1 - x0, y1 - y0), float(min_side))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2

    def span(centre: float, length: int) -> Tuple[int, int]:
        size = min(int(round(side)), length)
        start = int(round(centre - size / 2))
        start = min(max(start, 0), length - size)
        return start, start + size

    ry0, ry1 = span(cy, h)
    rx0, rx1 = span(cx, w)
    return Region(rx0, ry0, rx1, ry1, "zoom")


def cut_by_edges(boxes: np.ndarray, region: Region, image_size: Sequence[int],
                 tolerance: float = 0.01) -> np.ndarray:
    """bool [K]: which of a region's boxes (normalized yxyx of the region) touch one of its
    inner edges, i.e. may be a person the tile cut (another pass sees them whole)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    inner = region.inner_edges(image_size)
    touch = np.stack([boxes[:, 0] <= tolerance, boxes[:, 1] <= tolerance,
                      boxes[:, 2] >= 1 - tolerance, boxes[:, 3] >= 1 - tolerance], axis=1)
    return (touch & inner[None, :]).any(axis=1)


def too_large(boxes: np.ndarray, limit: float) -> np.ndarray:
    """bool [K]: boxes (normalized yxyx of a tile) whose longer side exceeds ``limit`` of the
    tile: people the frame pass sees well (:mod:`ssd_isb.runtime.merge`)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    return np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) > limit


def describe(regions: Sequence[Region]) -> Optional[str]:
    """``2x3 tiles`` style summary of a plan (None for a single pass)."""
    tiles = [r for r in regions if r.kind == "tile"]
    if not tiles:
        return None
    rows = len({r.y0 for r in tiles})
    return f"{rows}x{len(tiles) // rows} tiles"
