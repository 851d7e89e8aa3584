"""COCO-format person datasets through pycocotools (TF-free).

Loads the person annotations of a COCO json (polygons, RLE and uncompressed RLE), keeps
``iscrowd`` regions apart (they are ignored in anchor matching, never used as negatives), skips
and counts degenerate annotations and images missing on disk, and keeps images without persons
as negatives. Per-instance PNG datasets (Penn-Fudan layout) load through :mod:`.convert`.
"""

from __future__ import annotations

import json
import os
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..errors import SSDISBError
from ..runtime.boxes import pixels_to_normalized, xywh_to_xyxy


class DatasetError(SSDISBError, ValueError):
    """An annotation file or image folder is unusable; the message names it."""


@dataclass
class Instance:
    """One person annotation."""

    box: np.ndarray  # (x0, y0, x1, y1) in pixels of the original image
    segmentation: Any = None  # COCO polygons / RLE, or None with ``mask``
    iscrowd: bool = False
    mask: Optional[np.ndarray] = None  # bool [H, W] for PNG datasets
    annotation_id: int = -1


@dataclass
class ImageRecord:
    """An image and its person instances."""

    dataset: str
    image_id: int
    file_name: str
    path: str
    width: int
    height: int
    instances: List[Instance] = field(default_factory=list)

    @property
    def persons(self) -> List[Instance]:
        """Non-crowd instances."""
        return [i for i in self.instances if not i.iscrowd]

    @property
    def crowds(self) -> List[Instance]:
        """Crowd regions (ignored in matching)."""
        return [i for i in self.instances if i.iscrowd]

    def instance_mask(self, inst: Instance) -> np.ndarray:
        """Decode one instance's mask at the original image size (uint8 0/1 [H, W])."""
        if inst.mask is not None:
            return inst.mask.astype(np.uint8)
        return decode_segmentation(inst.segmentation, self.height, self.width)


def decode_segmentation(seg: Any, height: int, width: int) -> np.ndarray:
    """COCO polygons, RLE or uncompressed RLE -> uint8 [H, W]."""
    from pycocotools import mask as mask_utils

    if isinstance(seg, list):  # polygons
        rles = mask_utils.frPyObjects(seg, height, width)
        rle = mask_utils.merge(rles)
    elif isinstance(seg, dict) and isinstance(seg.get("counts"), list):
        rle = mask_utils.frPyObjects(seg, height, width)
    elif isinstance(seg, dict):
        rle = dict(seg)
        if isinstance(rle["counts"], str):
            rle["counts"] = rle["counts"].encode("ascii")
    else:
        raise DatasetError(f"unsupported segmentation {type(seg).__name__}")
    return mask_utils.decode(rle).astype(np.uint8)


def is_holdout(file_name: str, every: int) -> bool:
    """Deterministic hold-out membership: crc32 of the file name, so splits never drift."""
    return zlib.crc32(os.path.basename(file_name).encode("utf-8")) % every == 0


@dataclass
class LoadReport:
    """What loading kept and skipped."""

    images: int = 0
    negatives: int = 0
    persons: int = 0
    crowd: int = 0
    skipped_degenerate: int = 0
    skipped_missing_images: int = 0
    skipped_split: int = 0

    def __add__(self, other: "LoadReport") -> "LoadReport":
        return LoadReport(**{k: getattr(self, k) + getattr(other, k) for k in self.__dict__})

    def line(self) -> str:
        return (f"{self.images} images ({self.negatives} without persons), {self.persons} "
                f"persons, {self.crowd} crowd regions; skipped {self.skipped_degenerate} "
                f"degenerate annotations, {self.skipped_missing_images} missing images")


def read_coco_json(path: str) -> Dict:
    """Read and check a COCO annotation file (one clear error if it is not one)."""
    if not os.path.exists(path):
        raise DatasetError(f"{path}: no such annotation file")
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path}: not JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(data, dict) or not all(k in data for k in ("images", "annotations")):
        raise DatasetError(f"{path}: not a COCO annotation file (needs 'images' and "
                           f"'annotations')")
    return data


def person_category_id(data: Dict, path: str = "annotations") -> int:
    """Id of the 'person' category (COCO: 1)."""
    for cat in data.get("categories", []):
        if cat.get("name") == "person":
            return int(cat["id"])
    if not data.get("categories"):
        return 1
    raise DatasetError(f"{path}: no 'person' category")


def load_coco(annotations: str, images: str, name: str = "", split: str = "all",
              holdout_every: int = 5, negatives: bool = True,
              check_files: bool = True) -> Tuple[List[ImageRecord], LoadReport]:
    """Person records of a COCO dataset.

    Args:
        annotations: COCO json.
        images: folder holding the ``file_name`` of each image.
        name: dataset name for reports.
        split: "all", or "train" / "val" for the two sides of the hold-out split.
        holdout_every: hold-out modulus (see :func:`is_holdout`).
        negatives: keep images without any person.
        check_files: skip (and count) images missing on disk.

    Returns:
        (records, report).
    """
    data = read_coco_json(annotations)
    person = person_category_id(data, annotations)
    name = name or os.path.basename(os.path.dirname(os.path.abspath(annotations)))
    by_image: Dict[int, List[dict]] = {}
    for ann in data["annotations"]:
        if int(ann.get("category_id", -1)) == person:
            by_image.setdefault(int(ann["image_id"]), []).append(ann)
    report = LoadReport()
    records = []
    for img in data["images"]:
        file_name = img["file_name"]
        if split != "all" and is_holdout(file_name, holdout_every) != (split == "val"):
            report.skipped_split += 1
            continue
        path = os.path.join(images, file_name)
        if check_files and not os.path.exists(path):
            report.skipped_missing_images += 1
            continue
        width, height = int(img["width"]), int(img["height"])
        insts = []
        for ann in by_image.get(int(img["id"]), []):
            x, y, w, h = (float(v) for v in ann.get("bbox", (0, 0, 0, 0)))
            seg = ann.get("segmentation")
            crowd = bool(ann.get("iscrowd", 0))
            if w < 1 or h < 1 or not seg or float(ann.get("area", 1)) <= 0:
                report.skipped_degenerate += 1
                continue
            box = np.minimum(xywh_to_xyxy([x, y, w, h]), [width, height, width, height])
            insts.append(Instance(box, seg, crowd, annotation_id=int(ann.get("id", -1))))
            if crowd:
                report.crowd += 1
            else:
                report.persons += 1
        if not any(not i.iscrowd for i in insts):
            if not negatives:
                continue
            report.negatives += 1
        report.images += 1
        records.append(ImageRecord(name, int(img["id"]), file_name, path, width, height, insts))
    return records, report


def window_shape_counts_of(records: List[ImageRecord], grid) -> Counter:
    """Encompassing-window shapes of the person boxes of records on a grid (Table 5.1)."""
    from ..shapes import window_shape_counts

    boxes = [pixels_to_normalized(inst.box, (r.height, r.width))
             for r in records for inst in r.persons]
    if not boxes:
        return Counter()
    return window_shape_counts(np.stack(boxes), grid)
