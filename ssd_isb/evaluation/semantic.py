"""``ssd-isb evaluate --task semantic``: person IoU and mIoU (person, background).

The ground truth of an image is the union of its person masks at the image's own size; COCO
crowd regions (``iscrowd``: one mask for many people) are ignored, as Cityscapes ignores its
void pixels. Intersections and unions are summed over the whole split (the Cityscapes and
thesis 2.5 convention), so a large person weighs more than a small one; the mean of per-image
person IoUs over the images with a person is reported beside it.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Dict, Optional

import numpy as np

from ..data.coco import person_category_id
from ..utils.files import check_output_file, write_json
from ..utils.progress import progress
from ..runtime import ImageError
from ..runtime.protocol import SegmenterBase
from .evaluate import EvaluationError, _check_subset, load_ground_truth, select_image_ids

log = logging.getLogger("ssd_isb.evaluate")


class IoUAccumulator:
    """Sums of the person/background confusion over images."""

    def __init__(self):
        self.tp = self.fp = self.fn = self.tn = 0
        self.per_image = []

    def add(self, pred: np.ndarray, truth: np.ndarray, known: Optional[np.ndarray] = None):
        """One image: bool [H, W] prediction and truth; ``known`` False where ignored."""
        if pred.shape != truth.shape:
            raise ValueError(f"prediction {pred.shape} and ground truth {truth.shape} differ")
        k = np.ones_like(truth, bool) if known is None else known
        tp = int(np.count_nonzero(pred & truth & k))
        fp = int(np.count_nonzero(pred & ~truth & k))
        fn = int(np.count_nonzero(~pred & truth & k))
        tn = int(np.count_nonzero(k)) - tp - fp - fn
        self.tp, self.fp, self.fn, self.tn = self.tp + tp, self.fp + fp, self.fn + fn, \
            self.tn + tn
        if tp + fn:
            self.per_image.append(tp / (tp + fp + fn))

    def report(self) -> Dict[str, float]:
        """Percent: ``person_iou``, ``background_iou``, ``miou``, ``pixel_accuracy``,
        ``person_iou_per_image`` (mean over images with a person)."""
        person = self.tp / max(self.tp + self.fp + self.fn, 1)
        background = self.tn / max(self.tn + self.fp + self.fn, 1)
        total = max(self.tp + self.fp + self.fn + self.tn, 1)
        return {"person_iou": round(100 * person, 2),
                "background_iou": round(100 * background, 2),
                "miou": round(50 * (person + background), 2),
                "pixel_accuracy": round(100 * (self.tp + self.tn) / total, 2),
                "person_iou_per_image": round(100 * float(np.mean(self.per_image)), 2)
                if self.per_image else None}


def ground_truth_masks(gt, image_id: int, person: int):
    """(truth, known) bool [H, W] of one COCO image: persons' union, crowds unknown."""
    info = gt.imgs[image_id]
    h, w = int(info["height"]), int(info["width"])
    truth = np.zeros((h, w), bool)
    crowd = np.zeros((h, w), bool)
    for ann in gt.loadAnns(gt.getAnnIds(imgIds=[image_id], catIds=[person], iscrowd=None)):
        if not ann.get("segmentation"):
            continue
        m = gt.annToMask(ann).astype(bool)
        if ann.get("iscrowd"):
            crowd |= m
        else:
            truth |= m
    return truth, ~crowd | truth


def evaluate_person_maps(seg: SegmenterBase, annotations: str, images: str, model: str,
                         max_images: Optional[int] = None, split: str = "all",
                         holdout_every: int = 5, output: Optional[str] = None) -> Dict:
    """Score any ``PersonMap`` source (semantic model, instance union, MediaPipe peer).

    Returns:
        The report: ``semantic`` (see :meth:`IoUAccumulator.report`), ``images``, ``backend``,
        ``model``, ``split``, ``missing_images``, ``unreadable_images``, ``ms_per_image``,
        ``latency_ms`` (median model time per image, preprocess to decode).
    """
    _check_subset(max_images, holdout_every)
    if output:
        check_output_file(output, "--output")
    gt = load_ground_truth(annotations)
    person = person_category_id(gt.dataset, annotations)
    if not any(a.get("segmentation") for a in gt.dataset["annotations"]):
        raise EvaluationError(f"{annotations}: no masks (a box-only file cannot score "
                              f"semantic segmentation)")
    ids = select_image_ids(gt, split, holdout_every, max_images)
    acc, missing, unreadable, times = IoUAccumulator(), [], [], []
    started = time.perf_counter()
    for image_id in progress(ids, desc="evaluate"):
        info = gt.imgs[image_id]
        path = os.path.join(images, info["file_name"])
        if not os.path.exists(path):
            log.warning("missing image %s, skipped", path)
            missing.append(info["file_name"])
            continue
        try:
            result = seg(path)
        except ImageError as err:
            log.warning("%s, skipped", err)
            unreadable.append(info["file_name"])
            continue
        truth, known = ground_truth_masks(gt, image_id, person)
        if result.probability.shape != truth.shape:
            raise EvaluationError(
                f"{path}: the image is {result.probability.shape[1]} x "
                f"{result.probability.shape[0]} but {annotations} says {truth.shape[1]} x "
                f"{truth.shape[0]} (width x height)")
        acc.add(result.mask, truth, known)
        times.append(seg.last_timings.get("total", 0.0))
    if not times:
        raise EvaluationError(f"{images}: no readable image of {annotations} to evaluate")
    seconds = time.perf_counter() - started
    report = {"task": "semantic", "semantic": acc.report(), "images": len(times),
              "backend": seg.name, "model": os.path.abspath(model) if os.path.exists(model)
              else model, "split": split, "annotations": os.path.abspath(annotations),
              "missing_images": missing, "unreadable_images": unreadable,
              "seconds": round(seconds, 2), "ms_per_image": round(1000 * seconds / len(times), 2),
              "latency_ms": round(float(np.median(times)), 2),
              "threshold": getattr(seg, "threshold", 0.5)}
    if output:
        write_json(output, report)
    return report


def report_line(report: Dict) -> str:
    """One printed line."""
    s = report["semantic"]
    return (f"{os.path.basename(report['model'])} on {report['images']} images "
            f"({report['split']}): person IoU {s['person_iou']:.2f}, background IoU "
            f"{s['background_iou']:.2f}, mIoU {s['miou']:.2f} (per-image person IoU "
            f"{s['person_iou_per_image']}), {report['latency_ms']:.1f} ms/image")
