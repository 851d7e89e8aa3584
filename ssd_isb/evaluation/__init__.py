"""COCO metrics with the thesis' IoU-0.50 figures (pycocotools)."""

from .metrics import METRIC_KEYS, coco_metrics

__all__ = ["METRIC_KEYS", "coco_metrics"]
