"""Datasets: COCO and instance-PNG loading, conversion, splits, augmentation, targets.

:func:`load_datasets` combines the datasets of a config side ("train" or "val").
The tf.data pipeline is in :mod:`ssd_isb.data.pipeline` (imports TensorFlow).
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

from ..config import Config, DatasetSpec, resolve_data_path
from .coco import DatasetError, ImageRecord, Instance, LoadReport, load_coco
from .convert import load_instance_masks


def load_spec(spec: DatasetSpec, holdout_every: int, split: str) -> Tuple[List[ImageRecord],
                                                                          LoadReport]:
    """Records of one dataset spec; ``split`` "train"/"val"/"all" applies when the spec's own
    split is "all" only through the spec (a spec marked "train" keeps its train side)."""
    images = resolve_data_path(spec.images)
    side = spec.split if spec.split != "all" else split
    if spec.masks:
        return load_instance_masks(resolve_data_path(spec.masks), images, spec.name, side,
                                   holdout_every)
    return load_coco(resolve_data_path(spec.annotations), images, spec.name, side,
                     holdout_every, spec.negatives, kind=spec.kind,
                     mask_weight=spec.mask_weight, crowd_nesting=spec.crowd_nesting,
                     min_mask_weight=spec.min_mask_weight)


def isb_shape_subset(records: Sequence[ImageRecord], shapes, grid,
                     annotations_only: bool = False) -> List[ImageRecord]:
    """Thesis 5.1.2: keep images with a person whose encompassing window has a branch shape;
    with ``annotations_only`` also drop the other annotations of those images."""
    from ..core.encompassing import encompassing_windows
    from ..core.boxes import pixels_to_normalized

    shapes = {tuple(s) for s in shapes}
    kept = []
    for rec in records:
        persons = rec.persons
        if not persons:
            continue
        boxes = pixels_to_normalized(np.stack([p.box for p in persons]),
                                     (rec.height, rec.width))
        win = encompassing_windows(boxes, grid)
        match = [(int(h), int(w)) in shapes for h, w in win[:, 2:4]]
        if not any(match):
            continue
        if annotations_only:
            rec = ImageRecord(rec.dataset, rec.image_id, rec.file_name, rec.path, rec.width,
                              rec.height, [p for p, m in zip(persons, match) if m] + rec.crowds)
        kept.append(rec)
    return kept


def load_datasets(cfg: Config, side: str) -> Tuple[List[ImageRecord], LoadReport]:
    """All records of the config's ``data.train`` or ``data.val`` datasets, combined."""
    specs = getattr(cfg.data, side)
    records, report = [], LoadReport()
    for spec in specs:
        recs, rep = load_spec(spec, cfg.data.holdout_every, side)
        records += recs
        report = report + rep
    if cfg.data.isb_shape_subset:
        records = isb_shape_subset(records, cfg.isb.shapes, cfg.model.grid,
                                   cfg.data.isb_shape_annotations_only)
    return records, report


__all__ = ["DatasetError", "ImageRecord", "Instance", "LoadReport", "isb_shape_subset",
           "load_coco", "load_datasets", "load_instance_masks", "load_spec"]
