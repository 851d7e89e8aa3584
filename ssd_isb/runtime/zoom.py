"""The second look per person: which people get a zoomed view, and how large (TF-free).

The branches see a person through the stride-32/16/8 grid of the pass that found them; a person
of a few cells gets a coarse, blobby mask. A second look cuts a square around the person from
the original image (``context`` x the box's longer side), runs the stages on it at the model's
input size and takes the person's mask (and, with ``redetect``, their box) from that view.
People the pass already sees large gain nothing and keep its mask.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import numpy as np

from ..utils.errors import UsageError
from .regions import Region, zoom_region


@dataclass(frozen=True)
class ZoomSettings:
    """How the second look is spent.

    Attributes:
        context: square side / the box's longer side.
        min_score: people scoring below keep the pass's mask (the ones an application drops
            anyway).
        min_gain: zoom only where the view magnifies the person at least this much over the
            pass that found them.
        max_people: at most this many second looks a frame, best scores first (cost cap).
        redetect: take the person's box from the best-matching detection in the zoomed view
            (IoU >= ``match_iou`` with the first box).
        mask_from: "match": the mask of that detection's window (when re-detected);
            "prompt": the mask of the first box's window in the zoomed view.
        match_iou: see ``redetect``.
        size: side in pixels of the zoomed views (a multiple of 32) when the model has a
            features stage and ``redetect`` is off; None: the model's input size. Without a
            features stage (or to re-detect), views run the detect stage at its input size.
        mask_threshold: mask logit threshold of a zoomed mask; None: the model's.
    """

    context: float = 1.4
    min_score: float = 0.3
    min_gain: float = 1.3
    max_people: int = 16
    redetect: bool = False
    mask_from: str = "match"
    match_iou: float = 0.5
    size: Optional[int] = None
    mask_threshold: Optional[float] = None


AUTO = ZoomSettings()
ZoomSpec = Union[str, float, ZoomSettings, None]


def parse_zoom(value: ZoomSpec) -> Optional[ZoomSettings]:
    """``auto`` (the measured default), ``off`` (None) or a context factor such as ``1.5``
    (the defaults otherwise), or :class:`ZoomSettings`.

    Raises:
        UsageError: anything else, or a factor outside 1-4 (one line naming it).
    """
    if value is None or isinstance(value, ZoomSettings):
        return value
    text = str(value).strip().lower()
    if text == "off":
        return None
    if text == "auto":
        return AUTO
    try:
        context = float(text)
    except ValueError:
        raise UsageError(f"--zoom {value!r}: expected auto, off or a context factor "
                         f"(e.g. 1.3)") from None
    if not 1.0 <= context <= 4.0:
        raise UsageError(f"--zoom {value!r}: the context factor must be 1 to 4")
    return dataclasses.replace(AUTO, context=context)


def zoom_text(settings: Optional[ZoomSettings]) -> str:
    """A parsed zoom setting as the option spells it: ``off``, ``auto`` or a context factor
    (other settings: their fields)."""
    if settings is None:
        return "off"
    if settings == AUTO:
        return "auto"
    if settings == dataclasses.replace(AUTO, context=settings.context):
        return f"{settings.context:g}"
    return str(settings)


def zoom_targets(boxes: np.ndarray, scores: np.ndarray, pass_scale: np.ndarray,
                 image_size: Sequence[int], input_size: Sequence[int],
                 settings: ZoomSettings) -> List[tuple]:
    """Which people get a second look, and its region.

    Args:
        boxes: float [K, 4] pixel xyxy of the image.
        scores: [K].
        pass_scale: [K] model-input pixels per image pixel in the pass that found each person
            (the smaller of its two axes).
        image_size: (H, W).
        input_size: (h, w) of the model.
        settings: the policy.

    Returns:
        [(index, Region)] in score order, at most ``settings.max_people``.
    """
    out = []
    side = float(min(input_size))
    for k in np.argsort(-np.asarray(scores), kind="stable"):
        if scores[k] < settings.min_score or len(out) >= settings.max_people:
            break
        region = zoom_region(boxes[k], image_size, settings.context)
        zoom_scale = side / max(region.height, region.width)
        if zoom_scale < settings.min_gain * float(pass_scale[k]):
            continue
        out.append((int(k), region))
    return out


def region_scale(region: Region, input_size: Sequence[int]) -> float:
    """Model-input pixels per image pixel of a pass over ``region`` (the smaller axis)."""
    return min(float(input_size[0]) / region.height, float(input_size[1]) / region.width)
