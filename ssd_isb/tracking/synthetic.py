"""A clip with known identities: real people moved along known paths over a real street.

There is no video with ground-truth tracks here, so the tracker is measured on a clip made
from real pixels: three Penn-Fudan pedestrians (their human masks cut them out) walk across a
COCO street photo without people. Two of them cross, one passing behind the other, and the
third walks behind a pillar (a strip of the same photo) and is hidden for several frames. The
ground truth of every frame is each person's visible box, from the masks as composited.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import cv2
import numpy as np

from ..runtime.image_io import read_image

BACKGROUND = ("coco128", "train2017", "000000000094.jpg")  # a street, no person annotated
PEOPLE = (("FudanPed00058", 1), ("FudanPed00055", 1), ("PennPed00004", 1))
# The clip nothing was chosen on: other people, another photo, other paths and speeds.
HELDOUT_BACKGROUND = ("coco128", "train2017", "000000000164.jpg")  # a kitchen, nobody in it
HELDOUT_PEOPLE = (("PennPed00071", 1), ("PennPed00048", 3), ("FudanPed00055", 1))
MIN_VISIBLE = 0.3  # a person less visible than this is occluded: no box expected


@dataclass
class Walker:
    """One person's path: ``start`` and ``end`` foot points (x, y), ``height`` px, and its
    depth order (higher ``depth`` is nearer: drawn over the others)."""

    person: Tuple[str, int]
    start: Tuple[float, float]
    end: Tuple[float, float]
    height: int
    depth: int


@dataclass
class Clip:
    """Frames (BGR) and, per frame, each visible person's box by ground-truth ID."""

    frames: List[np.ndarray]
    truth: List[Dict[int, np.ndarray]] = field(default_factory=list)
    hidden: List[List[int]] = field(default_factory=list)  # the IDs occluded on each frame

    def write(self, path: str, fps: float = 10.0) -> str:
        """Write the frames as a video (.mp4 or .avi) for the command-line tools."""
        from ..runtime.video import video_writer

        h, w = self.frames[0].shape[:2]
        writer = video_writer(path, fps, (w, h))
        for f in self.frames:
            writer.write(f)
        writer.release()
        return path


def _cutout(data: str, name: str, index: int) -> Tuple[np.ndarray, np.ndarray]:
    folder = os.path.join(data, "pennfudan")
    image = read_image(os.path.join(folder, "Images", name + ".jpg"))
    mask = cv2.imread(os.path.join(folder, "PedMasks", name + "_mask.png"), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise FileNotFoundError(os.path.join(folder, "PedMasks", name + "_mask.png"))
    ys, xs = np.nonzero(mask == index)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return image[y0:y1, x0:x1], (mask[y0:y1, x0:x1] == index)


def default_walkers(width: int, height: int) -> List[Walker]:
    """A crosses B (B behind), C walks behind the pillar."""
    foot = height - 20
    return [Walker(PEOPLE[0], (0.12 * width, foot), (0.80 * width, foot - 10), 250, 2),
            Walker(PEOPLE[1], (0.85 * width, foot - 25), (0.18 * width, foot - 15), 230, 1),
            Walker(PEOPLE[2], (0.35 * width, foot - 60), (0.95 * width, foot - 60), 190, 0)]


def heldout_walkers(width: int, height: int) -> List[Walker]:
    """The held-out clip: A overtakes B walking the same way (B behind, slower), C walks
    right to left behind the pillar, faster than anyone in the first clip."""
    foot = height - 15
    return [Walker(HELDOUT_PEOPLE[0], (0.05 * width, foot), (0.75 * width, foot), 260, 2),
            Walker(HELDOUT_PEOPLE[1], (0.30 * width, foot - 20), (0.55 * width, foot - 25),
                   235, 1),
            Walker(HELDOUT_PEOPLE[2], (1.00 * width, foot - 50), (0.05 * width, foot - 45),
                   200, 0)]


def make_clip(data: str, frames: int = 80, walkers: List[Walker] = None,
              pillar: Tuple[float, float] = (0.60, 0.70), heldout: bool = False) -> Clip:
    """Composite the clip.

    Args:
        data: the shared data folder (``../shared/data``).
        frames: clip length.
        walkers: the paths (default :func:`default_walkers`); IDs are their indices.
        pillar: left and right edge of the pillar as fractions of the width; it hides the
            people of depth 0 (the farthest) only.
        heldout: the clip nothing was tuned on (:func:`heldout_walkers`, another photo, the
            pillar at 0.30-0.42 of the width).
    """
    background = read_image(os.path.join(data, *(HELDOUT_BACKGROUND if heldout else
                                                 BACKGROUND)))
    h, w = background.shape[:2]
    if heldout:
        walkers, pillar = walkers or heldout_walkers(w, h), (0.30, 0.42)
    walkers = walkers or default_walkers(w, h)
    cut = [_cutout(data, *wk.person) for wk in walkers]
    px0, px1 = int(pillar[0] * w), int(pillar[1] * w)
    strip = background[:, :px1 - px0].copy()  # the photo's own left edge, as a pillar
    clip = Clip(frames=[])
    for f in range(frames):
        t = f / max(frames - 1, 1)
        canvas = background.copy()
        full: Dict[int, np.ndarray] = {}
        drawn = np.full((h, w), -1, np.int32)  # which walker each pixel shows
        for k in sorted(range(len(walkers)), key=lambda k: walkers[k].depth):
            wk, (img, msk) = walkers[k], cut[k]
            scale = wk.height / img.shape[0]
            size = (max(int(img.shape[1] * scale), 1), wk.height)
            img_s = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            msk_s = cv2.resize(msk.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
            fx = wk.start[0] + t * (wk.end[0] - wk.start[0])
            fy = wk.start[1] + t * (wk.end[1] - wk.start[1])
            x0, y0 = int(fx - size[0] / 2), int(fy - size[1])
            place = np.zeros((h, w), bool)
            sx0, sy0 = max(-x0, 0), max(-y0, 0)
            sx1, sy1 = min(size[0], w - x0), min(size[1], h - y0)
            if sx1 <= sx0 or sy1 <= sy0:
                continue
            region = msk_s[sy0:sy1, sx0:sx1]
            place[y0 + sy0:y0 + sy1, x0 + sx0:x0 + sx1] = region
            canvas[place] = img_s[sy0:sy1, sx0:sx1][region]
            drawn[place] = k
            full[k] = place
            if wk.depth == 0:
                canvas[:, px0:px1] = strip
                drawn[:, px0:px1][drawn[:, px0:px1] == k] = -1
        truth, hidden = {}, []
        for k, place in full.items():
            visible = drawn == k
            if visible.sum() >= MIN_VISIBLE * place.sum():
                ys, xs = np.nonzero(visible)
                truth[k] = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
            else:
                hidden.append(k)
        clip.frames.append(canvas)
        clip.truth.append(truth)
        clip.hidden.append(hidden)
    return clip
