#!/usr/bin/env python3
"""Where the masks lose: a decomposition of mask quality on a COCO split (issue 14, step 1).

    python experiments/mask_analysis.py --model ssd_isb/zoo/ssd_isb_multi_shape_fp32.tflite \\
        --split val --output runs/analysis/ms_fp32.json --markdown runs/analysis/ms_fp32.md

For detections (score >= --score) matched to a ground-truth person at box IoU >= 0.5:

* mask IoU by ground-truth size and by branch; pixel precision and recall; mask / GT area;
* alignment: the pasted mask's centroid offset from the ground truth's (over box size), and
  the IoU after the best shift of up to 3 px;
* ceilings, each as COCO mask AP on the same images: (a) our boxes with the ground-truth masks
  of their matches, (c) resolution: every matched ground-truth mask brought down to exactly the
  grid our branch emits for its window and pasted back as the runtime pastes; and (b) our
  branches on the ground-truth boxes (the mask head given perfect detections) as mask IoU per
  ground-truth size (as AP it means little: every box has score 1);
* the runtime levers that need no training: the mask logit threshold, and masks limited to
  their detection box (plus a margin).

Needs a two-stage model (the default export) and pycocotools.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections import defaultdict
from typing import Dict, List

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = (("small", 0, 32 ** 2), ("medium", 32 ** 2, 96 ** 2), ("large", 96 ** 2, 1e10))


def size_name(area: float) -> str:
    return next(n for n, lo, hi in SIZES if lo <= area < hi)


def summary(values: List[float]) -> Dict:
    a = np.asarray(values, np.float64)
    if not a.size:
        return {"n": 0}
    return {"n": int(a.size), "median": round(float(np.median(a)), 3),
            "mean": round(float(a.mean()), 3), "ge50": round(float((a >= 0.5).mean()), 3),
            "ge75": round(float((a >= 0.75).mean()), 3)}


def best_shift_iou(pred: np.ndarray, gt: np.ndarray, radius: int = 3) -> float:
    best = 0.0
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            shifted = np.roll(np.roll(pred, dy, axis=0), dx, axis=1)
            union = np.logical_or(shifted, gt).sum()
            if union:
                best = max(best, np.logical_and(shifted, gt).sum() / union)
    return float(best)


def main(argv=None) -> int:
    sys.path.insert(0, ROOT)
    from ssd_isb.core.branches import assign_branches
    from ssd_isb.core.encompassing import encompassing_windows
    from ssd_isb.evaluation.dataset_args import add_dataset_arguments, split_image_ids
    from ssd_isb.evaluation.evaluate import load_ground_truth
    from ssd_isb.evaluation.metrics import coco_metrics
    from ssd_isb.runtime import Segmenter
    from ssd_isb.core.boxes import (
        cells_to_normalized,
        iou_matrix,
        pixels_to_normalized,
    )
    from ssd_isb.runtime.coco_results import to_coco_results
    from ssd_isb.runtime.image_io import model_input, read_image
    from ssd_isb.runtime.paste import paste_into
    from ssd_isb.runtime.segmenter import decode_stages

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=os.path.join(ROOT, "ssd_isb", "zoo",
                                                   "ssd_isb_multi_shape_fp32.tflite"))
    add_dataset_arguments(p, split="val")
    p.add_argument("--score", type=float, default=0.3, help="detections analysed")
    p.add_argument("--thresholds", type=float, nargs="*", default=[-2, -1, -0.5, 0, 0.5, 1])
    p.add_argument("--margins", type=lambda v: None if v.lower() == "none" else float(v),
                   nargs="*", default=[None, 0.0, 0.05, 0.1],
                   help="box margins to try (none: the whole window)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--output", help="JSON report")
    p.add_argument("--markdown", help="the report as markdown tables")
    args = p.parse_args(argv)

    gt = load_ground_truth(args.annotations)
    ids = split_image_ids(gt, args.split, args.max_images)
    seg = Segmenter(args.model, threads=args.threads, score_threshold=0.0, tiles="off",
                    zoom="off")
    if seg.mask_stage is None:
        raise SystemExit(f"{args.model}: the analysis needs a two-stage model")
    grid, specs = seg.meta.grid, seg.meta.branch_specs()
    threshold = seg.mask_threshold
    per_match = defaultdict(list)  # key -> values
    results = {"model": [], "oracle_masks": [], "gt_boxes": [], "resolution": []}
    for t in args.thresholds:
        results[f"threshold {t:g}"] = []
    for m in args.margins:
        results[f"box margin {m}"] = []
    for image_id in ids:
        info = gt.imgs[image_id]
        image = read_image(os.path.join(args.images, info["file_name"]))
        h, w = image.shape[:2]
        anns = [a for a in gt.imgToAnns[image_id] if not a.get("iscrowd")]
        gt_masks = [gt.annToMask(a).astype(bool) for a in anns]
        gt_xyxy = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                             a["bbox"][1] + a["bbox"][3]] for a in anns], np.float32).reshape(-1, 4)
        x = model_input(image, seg.input_size)
        detections = seg.backend.detect(x)
        out = seg.mask_stage(detections, seg.backend.run_branch, 0.0)
        margin = seg.mask_box_margin  # the model's runtime settings (sidecar)
        result = decode_stages(out, (h, w), seg.class_names, threshold, margin)
        results["model"] += to_coco_results(result, image_id)
        for t in args.thresholds:
            results[f"threshold {t:g}"] += to_coco_results(
                decode_stages(out, (h, w), seg.class_names, t, margin), image_id)
        for m in args.margins:
            results[f"box margin {m}"] += to_coco_results(
                decode_stages(out, (h, w), seg.class_names, threshold, m), image_id)
        # (b) our branches on the ground-truth boxes
        if len(anns):
            norm = pixels_to_normalized(gt_xyxy, (h, w))
            fake = {**detections, "boxes": norm[None], "scores": np.ones((1, len(norm)),
                                                                          np.float32),
                    "classes": np.ones((1, len(norm)), np.int32),
                    "count": np.array([len(norm)], np.int32)}
            on_gt = decode_stages(seg.mask_stage(fake, seg.backend.run_branch, 0.5), (h, w),
                                  seg.class_names, threshold, margin)
            results["gt_boxes"] += to_coco_results(on_gt, image_id)
            for k, g in enumerate(gt_masks):  # mask IoU given the perfect box
                union = np.logical_or(on_gt.masks[k], g).sum()
                per_match[f"iou on gt box, size {size_name(anns[k]['area'])}"].append(
                    np.logical_and(on_gt.masks[k], g).sum() / union if union else 0.0)
        # matches: greedy by score at box IoU >= 0.5
        keep = result.scores >= args.score
        ious = iou_matrix(result.boxes, gt_xyxy) if len(anns) and len(result) else \
            np.zeros((len(result), len(anns)))
        taken = set()
        oracle_masks = result.masks.copy()
        resolution = result.masks.copy()
        cells = encompassing_windows(pixels_to_normalized(result.boxes, (h, w)), grid) \
            if len(result) else np.zeros((0, 4), np.int64)
        branch = assign_branches(cells[:, 2], cells[:, 3], specs) if len(result) else []
        for k in np.argsort(-result.scores):
            if not keep[k] or not len(anns):
                continue
            order = np.argsort(-ious[k])
            j = next((int(j) for j in order if ious[k, j] >= 0.5 and j not in taken), None)
            if j is None:
                continue
            taken.add(j)
            pred, g = result.masks[k], gt_masks[j]
            inter, union = np.logical_and(pred, g).sum(), np.logical_or(pred, g).sum()
            iou = inter / union if union else 0.0
            size = size_name(anns[j]["area"])
            name = specs[branch[k]].name if branch[k] >= 0 else "none"
            per_match["iou"].append(iou)
            per_match[f"iou size {size}"].append(iou)
            per_match[f"iou branch {name}"].append(iou)
            per_match["precision"].append(inter / max(pred.sum(), 1))
            per_match["recall"].append(inter / max(g.sum(), 1))
            per_match["area ratio"].append(pred.sum() / max(g.sum(), 1))
            per_match[f"area ratio branch {name}"].append(pred.sum() / max(g.sum(), 1))
            per_match[f"precision size {size}"].append(inter / max(pred.sum(), 1))
            per_match[f"recall size {size}"].append(inter / max(g.sum(), 1))
            per_match["box iou"].append(float(ious[k, j]))
            if pred.any() and g.any():
                bw, bh = gt_xyxy[j, 2] - gt_xyxy[j, 0], gt_xyxy[j, 3] - gt_xyxy[j, 1]
                py, px = np.argwhere(pred).mean(0)
                gy, gx = np.argwhere(g).mean(0)
                per_match["centroid dy / box h"].append((py - gy) / max(bh, 1))
                per_match["centroid dx / box w"].append((px - gx) / max(bw, 1))
                per_match["iou best shift 3px"].append(best_shift_iou(pred, g))
            oracle_masks[k] = g
            # (c) the GT mask at exactly the branch's output grid over the window, pasted back
            window = cells_to_normalized(cells[k:k + 1], grid)[0]
            top, left = int(round(window[0] * h)), int(round(window[1] * w))
            bottom, right = int(round(window[2] * h)), int(round(window[3] * w))
            if branch[k] >= 0 and bottom > top and right > left:
                spec = specs[branch[k]]
                f = 2 ** seg.meta.skip_steps
                grid_shape = (spec.shape[1] * f, spec.shape[0] * f)  # (w, h) for OpenCV
                crop = np.zeros((bottom - top, right - left), np.float32)
                t0, l0 = max(top, 0), max(left, 0)
                crop[t0 - top:min(bottom, h) - top, l0 - left:min(right, w) - left] = \
                    g[t0:min(bottom, h), l0:min(right, w)]
                coarse = cv2.resize(crop, grid_shape, interpolation=cv2.INTER_AREA)
                pasted = paste_into(np.zeros((h, w), bool), coarse - 0.5, window, 0.0)
                resolution[k] = pasted
                ru = np.logical_or(pasted, g).sum()
                per_match["resolution ceiling iou"].append(
                    np.logical_and(pasted, g).sum() / ru if ru else 0.0)
        results["oracle_masks"] += to_coco_results(dataclasses.replace(result, masks=oracle_masks),
                                                   image_id)
        results["resolution"] += to_coco_results(dataclasses.replace(result, masks=resolution),
                                                 image_id)
    person = 1
    report = {"model": os.path.abspath(args.model), "images": len(ids), "split": args.split,
              "score": args.score, "mask_threshold": threshold,
              "mask_box_margin": seg.mask_box_margin,
              "matches": {k: summary(v) for k, v in sorted(per_match.items())},
              "ap": {k: {m: round(coco_metrics(gt, v, "segm", ids, person)[m], 2)
                         for m in ("AP", "AP50", "AP75", "AP50_small", "AP50_medium",
                                   "AP50_large")}
                     for k, v in results.items()}}
    lines = [f"Mask analysis of {os.path.basename(args.model)} on {len(ids)} images "
             f"(split {args.split}); matches: detections >= {args.score} at box IoU >= 0.5; "
             f"masks at logit {threshold:g}, box margin {seg.mask_box_margin} (the model's).",
             "", "| measure (matched detections) | n | median | mean | >= 0.5 | >= 0.75 |",
             "|---|---|---|---|---|---|"]
    for k, s in report["matches"].items():
        if s["n"]:
            lines.append(f"| {k} | {s['n']} | {s['median']} | {s['mean']} | {s['ge50']} | "
                         f"{s['ge75']} |")
    lines += ["", "| masks | AP | AP50 | AP75 | AP50 S | AP50 M | AP50 L |",
              "|---|---|---|---|---|---|---|"]
    for k, a in report["ap"].items():
        lines.append(f"| {k} | {a['AP']} | {a['AP50']} | {a['AP75']} | {a['AP50_small']} | "
                     f"{a['AP50_medium']} | {a['AP50_large']} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
