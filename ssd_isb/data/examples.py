"""One training or validation example from an image record (numpy + OpenCV, TF-free).

record -> decoded image and instance masks -> augmentation (training) or plain resize ->
boxes from masks, degenerate boxes dropped -> anchor targets -> fixed-size arrays.
"""

from __future__ import annotations

from typing import Dict, Optional

import cv2
import numpy as np

from ..core.anchors import generate_anchors
from ..config import Config, mask_target_stride
from ..core.boxes import center_to_corners, iou_matrix, pixels_to_normalized
from ..runtime.image_io import read_image
from .augment import InstancePool, Sample, augment, masks_to_boxes, resize
from .coco import ImageRecord
from .targets import encode_targets


def jitter_boxes(boxes: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Normalized yxyx boxes with each edge moved by up to ``amount`` x the box's size
    (uniform), kept non-empty and inside the image."""
    if not len(boxes):
        return boxes
    size = np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, axis=1)
    moved = boxes + rng.uniform(-amount, amount, boxes.shape).astype(np.float32) * size
    lo = np.clip(np.minimum(moved[:, :2], moved[:, 2:]), 0.0, 1.0)
    hi = np.clip(np.maximum(moved[:, :2], moved[:, 2:]), 0.0, 1.0)
    hi = np.maximum(hi, np.minimum(lo + 1e-3, 1.0))
    return np.concatenate([lo, hi], axis=1).astype(np.float32)


def anchor_boxes(boxes: np.ndarray, anchor_corners: np.ndarray) -> np.ndarray:
    """Each normalized yxyx box replaced by its best-IoU default anchor (clipped to the image):
    the crop source of ``isb.crop_source: anchors`` (thesis 3.1.4)."""
    if not len(boxes):
        return boxes
    best = iou_matrix(boxes, anchor_corners).argmax(1)
    return np.clip(anchor_corners[best], 0.0, 1.0).astype(np.float32)


class ExampleMaker:
    """Builds model-ready examples for one config.

    Args:
        cfg: experiment config (input size, anchors, data and augmentation settings).
        training: augment (crop, flip, copy-paste, photometric) when True.
    """

    def __init__(self, cfg: Config, training: bool):
        self.cfg = cfg
        self.training = training
        self.size = tuple(cfg.model.input_size)
        self.anchors = generate_anchors(cfg.model.anchors, self.size)
        self.anchor_corners = center_to_corners(self.anchors)
        self.pool = InstancePool() if training and cfg.data.augment.copy_paste else None

    def load(self, record: ImageRecord) -> Sample:
        """Decode a record's image (BGR) and masks; raises ImageError if unreadable."""
        image = read_image(record.path)
        h, w = image.shape[:2]
        masks = [record.instance_mask(i) for i in record.persons]
        masks = [m if m.shape == (h, w) else cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST)
                 for m in masks]
        sx, sy = w / max(record.width, 1), h / max(record.height, 1)
        crowd = np.array([c.box * np.array([sx, sy, sx, sy]) for c in record.crowds],
                         np.float32).reshape(-1, 4)
        weights = np.array([i.mask_weight for i in record.persons], np.float32)
        return Sample(image, np.stack(masks) if masks else np.zeros((0, h, w), np.uint8), crowd,
                      weights)

    def make(self, record: ImageRecord, rng: Optional[np.random.Generator] = None,
             index: int = 0) -> Dict[str, np.ndarray]:
        """Example dict: ``image`` RGB float32, ``gt_boxes``, ``gt_valid``, ``gt_masks``,
        ``gt_mask_weights``, ``cls_targets``, ``box_targets``, ``record_index``."""
        sample = self.load(record)
        if self.training:
            sample = augment(sample, self.cfg.data.augment, rng or np.random.default_rng(),
                             self.size, self.pool)
        else:
            sample = resize(sample, self.size)
        return self.finish(sample, index, rng if self.training else None)

    def finish(self, sample: Sample, index: int,
               rng: Optional[np.random.Generator] = None) -> Dict[str, np.ndarray]:
        """Boxes, masks and targets of a sample already at the input size.

        ``gt_boxes`` feed only the ISB windows (detection targets are encoded here, from every
        box); with ``rng`` and ``data.augment.window_jitter`` they are jittered like predicted
        boxes. ``gt_mask_weights`` is each box's mask-loss weight: 0 for a box-only person
        (its ``gt_masks`` entry is then all zero) and for padding.
        """
        h, w = self.size
        d = self.cfg.data
        boxes = masks_to_boxes(sample.masks)
        big = ((boxes[:, 2] - boxes[:, 0]) >= d.min_box_pixels) & (
            (boxes[:, 3] - boxes[:, 1]) >= d.min_box_pixels)
        masks, boxes, weights = sample.masks[big], boxes[big], sample.weights[big]
        if len(boxes) > d.max_boxes:  # keep the largest; the rest only become ignore regions
            order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
            extra = boxes[order[d.max_boxes:]]
            sample = Sample(sample.image, sample.masks, np.concatenate([sample.ignore, extra]))
            masks, boxes = masks[order[:d.max_boxes]], boxes[order[:d.max_boxes]]
            weights = weights[order[:d.max_boxes]]
        norm = pixels_to_normalized(boxes, (h, w))
        ignore = pixels_to_normalized(sample.ignore, (h, w)) if len(sample.ignore) else None
        cls_t, box_t = encode_targets(norm, np.ones(len(norm), np.int32), self.anchors,
                                      self.anchor_corners, ignore,
                                      self.cfg.model.box_scale_factors)
        g = d.max_boxes
        gt_boxes = np.zeros((g, 4), np.float32)
        if self.cfg.isb.crop_source == "anchors":  # crops at the matched default anchors
            gt_boxes[:len(norm)] = anchor_boxes(norm, self.anchor_corners)
        else:
            gt_boxes[:len(norm)] = jitter_boxes(norm, d.augment.window_jitter, rng) \
                if rng is not None and d.augment.window_jitter > 0 else norm
        gt_valid = np.zeros(g, np.float32)
        gt_valid[:len(norm)] = 1
        stride = mask_target_stride(self.cfg.train, self.cfg.isb)
        mh, mw = h // stride, w // stride
        gt_masks = np.zeros((g, mh, mw), np.float32)
        gt_weights = np.zeros(g, np.float32)
        gt_weights[:len(weights)] = weights
        for i, m in enumerate(masks):
            if weights[i] > 0:
                gt_masks[i] = cv2.resize(m.astype(np.float32), (mw, mh),
                                         interpolation=cv2.INTER_AREA)
        image = cv2.cvtColor(sample.image, cv2.COLOR_BGR2RGB).astype(np.float32)
        return {"image": image, "gt_boxes": gt_boxes, "gt_valid": gt_valid, "gt_masks": gt_masks,
                "gt_mask_weights": gt_weights, "cls_targets": cls_t, "box_targets": box_t,
                "record_index": np.int32(index)}
