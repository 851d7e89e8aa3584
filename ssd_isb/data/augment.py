"""Training augmentation on an image and its instance masks (numpy + OpenCV, TF-free).

Geometry is applied to the masks, and boxes are re-derived from the masks afterwards, so a crop,
a flip or a pasted person always leaves boxes and masks consistent. People cut by a crop to a
small visible fraction become ignore regions (neither positives nor negatives). A box-only person
travels as its filled box with mask weight 0: every transform here is axis-aligned, so the
rectangle stays the transformed box, and only people with a mask are pasted.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Deque, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..config import AugmentConfig

MIN_VISIBLE_FRACTION = 0.3  # of an instance's pixels, after a crop or an occluding paste


@dataclass
class Sample:
    """An image with its persons, at some resolution.

    Attributes:
        image: BGR uint8 [H, W, 3].
        masks: uint8 0/1 [N, H, W] person masks.
        ignore: float32 [M, 4] (x0, y0, x1, y1) pixel boxes ignored in matching (crowds,
            people mostly cut away).
        weights: float32 [N] each person's mask-loss weight (0: box only); None: all 1.
    """

    image: np.ndarray
    masks: np.ndarray
    ignore: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    weights: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        if self.weights is None:
            self.weights = np.ones(len(self.masks), np.float32)


def random_crop(sample: Sample, rng: np.random.Generator, scale: Sequence[float]) -> Sample:
    """Crop a random window of ``scale`` x the image side (aspect jitter 3:4 to 4:3)."""
    h, w = sample.image.shape[:2]
    s = rng.uniform(scale[0], scale[1])
    if s >= 0.999:
        return sample
    aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
    cw = int(round(min(w, w * s * math.sqrt(aspect))))
    ch = int(round(min(h, h * s / math.sqrt(aspect))))
    x0 = int(rng.integers(0, w - cw + 1))
    y0 = int(rng.integers(0, h - ch + 1))
    return crop(sample, x0, y0, cw, ch)


def zoom_crop(sample: Sample, rng: np.random.Generator, context: Sequence[float]) -> Sample:
    """The view the runtime's second look cuts (:func:`ssd_isb.runtime.regions.zoom_region`):
    a square of ``context`` (sampled) x the longer side of a random masked person's box,
    centred on them and moved inside the image. The branches then learn people at the scale
    they see them at when zoomed."""
    from ..runtime.regions import zoom_region

    candidates = [i for i, (m, weight) in enumerate(zip(sample.masks, sample.weights))
                  if weight > 0 and m.any()]
    if not candidates:
        return sample
    box = _mask_box(sample.masks[candidates[int(rng.integers(len(candidates)))]])
    region = zoom_region(box, sample.image.shape[:2], rng.uniform(context[0], context[1]))
    return crop(sample, region.x0, region.y0, region.width, region.height)


def crop(sample: Sample, x0: int, y0: int, cw: int, ch: int) -> Sample:
    """The window (x0, y0, cw, ch) of a sample: people left with under 30% of their pixels
    become ignore regions."""
    masks = sample.masks[:, y0:y0 + ch, x0:x0 + cw]
    before = sample.masks.sum(axis=(1, 2))
    after = masks.sum(axis=(1, 2))
    keep = after >= MIN_VISIBLE_FRACTION * np.maximum(before, 1)
    lost = [_mask_box(m) for m, k in zip(masks, keep) if not k and m.any()]
    ignore = sample.ignore - np.array([x0, y0, x0, y0], np.float32)
    ignore = np.clip(ignore, 0, [cw, ch, cw, ch]).astype(np.float32)
    ignore = ignore[(ignore[:, 2] > ignore[:, 0]) & (ignore[:, 3] > ignore[:, 1])]
    if lost:
        ignore = np.concatenate([ignore, np.array(lost, np.float32)])
    return Sample(sample.image[y0:y0 + ch, x0:x0 + cw], masks[keep], ignore,
                  sample.weights[keep])


def zoom_out(sample: Sample, rng: np.random.Generator, max_ratio: float) -> Sample:
    """Place the image at a random spot of a canvas up to ``max_ratio`` times its size, filled
    with its mean colour (SSD's "expand"): the same people, smaller in the frame."""
    h, w = sample.image.shape[:2]
    r = rng.uniform(1.0, max_ratio)
    ch, cw = int(round(h * r)), int(round(w * r))
    y0, x0 = int(rng.integers(0, ch - h + 1)), int(rng.integers(0, cw - w + 1))
    image = np.empty((ch, cw, 3), np.uint8)
    image[:] = sample.image.reshape(-1, 3).mean(0).astype(np.uint8)
    image[y0:y0 + h, x0:x0 + w] = sample.image
    masks = np.zeros((len(sample.masks), ch, cw), np.uint8)
    masks[:, y0:y0 + h, x0:x0 + w] = sample.masks
    ignore = sample.ignore + np.array([x0, y0, x0, y0], np.float32)
    return Sample(image, masks, ignore.astype(np.float32), sample.weights)


def resize(sample: Sample, size: Tuple[int, int]) -> Sample:
    """Resize image (bilinear / area) and masks (area, re-binarized) to (h, w)."""
    h, w = sample.image.shape[:2]
    th, tw = size
    interp = cv2.INTER_AREA if h > th and w > tw else cv2.INTER_LINEAR
    image = cv2.resize(sample.image, (tw, th), interpolation=interp)
    masks = np.stack([cv2.resize(m, (tw, th), interpolation=cv2.INTER_LINEAR) for m in
                      sample.masks.astype(np.float32)]) if len(sample.masks) else np.zeros(
        (0, th, tw), np.float32)
    masks = (masks >= 0.5).astype(np.uint8)
    ignore = sample.ignore * np.array([tw / w, th / h, tw / w, th / h], np.float32)
    return Sample(image, masks, ignore.astype(np.float32), sample.weights)


def hflip(sample: Sample) -> Sample:
    """Mirror left-right."""
    w = sample.image.shape[1]
    ignore = sample.ignore.copy()
    ignore[:, [0, 2]] = w - sample.ignore[:, [2, 0]]
    return Sample(sample.image[:, ::-1].copy(), sample.masks[:, :, ::-1].copy(), ignore,
                  sample.weights)


def photometric(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast, saturation and hue jitter (SSD-style magnitudes)."""
    img = image.astype(np.float32)
    img = img * rng.uniform(0.75, 1.25) + rng.uniform(-24, 24)  # contrast, brightness
    hsv = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-9, 9)) % 180  # OpenCV hue is 0-179
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.7, 1.3), 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)


@dataclass
class PastePatch:
    """A person cut out of an image: BGR patch and its mask, tight to the mask."""

    image: np.ndarray
    mask: np.ndarray
    weight: float = 1.0


class InstancePool:
    """The last persons seen, to paste into later images (copy-paste augmentation)."""

    def __init__(self, capacity: int = 64, min_side: int = 24):
        self.items: Deque[PastePatch] = deque(maxlen=capacity)
        self.min_side = min_side

    def add(self, sample: Sample) -> None:
        """Remember the sizeable persons of a (resized) sample that have a mask (a box-only
        person's rectangle would paste its background too)."""
        for m, weight in zip(sample.masks, sample.weights):
            box = _mask_box(m)
            if box is None or weight <= 0:
                continue
            x0, y0, x1, y1 = (int(v) for v in box)
            if min(x1 - x0, y1 - y0) < self.min_side:
                continue
            self.items.append(PastePatch(sample.image[y0:y1, x0:x1].copy(),
                                         m[y0:y1, x0:x1].copy(), float(weight)))

    def __len__(self) -> int:
        return len(self.items)


def copy_paste(sample: Sample, pool: InstancePool, rng: np.random.Generator,
               max_instances: int) -> Sample:
    """Paste 1..``max_instances`` random persons from the pool at random places and scales.

    Pasted persons occlude what lies beneath: existing masks lose those pixels, and a person
    left with under 30% of its pixels becomes an ignore region.
    """
    if not len(pool):
        return sample
    image = sample.image.copy()
    masks = [m.copy() for m in sample.masks]
    weights = [float(v) for v in sample.weights]
    before = [int(m.sum()) for m in masks]
    h, w = image.shape[:2]
    for _ in range(int(rng.integers(1, max_instances + 1))):
        patch = pool.items[int(rng.integers(len(pool)))]
        ph, pw = patch.mask.shape
        target_h = rng.uniform(0.15, 0.7) * h
        scale = min(target_h / ph, 0.9 * w / pw, 0.9 * h / ph)
        nh, nw = max(2, int(ph * scale)), max(2, int(pw * scale))
        pimg = cv2.resize(patch.image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        pmask = cv2.resize(patch.mask.astype(np.float32), (nw, nh),
                           interpolation=cv2.INTER_LINEAR) >= 0.5
        if rng.uniform() < 0.5:
            pimg, pmask = pimg[:, ::-1], pmask[:, ::-1]
        y0 = int(rng.integers(0, h - nh + 1))
        x0 = int(rng.integers(0, w - nw + 1))
        full = np.zeros((h, w), np.uint8)
        full[y0:y0 + nh, x0:x0 + nw] = pmask
        region = image[y0:y0 + nh, x0:x0 + nw]
        region[pmask] = pimg[pmask]
        for m in masks:
            m[full > 0] = 0
        masks.append(full)
        weights.append(patch.weight)
        before.append(int(full.sum()))
    keep, kept_weights, ignore = [], [], list(sample.ignore)
    for m, b, weight in zip(masks, before, weights):
        if m.sum() >= MIN_VISIBLE_FRACTION * max(b, 1):
            keep.append(m)
            kept_weights.append(weight)
        elif m.any():
            ignore.append(_mask_box(m))
    masks_arr = np.stack(keep) if keep else np.zeros((0, h, w), np.uint8)
    return Sample(image, masks_arr, np.array(ignore, np.float32).reshape(-1, 4),
                  np.array(kept_weights, np.float32))


def augment(sample: Sample, cfg: AugmentConfig, rng: np.random.Generator,
            size: Tuple[int, int], pool: Optional[InstancePool] = None) -> Sample:
    """Zoom-out (if on), crop jitter or a zoomed view of one person (if on), resize to
    ``size``, flip, copy-paste, photometric jitter."""
    if cfg.zoom_out > 1.0 and rng.uniform() < cfg.zoom_out_probability:
        sample = zoom_out(sample, rng, cfg.zoom_out)
    if cfg.zoom_crop_probability > 0 and rng.uniform() < cfg.zoom_crop_probability:
        sample = zoom_crop(sample, rng, cfg.zoom_crop_context)
    else:
        sample = random_crop(sample, rng, cfg.crop_scale)
    sample = resize(sample, size)
    if cfg.flip and rng.uniform() < 0.5:
        sample = hflip(sample)
    if cfg.copy_paste and pool is not None:
        clean = sample
        if rng.uniform() < cfg.copy_paste_probability:
            sample = copy_paste(sample, pool, rng, cfg.copy_paste_max)
        pool.add(clean)
    if cfg.photometric:
        sample = Sample(photometric(sample.image, rng), sample.masks, sample.ignore,
                        sample.weights)
    return sample


def _mask_box(mask: np.ndarray) -> Optional[List[float]]:
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return None
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


def masks_to_boxes(masks: np.ndarray) -> np.ndarray:
    """Tight (x0, y0, x1, y1) pixel boxes of binary masks [N, H, W] (empty masks: zeros)."""
    out = np.zeros((len(masks), 4), np.float32)
    for i, m in enumerate(masks):
        box = _mask_box(m)
        if box is not None:
            out[i] = box
    return out
