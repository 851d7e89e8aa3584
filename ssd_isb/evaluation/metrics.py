"""COCO AP/AR through pycocotools, plus the thesis' set at IoU 0.50 (Tables 5.2-5.4).

Scored on the person category only and only over the images evaluated, so a subset is never
scored against the whole file's ground truth. Values are percentages (0-100).
"""

from __future__ import annotations

import contextlib
import io
from typing import Dict, List, Optional, Sequence

import numpy as np

METRIC_KEYS = ("AP", "AP50", "AP75", "AP50_small", "AP50_medium", "AP50_large", "AR1_50",
               "AR10_50", "AR100_50", "AR50_small", "AR50_medium", "AR50_large", "AP_small",
               "AP_medium", "AP_large")
_AREAS = {"all": 0, "small": 1, "medium": 2, "large": 3}
_MAXDETS = {1: 0, 10: 1, 100: 2}


def _mean_valid(values: np.ndarray) -> float:
    values = values[values > -1]
    return float(np.mean(values)) * 100.0 if values.size else float("nan")


def coco_metrics(coco_gt, detections: List[dict], iou_type: str = "segm",
                 image_ids: Optional[Sequence[int]] = None, category_id: int = 1) -> Dict:
    """Evaluate COCO-format detections.

    Args:
        coco_gt: a ``pycocotools.coco.COCO`` with the ground truth.
        detections: COCO results (``image_id``, ``category_id``, ``score``, ``bbox`` and, for
            ``segm``, ``segmentation`` RLE).
        iou_type: "segm" or "bbox".
        image_ids: the images evaluated (default: every image of ``coco_gt``).
        category_id: the scored category (person = 1).

    Returns:
        ``{key: percent}`` for :data:`METRIC_KEYS` (NaN where a size range has no instance).
    """
    from pycocotools.cocoeval import COCOeval

    ids = sorted(set(int(i) for i in (image_ids if image_ids is not None
                                      else coco_gt.getImgIds())))
    dets = [d for d in detections if int(d["image_id"]) in set(ids)
            and int(d["category_id"]) == category_id]
    if not dets:
        return {k: 0.0 for k in METRIC_KEYS}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(dets)
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        ev.params.catIds = [category_id]
        ev.params.imgIds = ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    precision = ev.eval["precision"]  # [T, R, K, A, M]
    recall = ev.eval["recall"]  # [T, K, A, M]
    t50 = int(np.argmin(np.abs(ev.params.iouThrs - 0.5)))
    m100 = _MAXDETS[100]
    out = {"AP": float(ev.stats[0]) * 100, "AP50": float(ev.stats[1]) * 100,
           "AP75": float(ev.stats[2]) * 100, "AP_small": float(ev.stats[3]) * 100,
           "AP_medium": float(ev.stats[4]) * 100, "AP_large": float(ev.stats[5]) * 100}
    for size in ("small", "medium", "large"):
        out[f"AP50_{size}"] = _mean_valid(precision[t50, :, 0, _AREAS[size], m100])
        out[f"AR50_{size}"] = _mean_valid(recall[t50, 0, _AREAS[size], m100])
    for n in (1, 10, 100):
        out[f"AR{n}_50"] = _mean_valid(recall[t50, 0, _AREAS["all"], _MAXDETS[n]])
    for key, value in out.items():
        if value < 0:  # pycocotools' -1 for "no ground truth in this range"
            out[key] = float("nan")
    return {k: out[k] for k in METRIC_KEYS}
