"""Pseudo-labels: person masks for unlabeled frames and images, from a trained model itself.

A second training round can learn from pictures nobody annotated (the frames of a video, a
folder of photos) if only the teacher's surest masks are kept. A detection becomes a label when

* its score is at least ``min_score``,
* the teacher agrees with itself under a horizontal flip: the flipped image gives a box at IoU
  ``>= 0.7`` whose mask, flipped back, overlaps this one at mask IoU ``>= min_flip_iou`` (a mask
  that moves when the picture is mirrored is a guess, not a label), and
* the person is at least ``min_height`` pixels tall (the branches' small-person masks are the
  weakest, docs/results/mask_analysis_release4_fp32.md).

Every other detection at ``ignore_score`` or above becomes an ``iscrowd`` region, so it is
neither a label nor background. Images where nothing was kept are left out: their people are
unknown. The output is a COCO annotations file (compressed RLE masks) plus the images, which a
config lists as one more ``data.train`` entry. TF-free: runs on any exported model.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..utils.errors import UsageError, check_range
from ..core.boxes import iou_matrix, xyxy_to_xywh
from ..runtime.coco_results import box_mask
from ..runtime.result import Segmentation
from ..runtime.rle import encode_mask, mask_area

FLIP_BOX_IOU = 0.7


@dataclasses.dataclass(frozen=True)
class PseudoLabelSettings:
    """Which of the teacher's detections become labels (see the module docstring)."""

    min_score: float = 0.7
    min_flip_iou: float = 0.8
    min_height: float = 32.0
    ignore_score: float = 0.3

    def __post_init__(self) -> None:
        check_range("--min-score", self.min_score, 0.0, 1.0)
        check_range("--min-flip-iou", self.min_flip_iou, 0.0, 1.0)
        check_range("--min-height", self.min_height, 0.0)
        check_range("--ignore-score", self.ignore_score, 0.0, 1.0)
        if self.ignore_score > self.min_score:
            raise UsageError(f"--ignore-score {self.ignore_score} is above --min-score "
                             f"{self.min_score}: a kept label would also be ignored")


@dataclasses.dataclass
class LabelCounts:
    """What the labeller saw and kept."""

    images: int = 0
    images_kept: int = 0
    unreadable: int = 0
    detections: int = 0
    kept: int = 0
    ignored: int = 0
    rejected_flip: int = 0
    rejected_small: int = 0


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boolean masks of one shape (0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def unflip(result: Segmentation) -> Tuple[np.ndarray, np.ndarray]:
    """Boxes and masks of a horizontally flipped image's result, mapped back to the original."""
    w = result.image_size[1]
    boxes = result.boxes.copy()
    boxes[:, [0, 2]] = w - result.boxes[:, [2, 0]]
    return boxes, result.masks[:, :, ::-1]


def flip_agreement(result: Segmentation, flipped: Segmentation) -> np.ndarray:
    """For each detection of ``result``, the mask IoU with its partner in the flipped image's
    result (the box at IoU >= 0.7 with the highest IoU); 0 when there is none."""
    out = np.zeros(len(result), np.float32)
    if not len(result) or not len(flipped):
        return out
    boxes, masks = unflip(flipped)
    ious = iou_matrix(result.boxes, boxes)
    for i in range(len(result)):
        j = int(np.argmax(ious[i]))
        if ious[i, j] >= FLIP_BOX_IOU and result.has_mask[i] and flipped.has_mask[j]:
            out[i] = mask_iou(result.masks[i], masks[j])
    return out


def select(result: Segmentation, agreement: np.ndarray, settings: PseudoLabelSettings,
           counts: LabelCounts) -> Tuple[List[int], List[int]]:
    """Indices of the detections kept as labels and of those made ignore regions."""
    kept, ignored = [], []
    for i, score in enumerate(result.scores.tolist()):
        if score < settings.ignore_score:
            continue
        counts.detections += 1
        height = float(result.boxes[i, 3] - result.boxes[i, 1])
        if score >= settings.min_score and agreement[i] >= settings.min_flip_iou \
                and height >= settings.min_height:
            kept.append(i)
            continue
        if score >= settings.min_score:
            if agreement[i] < settings.min_flip_iou:
                counts.rejected_flip += 1
            else:
                counts.rejected_small += 1
        ignored.append(i)
    counts.kept += len(kept)
    counts.ignored += len(ignored)
    return kept, ignored


def annotation(result: Segmentation, index: int, crowd: bool, image_id: int,
               ann_id: int) -> Dict:
    """One COCO annotation from detection ``index``; an ignore region without a mask is its box."""
    mask = result.masks[index]
    if not result.has_mask[index] or not mask.any():
        mask = box_mask(result.boxes[index], result.image_size)
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": int(crowd),
            "bbox": [round(float(v), 2) for v in xyxy_to_xywh(result.boxes[index])],
            "area": mask_area(mask), "segmentation": encode_mask(mask),
            "score": round(float(result.scores[index]), 4)}


def video_frames(path: str, every: int) -> Iterator[Tuple[str, np.ndarray]]:
    """``(name, BGR frame)`` for every ``every``-th frame of a video file; ends at the first
    frame the decoder cannot deliver (a truncated file ends the video, it does not fail it)."""
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise UsageError(f"{path}: cannot open this video file")
    stem = os.path.splitext(os.path.basename(path))[0]
    index = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok or frame is None:
                return
            if index % every == 0:
                yield f"{stem}_{index:05d}.jpg", frame
            index += 1
    finally:
        cap.release()


class PseudoLabeller:
    """Collects pseudo-labelled images into one COCO dataset.

    Args:
        segmenter: the teacher (a :class:`~ssd_isb.runtime.Segmenter`, score threshold at or
            below ``settings.ignore_score``).
        settings: what becomes a label.
        images_dir: where kept images are written (JPEG, quality 95); None: not written (the
            caller's images are already on disk under their names).
    """

    def __init__(self, segmenter, settings: PseudoLabelSettings,
                 images_dir: Optional[str] = None):
        if segmenter.score_threshold > settings.ignore_score:
            raise UsageError(f"the teacher drops detections below {segmenter.score_threshold}, "
                             f"above --ignore-score {settings.ignore_score}")
        self.segmenter = segmenter
        self.settings = settings
        self.images_dir = images_dir
        self.counts = LabelCounts()
        self.images: List[Dict] = []
        self.annotations: List[Dict] = []

    def add(self, name: str, image: np.ndarray) -> int:
        """Label one BGR image; returns how many people were kept as labels."""
        self.counts.images += 1
        result = self.segmenter(image)
        flipped = self.segmenter(np.ascontiguousarray(image[:, ::-1]))
        kept, ignored = select(result, flip_agreement(result, flipped), self.settings,
                               self.counts)
        if not kept:
            return 0
        image_id = len(self.images) + 1
        h, w = image.shape[:2]
        self.images.append({"id": image_id, "file_name": name, "width": w, "height": h})
        for crowd, indices in ((False, kept), (True, ignored)):
            for i in indices:
                self.annotations.append(annotation(result, i, crowd, image_id,
                                                   len(self.annotations) + 1))
        if self.images_dir is not None:
            path = os.path.join(self.images_dir, name)
            if not cv2.imwrite(path, image, [cv2.IMWRITE_JPEG_QUALITY, 95]):
                raise UsageError(f"{path}: cannot write this image")
        self.counts.images_kept += 1
        return len(kept)

    def dataset(self, info: Optional[Dict] = None) -> Dict:
        """The COCO annotations file's content."""
        return {"info": dict(info or {}, counts=dataclasses.asdict(self.counts),
                             settings=dataclasses.asdict(self.settings)),
                "images": self.images, "annotations": self.annotations,
                "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}


def teacher_info(segmenter, sources: Sequence[str]) -> Dict:
    """Provenance written into the annotations file."""
    return {"description": "ssd-isb pseudo-labels", "teacher": os.path.basename(segmenter.path),
            "mask_threshold_logit": segmenter.mask_threshold,
            "mask_box_margin": segmenter.mask_box_margin, "sources": list(sources)}
