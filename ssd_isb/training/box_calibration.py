"""Box-encoding calibration: remove the systematic box offset of the zoo detector at 320x320.

The zoo SSD was trained at 300x300. There, 'SAME' padding of the stride-2 convs (300 -> 150 ->
75 -> 38 -> 19 -> 10) puts each feature cell a few pixels from its anchor's centre, and the box
regression learned that offset. At 320x320 every map halves evenly (320 -> ... -> 20 -> 10),
the cells sit elsewhere relative to the anchors, and the regression's learned offset no longer
fits: on the dev split the boxes of the frozen detector come out shifted left and up and a few
per cent too wide (left edge -9.5 % of the person's width, top -5.6 %, against +-0.5 % for the
zoo model at 300; median IoU with the matched person 0.72 against 0.81). Masks inherit it: the
mask window and the mask's box limit both come from the box.

The fix is in the box predictors' biases. For every SSD layer and anchor type, the median
residual ``target code - predicted code`` over the positive anchors of the training images is
the offset the regression misses at this input size; adding it to the
``BoxPredictor_k_BoxEncodingPredictor`` bias of that anchor type's four channels removes it.
The median, not a gradient step, because the offset is one constant per anchor type and a
few thousand people measure it exactly, without touching any weight the features depend on:
the branches see the same features, scores and ranking stay as they were.
"""

from __future__ import annotations

import logging
from typing import Dict, List

import numpy as np

from ..core.anchors import anchors_per_layer, feature_map_sizes
from ..config import Config

log = logging.getLogger("ssd_isb.train")

CODES = ("ty", "tx", "th", "tw")


def anchor_groups(cfg: Config) -> np.ndarray:
    """For each anchor (in the model's order: layer, y, x, anchor), its group ``layer * 16 +
    anchor type``; groups index the ``BoxEncodingPredictor`` bias channels ``4 * type + code``."""
    per_layer = anchors_per_layer(cfg.model.anchors)
    sizes = feature_map_sizes(cfg.model.input_size, len(per_layer))
    groups = [np.tile(np.arange(n) + 16 * k, h * w) for k, ((h, w), n) in
              enumerate(zip(sizes, per_layer))]
    return np.concatenate(groups)


def encoding_residuals(detector, examples, groups: np.ndarray, batch_size: int = 16
                       ) -> Dict[int, np.ndarray]:
    """``target - predicted`` box codes of every positive anchor, by anchor group.

    Args:
        detector: the Keras detector (``box_encodings`` output).
        examples: iterable of dicts with ``image``, ``cls_targets``, ``box_targets`` (the
            validation-mode :class:`~ssd_isb.data.pipeline.ExampleStream`: no augmentation).
        groups: :func:`anchor_groups`.
        batch_size: images per detector call.
    """
    out: Dict[int, List[np.ndarray]] = {}

    def flush(batch):
        images = np.stack([b["image"] for b in batch])
        codes = np.asarray(detector(images, training=False)["box_encodings"])
        for b, pred in zip(batch, codes):
            pos = np.asarray(b["cls_targets"]) > 0
            if pos.shape[0] != groups.shape[0]:
                raise ValueError(f"{pos.shape[0]} anchor targets, {groups.shape[0]} anchors")
            res = np.asarray(b["box_targets"])[pos] - pred[pos]
            for g in np.unique(groups[pos]):
                out.setdefault(int(g), []).append(res[groups[pos] == g])

    batch = []
    for ex in examples:
        batch.append(ex)
        if len(batch) == batch_size:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    return {g: np.concatenate(v) for g, v in out.items()}


def bias_offsets(residuals: Dict[int, np.ndarray], min_count: int = 30) -> Dict[int, np.ndarray]:
    """Median residual (4 codes) of each group with at least ``min_count`` positive anchors;
    rarer groups (the 1x1 and 2x2 maps' largest anchors) keep their bias."""
    return {g: np.median(r, axis=0) for g, r in residuals.items() if len(r) >= min_count}


def apply_offsets(detector, offsets: Dict[int, np.ndarray]) -> None:
    """Add each group's offset to its four ``BoxEncodingPredictor`` bias channels."""
    layers: Dict[int, Dict[int, np.ndarray]] = {}
    for g, off in offsets.items():
        layers.setdefault(g // 16, {})[g % 16] = off
    for k, per_type in layers.items():
        layer = detector.get_layer(f"BoxPredictor_{k}_BoxEncodingPredictor")
        kernel, bias = layer.get_weights()
        bias = bias.copy()
        for a, off in per_type.items():
            bias[4 * a:4 * a + 4] += off.astype(bias.dtype)
        layer.set_weights([kernel, bias])


def calibrate_box_encoding(model, cfg: Config, records, batch_size: int = 16,
                           min_count: int = 30, seed: int = 0) -> Dict:
    """Measure and remove the detector's box-code offsets on ``records`` (in place).

    Returns:
        Report: per group the positive count and the median residual before and after, as
        ``{"layer k / anchor a": {...}}``, plus the totals.
    """
    from ..data.pipeline import ExampleStream

    stream = ExampleStream(records, cfg, training=False, seed=seed)
    before = encoding_residuals(model.detector, stream, anchor_groups(cfg), batch_size)
    offsets = bias_offsets(before, min_count)
    apply_offsets(model.detector, offsets)
    # The offset is added to every prediction of its group, so the residuals after it are the
    # ones before minus it: no second pass over the images.
    after = {g: r - offsets.get(g, 0.0) for g, r in before.items()}
    report: Dict = {"groups": {}, "positives": int(sum(len(r) for r in before.values())),
                    "corrected_groups": len(offsets)}
    for g in sorted(before):
        report["groups"][f"layer {g // 16} / anchor {g % 16}"] = {
            "positives": int(len(before[g])),
            "median_before": dict(zip(CODES, np.median(before[g], 0).round(4).tolist())),
            "offset": dict(zip(CODES, np.asarray(offsets.get(g, np.zeros(4))).round(4).tolist())),
            "median_after": dict(zip(CODES, np.median(after[g], 0).round(4).tolist()))}
    pooled_before = np.concatenate(list(before.values()))
    pooled_after = np.concatenate(list(after.values()))
    report["mean_abs_residual_before"] = dict(zip(CODES, np.abs(pooled_before).mean(0)
                                                  .round(4).tolist()))
    report["mean_abs_residual_after"] = dict(zip(CODES, np.abs(pooled_after).mean(0)
                                                 .round(4).tolist()))
    log.info("box calibration: %d positive anchors in %d groups, %d corrected; mean |residual| "
             "%s -> %s", report["positives"], len(before), len(offsets),
             report["mean_abs_residual_before"], report["mean_abs_residual_after"])
    return report


def summary_line(report: Dict) -> str:
    """One line: how much the box codes moved and where the model went."""
    before, after = report["mean_abs_residual_before"], report["mean_abs_residual_after"]
    codes = ", ".join(f"{c} {before[c]:.3f} -> {after[c]:.3f}" for c in CODES)
    return (f"{report['corrected_groups']} anchor types corrected from {report['positives']} "
            f"positive anchors; mean |code residual| {codes} -> {report['model']}")
