"""The annotated images the tuning and analysis scripts read: their arguments and image ids.

``scripts/tune_masks.py``, ``tune_score.py``, ``tune_branch_masks.py`` and ``mask_analysis.py``
all choose or measure on ``coco_person_val2017``: the training side to choose settings, the
dev split (``crc32(file name) % 5 == 0``, :func:`ssd_isb.data.coco.is_holdout`) to measure them.
"""

from __future__ import annotations

import argparse
import os
from typing import List, Optional

SPLITS = ("all", "train", "val")


def add_dataset_arguments(parser: argparse.ArgumentParser, split: str = "train") -> None:
    """Add ``--annotations``, ``--images``, ``--split`` (default ``split``) and
    ``--max-images``, defaulting to ``coco_person_val2017`` under the data root."""
    from ..config import data_root

    root = os.path.join(data_root(), "coco_person_val2017")
    parser.add_argument("--annotations", default=os.path.join(root, "annotations.json"),
                        help="COCO annotations (default: coco_person_val2017)")
    parser.add_argument("--images", default=os.path.join(root, "images"))
    parser.add_argument("--split", default=split, choices=SPLITS,
                        help="train: the training side (choose here); val: the dev split "
                             "(measure here)")
    parser.add_argument("--max-images", type=int, help="the first N images of the split")


def split_image_ids(coco_gt, split: str, max_images: Optional[int] = None) -> List[int]:
    """Sorted image ids of ``coco_gt`` on one side of the dev split (``all``: every image),
    the first ``max_images`` of them when given."""
    from ..data.coco import is_holdout

    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    ids = sorted(i for i in coco_gt.getImgIds() if split == "all" or
                 is_holdout(coco_gt.imgs[i]["file_name"], 5) == (split == "val"))
    return ids[:max_images] if max_images else ids
