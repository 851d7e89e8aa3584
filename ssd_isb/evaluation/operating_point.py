"""The score threshold at which a detector is best used: precision, recall and F1 per threshold.

COCO AP ranks detections and ignores what their scores are; an application keeps the
detections above one threshold (0.5 by default here), so what a score means matters there.
These functions count, per threshold, the people found (a detection matched greedily by score
to an unmatched person at box IoU >= 0.5) and the false detections, and pick the threshold
with the best F1. TF-free.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np

from ..core.boxes import iou_matrix


def match_detections(boxes: np.ndarray, scores: np.ndarray, gt_boxes: np.ndarray,
                     iou: float = 0.5) -> np.ndarray:
    """Whether each detection (corner boxes, pixels) finds a person, greedily by score.

    Returns:
        bool [N]: True for a detection matched to a person no higher-scored detection took.
    """
    found = np.zeros(len(boxes), bool)
    if not len(boxes) or not len(gt_boxes):
        return found
    ious = iou_matrix(boxes, gt_boxes)
    taken = np.zeros(len(gt_boxes), bool)
    for k in np.argsort(-scores, kind="stable"):
        candidates = np.where(~taken & (ious[k] >= iou))[0]
        if len(candidates):
            j = candidates[np.argmax(ious[k, candidates])]
            taken[j] = found[k] = True
    return found


def f1_table(scores: np.ndarray, found: np.ndarray, people: int,
             thresholds: Sequence[float]) -> List[Dict[str, float]]:
    """Precision, recall and F1 of keeping the detections at or above each threshold.

    Args:
        scores: every detection's score (all images).
        found: :func:`match_detections` of each.
        people: the number of (non-crowd) people on those images.
        thresholds: the thresholds to score.
    """
    rows = []
    for t in thresholds:
        kept = scores >= t
        tp, fp = int(np.sum(found & kept)), int(np.sum(~found & kept))
        precision = tp / max(tp + fp, 1)
        recall = tp / max(people, 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-12)
        rows.append({"threshold": round(float(t), 4), "found": tp, "false": fp,
                     "precision": precision, "recall": recall, "f1": f1})
    return rows


def best_threshold(rows: List[Dict[str, float]]) -> Tuple[float, Dict[str, float]]:
    """The threshold of the best F1 (the lower one on a tie: more people found)."""
    best = max(rows, key=lambda r: (round(r["f1"], 6), -r["threshold"]))
    return best["threshold"], best
