"""COCO-format person datasets through pycocotools (TF-free).

Loads the person annotations of a COCO json (polygons, RLE and uncompressed RLE), keeps
``iscrowd`` regions apart (they are ignored in anchor matching, never used as negatives), skips
and counts degenerate annotations and images missing on disk, and keeps images without persons
as negatives. Per-instance PNG datasets (Penn-Fudan layout) load through :mod:`.convert`.
"""

from __future__ import annotations

import json
import math
import os
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..utils.errors import SSDISBError
from ..core.boxes import pixels_to_normalized, xywh_to_xyxy


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
    # Weight of this person's mask in the mask loss; 0: no mask (a box-only annotation, which
    # trains the detector alone).
    mask_weight: float = 1.0

    @property
    def has_mask(self) -> bool:
        """Whether the mask loss sees this person."""
        return self.mask_weight > 0


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
        """Decode one instance's mask at the original image size (uint8 0/1 [H, W]); a
        box-only person's is its filled box (geometry moves it like a mask; its weight keeps
        it out of the mask loss)."""
        if inst.mask is not None:
            return inst.mask.astype(np.uint8)
        if not inst.has_mask:
            return box_mask_pixels(inst.box, self.height, self.width)
        return decode_segmentation(inst.segmentation, self.height, self.width)


def box_mask_pixels(box: np.ndarray, height: int, width: int) -> np.ndarray:
    """The pixels of an (x0, y0, x1, y1) box, edges rounded to the nearest pixel boundary, as a
    uint8 0/1 [H, W] mask (at least one pixel)."""
    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    x0, y0 = min(max(x0, 0), width - 1), min(max(y0, 0), height - 1)
    x1, y1 = max(min(x1, width), x0 + 1), max(min(y1, height), y0 + 1)
    out = np.zeros((height, width), np.uint8)
    out[y0:y1, x0:x1] = 1
    return out


def nested_crowds(boxes: np.ndarray, nesting: int, inside: float = 0.8) -> np.ndarray:
    """Which (x0, y0, x1, y1) boxes hold at least ``nesting`` other boxes, each with at least
    ``inside`` of its area within: the crowd regions of a box-only dataset that drew them as
    ordinary boxes. On COCO's own labels (iscrowd known: the six COCO files in
    ``../shared/data``) ``nesting=3`` finds 42 of their 50 crowd regions and wrongly marks 23
    of their 2,846 persons."""
    n = len(boxes)
    if n <= nesting:
        return np.zeros(n, bool)
    lo = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
    hi = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)  # [outer, inner]
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=-1)
    held = inter >= inside * np.maximum(area[None, :], 1e-9)
    np.fill_diagonal(held, False)
    return held.sum(1) >= nesting


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
    box_only: int = 0  # persons without a mask (they train the detector only)
    crowd: int = 0
    skipped_degenerate: int = 0
    skipped_missing_images: int = 0
    skipped_split: int = 0

    def __add__(self, other: "LoadReport") -> "LoadReport":
        return LoadReport(**{k: getattr(self, k) + getattr(other, k) for k in self.__dict__})

    def line(self) -> str:
        return (f"{self.images} images ({self.negatives} without persons), {self.persons} "
                f"persons ({self.box_only} of them box-only), {self.crowd} crowd regions; "
                f"skipped {self.skipped_degenerate} "
                f"degenerate annotations, {self.skipped_missing_images} missing images")


def read_coco_json(path: str, scoring: bool = False) -> Dict:
    """Read and check a COCO annotation file (one clear error if it is not one); ``scoring``:
    it is ground truth to score against (annotation ids and areas required)."""
    if not os.path.exists(path):
        raise DatasetError(f"{path}: no such annotation file")
    if os.path.isdir(path):
        raise DatasetError(f"{path}: is a folder, not a COCO annotation file (.json)")
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path}: not JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(data, dict) or not all(k in data for k in ("images", "annotations")):
        raise DatasetError(f"{path}: not a COCO annotation file (needs 'images' and "
                           f"'annotations')")
    check_coco_structure(data, path, require_area=scoring, require_ids=scoring)
    return data


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite(v) -> bool:
    return _number(v) and math.isfinite(v)


def check_coco_structure(data: Dict, path: str, require_area: bool = False,
                         require_ids: bool = False) -> None:
    """The fields every reader here indexes, checked once before any work: each image a
    dict with a unique numeric ``id``, a ``file_name`` and (when given) a positive height and
    width; each annotation a dict with a numeric ``image_id``, a finite ``bbox`` of four
    numbers with a non-negative size, a unique numeric ``id``, a non-negative numeric
    ``area`` and an ``iscrowd`` of 0 or 1 where they are given. Each once ended in a
    traceback deep inside a reader or pycocotools, or in a wrong figure without a word.

    Args:
        data: the parsed file.
        path: its name, for the messages.
        require_area: ``area`` must be there (COCO scoring needs it).
        require_ids: annotation ``id`` must be there (COCO scoring needs it).

    Raises:
        DatasetError: one line naming the file, the entry and the key.
    """
    for key in ("images", "annotations"):
        if not isinstance(data[key], list):
            raise DatasetError(f"{path}: '{key}' must be a list, got {type(data[key]).__name__}")
    for i, im in enumerate(data["images"]):
        if not isinstance(im, dict):
            raise DatasetError(f"{path}: images[{i}] must be an object with 'id' and "
                               f"'file_name', got {type(im).__name__} {str(im)[:40]!r}")
        if not _number(im.get("id")):
            raise DatasetError(f"{path}: images[{i}] ({im.get('file_name')}): 'id' must be a "
                               f"number, got {im.get('id')!r}")
        if not isinstance(im.get("file_name"), str):
            raise DatasetError(f"{path}: images[{i}] (id {im['id']}): 'file_name' missing or "
                               f"not a string")
        for key in ("height", "width"):
            if key in im and not (_finite(im[key]) and im[key] > 0):
                raise DatasetError(f"{path}: image {im['id']} ({im['file_name']}): '{key}' "
                                   f"must be a positive number, got {im[key]!r}")
    image_ids = [im["id"] for im in data["images"]]
    if len(set(image_ids)) != len(image_ids):
        dup = next(i for i in image_ids if image_ids.count(i) > 1)
        raise DatasetError(f"{path}: image id {dup} is used by more than one image (ids must "
                           f"be unique)")
    seen = set()
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            raise DatasetError(f"{path}: annotations[{i}] must be an object, got "
                               f"{type(ann).__name__}")
        where = f"{path}: annotation {ann.get('id', f'[{i}]')} (image {ann.get('image_id')})"
        if not _number(ann.get("image_id")):
            raise DatasetError(f"{where}: 'image_id' must be a number, got "
                               f"{ann.get('image_id')!r}")
        box = ann.get("bbox")
        if not (isinstance(box, list) and len(box) == 4 and all(_number(v) for v in box)):
            raise DatasetError(f"{where}: 'bbox' must be [x, y, width, height], got {box!r}")
        if not all(math.isfinite(v) for v in box) or box[2] < 0 or box[3] < 0:
            raise DatasetError(f"{where}: 'bbox' {box} must be finite with a non-negative "
                               f"width and height")
        if "id" in ann:
            # Scoring matches detections to annotations by id: a repeated id drops people
            # from the ground truth without a word (mask AP50 1.5 instead of 53.6).
            if not _number(ann["id"]):
                raise DatasetError(f"{where}: 'id' must be a number, got {ann['id']!r}")
            if ann["id"] in seen:
                raise DatasetError(f"{where}: 'id' {ann['id']} is used by more than one "
                                   f"annotation (ids must be unique)")
            seen.add(ann["id"])
        elif require_ids:
            raise DatasetError(f"{where}: no 'id' (scoring matches annotations by it)")
        if "area" in ann and not (_finite(ann["area"]) and ann["area"] >= 0):
            raise DatasetError(f"{where}: 'area' must be a non-negative number, got "
                               f"{ann['area']!r}")
        if require_area and "area" not in ann:
            raise DatasetError(f"{where}: no 'area' (COCO scoring sorts people into small, "
                               f"medium and large by it)")
        if "iscrowd" in ann and ann["iscrowd"] not in (0, 1, True, False):
            raise DatasetError(f"{where}: 'iscrowd' must be 0 or 1, got {ann['iscrowd']!r}")


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
              check_files: bool = True, kind: str = "masks", mask_weight: float = 1.0,
              crowd_nesting: Optional[int] = None, min_mask_weight: float = 0.0
              ) -> Tuple[List[ImageRecord], LoadReport]:
    """Person records of a COCO dataset.

    Args:
        annotations: COCO json.
        images: folder holding the ``file_name`` of each image.
        name: dataset name for reports.
        split: "all", or "train" / "val" for the two sides of the hold-out split.
        holdout_every: hold-out modulus (see :func:`is_holdout`).
        negatives: keep images without any person.
        check_files: skip (and count) images missing on disk.
        kind: "masks" (an annotation without a segmentation is degenerate), "boxes" (every
            person is box-only) or "partial" (box-only where there is no segmentation).
        mask_weight: each mask's loss weight, times the annotation's ``mask_weight`` if any.
        min_mask_weight: an annotation whose own ``mask_weight`` is below this loses its mask
            (e.g. a teacher's less confident ones: box-only).
        crowd_nesting: see :func:`nested_crowds` (None: off).

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
            seg = ann.get("segmentation") if kind != "boxes" else None
            crowd = bool(ann.get("iscrowd", 0))
            if w < 1 or h < 1 or (not seg and kind == "masks") or float(
                    ann.get("area", 1)) <= 0:
                report.skipped_degenerate += 1
                continue
            box = np.minimum(xywh_to_xyxy([x, y, w, h]), [width, height, width, height])
            own = float(ann.get("mask_weight", 1.0))
            weight = mask_weight * own if seg and own >= min_mask_weight else 0.0
            insts.append(Instance(box, seg, crowd, annotation_id=int(ann.get("id", -1)),
                                  mask_weight=weight))
        if crowd_nesting and insts:
            nested = nested_crowds(np.stack([i.box for i in insts]), crowd_nesting)
            for inst, crowd in zip(insts, nested):
                inst.iscrowd = inst.iscrowd or bool(crowd)
        for inst in insts:
            if inst.iscrowd:
                report.crowd += 1
            else:
                report.persons += 1
                report.box_only += 0 if inst.has_mask else 1
        if not any(not i.iscrowd for i in insts):
            if not negatives:
                continue
            report.negatives += 1
        report.images += 1
        records.append(ImageRecord(name, int(img["id"]), file_name, path, width, height, insts))
    return records, report


def window_shape_counts_of(records: List[ImageRecord], grid) -> Counter:
    """Encompassing-window shapes of the person boxes of records on a grid (Table 5.1)."""
    from ..core.shapes import window_shape_counts

    boxes = [pixels_to_normalized(inst.box, (r.height, r.width))
             for r in records for inst in r.persons]
    if not boxes:
        return Counter()
    return window_shape_counts(np.stack(boxes), grid)
