"""People found at the application threshold, against the ground truth and against a peer
(a benchmark, TF-free).

COCO AP ranks every detection; a user keeps those above one threshold (0.5 here) and sees the
people they give. Issue 34's measure is that count: of the people YOLO11n-seg finds at 0.5,
how many ours finds too (matched at box IoU 0.5), beside recall and precision against exact
labels. Matching is :func:`ssd_isb.evaluation.operating_point.match_detections` (greedy by
score); crowd regions are left out of the people and never matched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, Optional, Tuple

import numpy as np

from ..evaluation.operating_point import match_detections


@dataclass
class Tally:
    """Counts of one model over frames."""

    people: int = 0  # ground-truth people (no crowd regions)
    detections: int = 0  # at or above the threshold
    found: int = 0  # ground-truth people matched
    peer_people: int = 0  # the reference's detections at the threshold
    peer_found: int = 0  # of those, matched by this model's detections
    per_frame: list = field(default_factory=list)

    def add(self, boxes: np.ndarray, scores: np.ndarray, gt: np.ndarray,
            peer: Optional[Tuple[np.ndarray, np.ndarray]] = None) -> None:
        """One frame: this model's kept boxes (pixels, corners) and scores, the people, and
        the reference's kept boxes and scores (None: no reference)."""
        found = int(match_detections(boxes, scores, gt).sum())
        self.people += len(gt)
        self.detections += len(boxes)
        self.found += found
        row = {"people": len(gt), "detections": len(boxes), "found": found}
        if peer is not None:
            # The peer's people as ground truth: which of them this model finds.
            got = int(match_detections(boxes, scores, peer[0]).sum())
            self.peer_people += len(peer[0])
            self.peer_found += got
            row["peer_found"] = got
        self.per_frame.append(row)

    def summary(self) -> Dict[str, float]:
        """recall, precision, detections a frame and, with a reference, the share of its
        people found."""
        out = {"frames": len(self.per_frame), "people": self.people,
               "detections": self.detections, "found": self.found,
               "recall": round(self.found / self.people, 4) if self.people else None,
               "precision": round(self.found / self.detections, 4) if self.detections else None}
        if self.peer_people:
            out["peer_people"] = self.peer_people
            out["share_of_peer_found"] = round(self.peer_found / self.peer_people, 4)
        return out


def count_people(models: Dict[str, Callable], frames: Iterable[Tuple[np.ndarray, np.ndarray]],
                 threshold: float = 0.5, reference: Optional[str] = None,
                 tallies: Optional[Dict[str, Tally]] = None) -> Dict[str, Dict[str, float]]:
    """Run every model on every frame and count.

    Args:
        models: name -> callable(frame) returning a ``Segmentation`` (boxes xyxy pixels, scores).
        frames: (decoded frame, ground-truth boxes [N, 4] xyxy pixels) pairs.
        threshold: the application threshold every model's detections are kept at.
        reference: the model whose kept detections the others are matched against (the peer).
        tallies: filled as frames are counted (pass one to keep the counts of a run that is
            interrupted).

    Returns:
        name -> :meth:`Tally.summary`.
    """
    if reference is not None and reference not in models:
        raise ValueError(f"reference {reference!r} is not one of the models")
    tallies = {} if tallies is None else tallies
    tallies.update({name: Tally() for name in models})
    for frame, gt in frames:
        gt = np.asarray(gt, np.float32).reshape(-1, 4)
        kept = {}
        for name, model in models.items():
            result = model(frame)
            keep = np.asarray(result.scores) >= threshold
            kept[name] = (np.asarray(result.boxes, np.float32)[keep].reshape(-1, 4),
                          np.asarray(result.scores, np.float32)[keep])
        peer = kept.get(reference) if reference else None
        # Every model's frame is added at once, so the counts never hold half a frame.
        for name, (boxes, scores) in kept.items():
            tallies[name].add(boxes, scores, gt, None if name == reference else peer)
    return {name: t.summary() for name, t in tallies.items()}


def coco_frames(annotations: str, images: str, limit: Optional[int] = None):
    """(frame, person boxes) of a COCO-format folder (crowd regions left out), in file order;
    an unreadable image is skipped and counted in ``coco_frames.skipped``."""
    import json
    import os

    from ..runtime.image_io import ImageError, read_image

    with open(annotations, encoding="utf-8") as fh:
        data = json.load(fh)
    boxes: Dict[int, list] = {}
    for a in data.get("annotations", []):
        if a.get("iscrowd"):
            continue
        x, y, w, h = a["bbox"]
        boxes.setdefault(a["image_id"], []).append([x, y, x + w, y + h])
    coco_frames.skipped = 0
    listed = sorted(data.get("images", []), key=lambda im: im["file_name"])[:limit]
    for im in listed:
        try:
            frame = read_image(os.path.join(images, im["file_name"]))
        except ImageError as e:
            coco_frames.skipped += 1
            print(f"skipped: {e}")
            continue
        yield frame, np.array(boxes.get(im["id"], []), np.float32).reshape(-1, 4)


coco_frames.skipped = 0
