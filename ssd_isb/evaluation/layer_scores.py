"""Which anchor layer each detection comes from, and what each layer's scores mean (TF-free).

The six SSD layers see the image at six scales; the coarsest ones (3x3, 2x2 and 1x1 cells at
320, anchors of 0.65-0.95 of the frame) propose the frame-sized boxes. A single score offset
for every layer (``scripts/tune_score.py``) moves them all alike, so a layer whose background
response sits just under the threshold can cross it while the others are set right. These
helpers replay the detector's own post-processing in numpy (sigmoid, top-k, box decoding, NMS
as ``NonMaxSuppressionV4``) on its raw outputs, keeping each detection's anchor, so found and
false detections can be counted per layer, and per-layer logit offsets can be tried without
running the network again.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..core.anchors import anchor_layers, generate_anchors  # noqa: F401  (anchor_layers: API)
from ..core.box_coder import decode
from ..core.boxes import iou_matrix
from .operating_point import match_detections


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float, limit: int) -> np.ndarray:
    """Greedy NMS by score (as ``NonMaxSuppressionV4``): indices kept, best first."""
    order = np.argsort(-scores, kind="stable")
    keep: List[int] = []
    while len(order) and len(keep) < limit:
        i = order[0]
        keep.append(int(i))
        if len(order) == 1:
            break
        rest = order[1:]
        overlap = iou_matrix(boxes[i:i + 1], boxes[rest])[0]
        order = rest[overlap <= iou]
    return np.array(keep, np.int64)


def nested(boxes: np.ndarray, iou: float, cover: float) -> np.ndarray:
    """Which of score-ordered ``boxes`` hold a better-scored one: at least ``cover`` of its
    area inside them, at IoU above ``iou``. A replay-only rule (the graph does not have it):
    the coarse layers put a second, too-large box around a person a finer layer found, at IoU
    0.44-0.59 with it, under the NMS IoU (issue 26)."""
    lo = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
    hi = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=-1)
    union = area[:, None] + area[None, :] - inter
    holds = (inter > iou * np.maximum(union, 1e-12)) & (inter >= cover * area[None, :])
    better = np.tri(len(boxes), k=-1, dtype=bool)   # [j, i]: i scored above j
    return (holds & better).any(1)


class LayerDetections:
    """The detector's post-processing in numpy on raw ``box_encodings`` / ``class_logits``.

    Args:
        cfg: the model's config (anchors, box coder, NMS settings; sigmoid scores).
        nested: ``(iou, cover)``: after the NMS, drop the boxes that hold a better one
            (:func:`nested`); None: the model's NMS alone.
    """

    def __init__(self, cfg, nested: Optional[Tuple[float, float]] = None):
        self.cfg = cfg
        self.nested = nested
        size = tuple(cfg.model.input_size)
        self.anchors = generate_anchors(cfg.model.anchors, size)
        self.layers = anchor_layers(cfg.model.anchors, size)

    def __call__(self, codes: np.ndarray, logits: np.ndarray, image_size: Tuple[int, int],
                 offsets: Sequence[float] = (0.0,) * 6,
                 min_score: Optional[float] = None) -> Dict[str, np.ndarray]:
        """Detections of one image: ``boxes`` (x0, y0, x1, y1 pixels of ``image_size``),
        ``scores``, ``layers``, with ``offsets[l]`` added to layer l's person logits.

        ``min_score`` keeps only the candidates scoring at least that before the NMS: a box
        is suppressed only by a better-scored one, so the detections at or above it are the
        same (while fewer than ``pre_nms_top_k`` / ``max_detections`` pass), at a fraction of
        the cost. Tuning the F1 at 0.5 needs no more."""
        pp = self.cfg.postprocess
        logit = logits[:, 1] + np.asarray(offsets, np.float32)[self.layers]
        scores = 1.0 / (1.0 + np.exp(-logit))
        if min_score is not None:
            candidates = np.nonzero(scores >= min_score)[0]
            if not len(candidates):
                return {"boxes": np.zeros((0, 4), np.float32),
                        "scores": np.zeros(0, np.float32), "layers": np.zeros(0, np.int32)}
        else:
            candidates = np.arange(len(scores))
        k = min(pp.pre_nms_top_k, len(candidates))
        top = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
        top = top[np.argsort(-scores[top], kind="stable")]
        boxes = np.clip(decode(codes[top], self.anchors[top], self.cfg.model.box_scale_factors),
                        0.0, 1.0)
        ok = scores[top] > pp.score_threshold
        top, boxes = top[ok], boxes[ok]
        keep = nms(boxes, scores[top], pp.iou_threshold, pp.max_detections)
        if self.nested is not None:
            keep = keep[~nested(boxes[keep], *self.nested)]
        h, w = image_size
        yxyx = boxes[keep] * np.array([h, w, h, w], np.float32)
        return {"boxes": yxyx[:, [1, 0, 3, 2]], "scores": scores[top][keep],
                "layers": self.layers[top][keep]}


def layer_table(detections: List[Dict[str, np.ndarray]], gt_boxes: List[np.ndarray],
                image_sizes: List[Tuple[int, int]], threshold: float = 0.5,
                large: float = 0.5) -> List[Dict]:
    """Per layer, the people found and the false detections at ``threshold``, how many false
    ones cover more than ``large`` of their frame, and how many of those are duplicates: their
    best-overlapping person (IoU under 0.5, else they would be found) is found by another
    detection, so the box is a second, too-large box of a person already there."""
    rows = {}
    for det, gt, (h, w) in zip(detections, gt_boxes, image_sizes):
        found = match_detections(det["boxes"], det["scores"], gt)
        kept = det["scores"] >= threshold
        area = ((det["boxes"][:, 2] - det["boxes"][:, 0]) *
                (det["boxes"][:, 3] - det["boxes"][:, 1])) / float(h * w)
        duplicate = np.zeros(len(found), bool)
        if len(gt) and (found & kept).any():
            person_found = (iou_matrix(det["boxes"][found & kept], gt) >= 0.5).any(0)
            overlap = iou_matrix(det["boxes"], gt)
            duplicate = (overlap.max(1) > 0) & person_found[overlap.argmax(1)]
        for layer in range(6):
            r = rows.setdefault(layer, {"layer": layer, "found": 0, "false": 0,
                                        "false_large": 0, "false_large_duplicate": 0})
            sel = kept & (det["layers"] == layer)
            r["found"] += int((found & sel).sum())
            r["false"] += int((~found & sel).sum())
            r["false_large"] += int((~found & sel & (area > large)).sum())
            r["false_large_duplicate"] += int((~found & sel & (area > large) & duplicate).sum())
    return [rows[k] for k in sorted(rows)]


def f1_at(detections: List[Dict[str, np.ndarray]], gt_boxes: List[np.ndarray],
          threshold: float = 0.5, image_sizes: Optional[List[Tuple[int, int]]] = None,
          large_false_cost: float = 1.0, large: float = 0.5) -> Tuple[float, int, int]:
    """F1, people found and false detections at ``threshold`` over all images.

    With ``image_sizes``, a false detection covering more than ``large`` of its frame counts
    ``large_false_cost`` times in the F1 (not in the returned count): a frame-sized false
    person lays its mask over the whole overlay, on every frame of a scene, so it costs a user
    more than a small one.
    """
    tp = fp = people = 0
    weighted = 0.0
    for i, (det, gt) in enumerate(zip(detections, gt_boxes)):
        kept = det["scores"] >= threshold
        found = match_detections(det["boxes"][kept], det["scores"][kept], gt)
        tp += int(found.sum())
        fp += int((~found).sum())
        weighted += float((~found).sum())
        if image_sizes is not None and large_false_cost != 1.0:
            h, w = image_sizes[i]
            b = det["boxes"][kept]
            area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) / float(h * w)
            weighted += (large_false_cost - 1.0) * float((~found & (area > large)).sum())
        people += len(gt)
    precision, recall = tp / max(tp + weighted, 1e-12), tp / max(people, 1)
    return 2 * precision * recall / max(precision + recall, 1e-12), tp, fp
