"""Per-instance PNG masks (Penn-Fudan layout) -> COCO person annotations.

Each mask PNG holds 0 for background and k for the k-th person; the image of ``X_mask.png`` is
``X.jpg`` (or ``.png``/``.jpeg``) in the image folder. Masks become compressed RLE.
"""

from __future__ import annotations

import glob
import json
import os
from typing import Dict, List, Tuple

import cv2
import numpy as np

from .coco import DatasetError, ImageRecord, Instance, LoadReport, is_holdout

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def _image_for(mask_path: str, images: str) -> str:
    stem = os.path.splitext(os.path.basename(mask_path))[0]
    if stem.endswith("_mask"):
        stem = stem[:-len("_mask")]
    for ext in IMAGE_EXTENSIONS:
        candidate = os.path.join(images, stem + ext)
        if os.path.exists(candidate):
            return candidate
    raise DatasetError(f"{mask_path}: no image named {stem}.* in {images}")


def _instances(mask_path: str) -> Tuple[np.ndarray, List[np.ndarray]]:
    label = cv2.imread(mask_path, cv2.IMREAD_UNCHANGED)
    if label is None:
        raise DatasetError(f"{mask_path}: not a readable mask image")
    if label.ndim == 3:
        label = label[:, :, 0]
    masks = [label == k for k in np.unique(label) if k != 0]
    return label, masks


def load_instance_masks(masks: str, images: str, name: str = "", split: str = "all",
                        holdout_every: int = 5) -> Tuple[List[ImageRecord], LoadReport]:
    """Records of a per-instance PNG dataset (in memory, no json written)."""
    paths = sorted(glob.glob(os.path.join(masks, "*.png")))
    if not paths:
        raise DatasetError(f"{masks}: no PNG masks")
    name = name or os.path.basename(os.path.normpath(os.path.dirname(masks)))
    report = LoadReport()
    records = []
    for image_id, mask_path in enumerate(paths, start=1):
        image_path = _image_for(mask_path, images)
        file_name = os.path.basename(image_path)
        if split != "all" and is_holdout(file_name, holdout_every) != (split == "val"):
            report.skipped_split += 1
            continue
        label, inst_masks = _instances(mask_path)
        insts = []
        for m in inst_masks:
            ys, xs = np.nonzero(m)
            if len(ys) == 0:
                report.skipped_degenerate += 1
                continue
            box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
            insts.append(Instance(box, None, False, mask=m))
        report.persons += len(insts)
        report.images += 1
        report.negatives += not insts
        records.append(ImageRecord(name, image_id, file_name, image_path, label.shape[1],
                                   label.shape[0], insts))
    return records, report


def convert_instance_masks(masks: str, images: str) -> Dict:
    """Build a COCO json dict (person category 1, RLE segmentations) from instance PNGs."""
    from pycocotools import mask as mask_utils

    records, _ = load_instance_masks(masks, images)
    out = {"info": {"description": f"converted from instance masks in {masks}"},
           "images": [], "annotations": [],
           "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}
    ann_id = 1
    for rec in records:
        out["images"].append({"id": rec.image_id, "file_name": rec.file_name,
                              "width": rec.width, "height": rec.height})
        for inst in rec.instances:
            rle = mask_utils.encode(np.asfortranarray(inst.mask.astype(np.uint8)))
            x0, y0, x1, y1 = (float(v) for v in inst.box)
            out["annotations"].append({
                "id": ann_id, "image_id": rec.image_id, "category_id": 1, "iscrowd": 0,
                "bbox": [x0, y0, x1 - x0, y1 - y0], "area": float(mask_utils.area(rle)),
                "segmentation": {"size": rle["size"], "counts": rle["counts"].decode("ascii")}})
            ann_id += 1
    return out


def write_coco_json(data: Dict, path: str) -> None:
    """Write a COCO json atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)
