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

from ..utils.errors import UsageError
from .image_io import model_input

KINDS = ("full", "tile", "zoom")


@dataclass(frozen=True)
class Region:
    """A rectangle of whole pixels inside the image: ``[y0, y1) x [x0, x1)``.

    Attributes:
        x0, y0, x1, y1: pixel bounds (x1, y1 exclusive).
        kind: "full" (the whole frame), "tile" (sliced inference) or "zoom" (a second look).
        limit: a tile answers for people up to this fraction of its longer side (larger
            ones are the frame's, :mod:`ssd_isb.runtime.merge`).
    """

    x0: int
    y0: int
    x1: int
    y1: int
    kind: str = "full"
    limit: float = 1.0

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
              overlap: float = 0.25, limit: float = 1.0) -> List[Region]:
    """``rows`` x ``cols`` tiles of equal size covering the image, neighbours sharing
    ``overlap`` of a tile (so a person cut by one tile's edge is whole in the next one's,
    up to that size); each answers for people up to ``limit`` of its longer side."""
    h, w = int(image_size[0]), int(image_size[1])

    def spans(length: int, n: int) -> List[Tuple[int, int]]:
        if n == 1:
            return [(0, length)]
        size = length / (n - (n - 1) * overlap)
        size_px = int(math.ceil(size))
        starts = np.linspace(0, length - size_px, n)
        return [(int(round(s)), int(round(s)) + size_px) for s in starts]

    return [Region(x0, y0, x1, y1, "tile", limit) for y0, y1 in spans(h, rows)
            for x0, x1 in spans(w, cols)]


def auto_grid(image_size: Sequence[int], input_size: Sequence[int],
              tile_height: float = 1.3) -> Tuple[int, int]:
    """The fine tile grid ``auto`` chooses for a frame: tiles about ``tile_height`` model
    inputs tall (416 px at 320), at least two across once the frame is 1.5 inputs on its
    short side, each as wide as the model's own aspect asks: 4:3 for the square model (the
    shape of the COCO photos it learned from, stretched to its input as these tiles are), the
    input's aspect for a wider export (``ssd-isb export --input-size 576x320``: 16:9 tiles
    of a 16:9 frame, not squeezed). (1, 1), no tiles, for a frame near the input's size.

    With the square 320 model this gives 2x2 on 640x480 photos, 2x3 on 1280x720 and 3x4 on
    1920x1080 frames.
    """
    h, w = int(image_size[0]), int(image_size[1])
    ih, iw = float(input_size[0]), float(input_size[1])
    if h < 1.5 * ih and w < 1.5 * iw:
        return 1, 1
    model = iw / ih
    if model <= 4.0 / 3.0:
        # The square model: 4:3 tiles turned as the frame is (the detector learned from
        # landscape and portrait photos alike), counted across the frame's short side.
        portrait = h > w
        short, long_side, unit, aspect = (w, h, iw, 4.0 / 3.0) if portrait else (
            h, w, ih, 4.0 / 3.0)
    else:  # a wide export: tiles of its own aspect, rows counted down the frame
        portrait, short, long_side, unit, aspect = False, h, w, ih, model
    across = max(1, math.ceil(short / (tile_height * unit)))
    if short >= 1.5 * unit:
        across = max(across, 2)
    # Tiles overlap by a quarter: n tiles span n - (n - 1) / 4 tile lengths.
    tile = short / (across - (across - 1) * 0.25)
    along = max(1, round((long_side / (tile * aspect) - 0.25) / 0.75))
    return (along, across) if portrait else (across, along)


def coarse_grid(image_size: Sequence[int], input_size: Sequence[int] = (320, 320)
                ) -> Optional[Tuple[int, int]]:
    """A frame far from the model's shape (16:9 and wider, for the square model) also gets
    two halves of about the model's aspect: the frame pass squeezes its people 1.8x or
    more, the fine tiles cut the large ones, and these see them whole at nearly their own
    aspect (1x2 side by side, 2x1 for a portrait frame)."""
    h, w = int(image_size[0]), int(image_size[1])
    frame, model = w / h, float(input_size[1]) / float(input_size[0])
    if max(frame / model, model / frame) < 1.5:
        return None
    return (1, 2) if frame > model else (2, 1)


def tile_plan(image_size: Sequence[int], input_size: Sequence[int], tiles: TileSpec = "off",
              overlap: float = 0.25, tile_max: float = 0.6) -> List[Region]:
    """The regions a frame is run on: the whole frame first, then the tiles (none for
    ``off``, or where the grid is 1 x 1).

    ``auto`` adds, for a frame far from square, its two halves (:func:`coarse_grid`, which
    answer for people of any size they see whole), then the fine grid of
    :func:`auto_grid`, whose tiles answer only for people up to ``tile_max`` of a tile
    (:mod:`ssd_isb.runtime.merge`). An explicit ``RxC`` is that fine grid alone.
    """
    spec = parse_tiles(tiles)
    regions = [full_region(image_size)]
    if spec == "off":
        return regions
    if spec == "auto":
        rows, cols = auto_grid(image_size, input_size)
        if rows * cols == 1:
            return regions
        coarse = coarse_grid(image_size, input_size)
        if coarse is not None and coarse != (rows, cols):
            regions += tile_grid(image_size, *coarse, overlap, limit=1.0)
    else:
        rows, cols = spec
    if rows * cols == 1:
        return regions
    return regions + tile_grid(image_size, rows, cols, overlap, limit=tile_max)


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
    tile: people a coarser pass sees well (:mod:`ssd_isb.runtime.merge`)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    return np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) > limit


def describe(regions: Sequence[Region]) -> Optional[str]:
    """``2x3 tiles`` style summary of a plan (None for a single pass)."""
    tiles = [r for r in regions if r.kind == "tile"]
    if not tiles:
        return None
    rows = len({r.y0 for r in tiles})
    return f"{rows}x{len(tiles) // rows} tiles"
