"""A :class:`Segmentation` as COCO results entries (TF-free, no pycocotools needed)."""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from ..core.boxes import xyxy_to_xywh
from .result import Segmentation
from .rle import encode_mask

COCO_PERSON_ID = 1


def box_mask(box, image_size) -> np.ndarray:
    """The filled box as a mask: the honest floor every mask branch has to beat."""
    h, w = image_size
    out = np.zeros((h, w), bool)
    x0, y0, x1, y1 = box
    out[max(int(np.floor(y0)), 0):min(int(np.ceil(y1)), h),
        max(int(np.floor(x0)), 0):min(int(np.ceil(x1)), w)] = True
    return out


def with_box_masks(result: Segmentation) -> Segmentation:
    """The same detections with each filled box as its mask."""
    import dataclasses

    masks = np.stack([box_mask(b, result.image_size) for b in result.boxes]) if len(result) \
        else result.masks
    return dataclasses.replace(result, masks=masks, has_mask=np.ones(len(result), bool))


def to_coco_results(result: Segmentation, image_id: Optional[int] = None,
                    file_name: Optional[str] = None, category_ids: Optional[Dict[str, int]] = None,
                    box_masks: bool = False) -> List[Dict]:
    """One COCO result per instance: ``bbox`` (x, y, w, h px), ``score``, ``category_id``,
    ``segmentation`` (compressed RLE), plus ``image_id`` and ``file_name`` when given.

    Args:
        result: the segmentation.
        image_id, file_name: identify the image.
        category_ids: class name -> COCO category id (default: person = 1, others by index).
        box_masks: use each filled box as its mask instead of the predicted one.
    """
    out = []
    xywh = xyxy_to_xywh(result.boxes)
    for i in range(len(result)):
        name = result.labels[i]
        cat = (category_ids or {}).get(name, COCO_PERSON_ID if name == "person"
                                       else int(result.class_ids[i]))
        mask = box_mask(result.boxes[i], result.image_size) if box_masks else result.masks[i]
        entry = {"category_id": int(cat), "bbox": [float(v) for v in xywh[i]],
                 "score": float(result.scores[i]), "segmentation": encode_mask(mask)}
        if image_id is not None:
            entry["image_id"] = int(image_id)
        if file_name is not None:
            entry["file_name"] = file_name
        out.append(entry)
    return out
