#!/usr/bin/env python3
"""Measure the mask teacher against human masks, beside the branches it would teach.

    python scripts/measure_teacher.py --split train --max-images 400 --max-side 320 \\
        --output docs/results/teacher_train320.json --markdown docs/results/teacher_train320.md

For every human-labelled person of the chosen images (training side by default: settings are
chosen here, never on the dev split), each teacher recipe (:data:`ssd_isb.teacher.fusion.RECIPES`:
pose vs selfie vs their fusion, mirrored runs, the body-aligned crop) draws a mask inside the
person's human box, and the model's branches draw theirs on the same box
(:meth:`ssd_isb.runtime.Segmenter.segment_boxes`). Reported: mask IoU with the human mask by
person size, and for the recipe with the best median, how IoU follows the teacher's confidence
(its members' agreement): at each confidence cut, the share kept and the teacher's and the
branches' IoU on exactly the kept people. ``--max-side 320`` first shrinks every image as
``coco_train_person_boxes`` was shrunk, so the figures hold for the images it will label.
Needs pycocotools and the teacher's model files (``ssd-isb[teacher]``); TF-free.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = (("small", 0, 32 ** 2), ("medium", 32 ** 2, 96 ** 2), ("large", 96 ** 2, 1e12))
CUTS = (0.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9)


def size_name(area: float) -> str:
    return next(n for n, lo, hi in SIZES if lo <= area < hi)


def stats(values) -> dict:
    a = np.asarray(values, np.float64)
    if not a.size:
        return {"n": 0}
    return {"n": int(a.size), "median": round(float(np.median(a)), 3),
            "mean": round(float(a.mean()), 3), "ge50": round(float((a >= 0.5).mean()), 3),
            "ge75": round(float((a >= 0.75).mean()), 3)}


def main(argv=None) -> int:
    sys.path.insert(0, ROOT)
    from ssd_isb.evaluation.dataset_args import add_dataset_arguments, split_image_ids
    from ssd_isb.evaluation.evaluate import load_ground_truth
    from ssd_isb.utils.files import write_json
    from ssd_isb.utils.progress import progress
    from ssd_isb.runtime import Segmenter, read_image
    from ssd_isb.teacher.fusion import RECIPES, fuse, mask_iou
    from ssd_isb.teacher.mediapipe import MediaPipeTeacher

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=os.path.join(ROOT, "ssd_isb", "zoo",
                                                   "ssd_isb_multi_shape_fp32.tflite"),
                   help="the model whose branches the teacher would teach (two-stage)")
    add_dataset_arguments(p, split="train")
    p.add_argument("--max-side", type=int, default=0,
                   help="shrink each image to this longest side first (0: as it is)")
    p.add_argument("--min-area", type=float, default=16.0,
                   help="people smaller than this (pixels, after shrinking) are left out")
    p.add_argument("--crop-scale", type=float, default=1.25)
    p.add_argument("--cut", type=float, default=0.75,
                   help="the confidence cut whose kept people are also shown by size")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--output", help="JSON report")
    p.add_argument("--rows", help="also write every person's figures here (JSON)")
    p.add_argument("--markdown", help="the report as markdown tables")
    args = p.parse_args(argv)

    gt = load_ground_truth(args.annotations)
    ids = split_image_ids(gt, args.split, args.max_images)
    teacher = MediaPipeTeacher(threads=args.threads, crop_scale=args.crop_scale)
    seg = Segmenter(args.model, threads=args.threads, score_threshold=0.0, tiles="off",
                    zoom="off")
    rows = []  # one per person: size, iou per recipe, confidence per recipe, branch iou
    for image_id in progress(ids, desc="teacher"):
        info = gt.imgs[image_id]
        image = read_image(os.path.join(args.images, info["file_name"]))
        h, w = image.shape[:2]
        f = min(1.0, args.max_side / max(h, w)) if args.max_side else 1.0
        anns = [a for a in gt.imgToAnns[image_id] if not a.get("iscrowd")]
        if not anns:
            continue
        if f < 1.0:
            image = cv2.resize(image, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
        sh, sw = image.shape[:2]
        masks = [cv2.resize(gt.annToMask(a), (sw, sh), interpolation=cv2.INTER_LINEAR) > 0
                 if f < 1.0 else gt.annToMask(a) > 0 for a in anns]
        boxes = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                           a["bbox"][1] + a["bbox"][3]] for a in anns], np.float32) * f
        keep = [k for k, m in enumerate(masks) if m.sum() >= args.min_area]
        if not keep:
            continue
        branches = seg.segment_boxes(image, boxes[keep])
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        for slot, k in enumerate(keep):
            region, maps, extra = teacher.variants(rgb, boxes[k])
            g = masks[k][region.y0:region.y1, region.x0:region.x1]
            row = {"size": size_name(float(masks[k].sum())), "area": int(masks[k].sum()),
                   "branch": mask_iou(branches.masks[slot], masks[k]),
                   "presence": extra["presence"], "aligned_found": bool(extra.get("aligned"))}
            for name, recipe in RECIPES.items():
                mask, conf = fuse(maps, recipe)
                row[name] = mask_iou(mask, g)
                row[name + ":conf"] = conf
            rows.append(row)

    report = {"annotations": args.annotations, "split": args.split, "images": len(ids),
              "people": len(rows), "max_side": args.max_side, "min_area": args.min_area,
              "crop_scale": args.crop_scale, "model": os.path.relpath(args.model, ROOT),
              "iou": {}, "confidence": {}}
    by_size = defaultdict(list)
    for r in rows:
        by_size["all"].append(r)
        by_size[r["size"]].append(r)
    for name in list(RECIPES) + ["branch"]:
        report["iou"][name] = {s: stats([r[name] for r in rs]) for s, rs in by_size.items()}
    best = max(RECIPES, key=lambda n: report["iou"][n]["all"].get("median", 0))
    report["best_recipe"] = best
    for name in RECIPES:
        if len(RECIPES[name]) < 2:
            continue
        conf = np.array([r[name + ":conf"] for r in rows])
        iou = np.array([r[name] for r in rows])
        branch = np.array([r["branch"] for r in rows])
        table = []
        for cut in CUTS:
            sel = conf >= cut
            if not sel.any():
                continue
            table.append({"cut": cut, "kept": round(float(sel.mean()), 3),
                          "teacher_mean": round(float(iou[sel].mean()), 3),
                          "branch_mean": round(float(branch[sel].mean()), 3),
                          "teacher_ge75": round(float((iou[sel] >= 0.75).mean()), 3),
                          "branch_ge75": round(float((branch[sel] >= 0.75).mean()), 3),
                          "teacher_wins": round(float((iou[sel] > branch[sel]).mean()), 3)})
        corr = float(np.corrcoef(np.argsort(np.argsort(conf)), np.argsort(np.argsort(iou)))[0, 1])
        kept = {}
        for s_name in ("small", "medium", "large"):
            sel = (conf >= args.cut) & np.array([r["size"] == s_name for r in rows])
            total = sum(1 for r in rows if r["size"] == s_name)
            if sel.any():
                kept[s_name] = {"kept": round(float(sel.sum() / max(total, 1)), 3),
                                "teacher_mean": round(float(iou[sel].mean()), 3),
                                "branch_mean": round(float(branch[sel].mean()), 3)}
        report["confidence"][name] = {"spearman": round(corr, 3), "cuts": table,
                                      "at_cut_by_size": kept}
    report["cut"] = args.cut
    if args.rows:
        write_json(args.rows, rows)
    if args.output:
        write_json(args.output, report)
    text = markdown(report)
    print(text)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write(text)
    return 0


def markdown(report: dict) -> str:
    sizes = ("all", "small", "medium", "large")
    lines = [f"# Teacher vs human masks ({report['split']} side of "
             f"{os.path.basename(report['annotations'])}, {report['images']} images, "
             f"{report['people']} people; images shrunk to a longest side of "
             f"{report['max_side'] or 'none'})", "",
             "Mask IoU with the human mask inside the human box: median (share >= 0.75).", "",
             "| recipe | " + " | ".join(sizes) + " |", "|---" * (len(sizes) + 1) + "|"]
    for name, by in report["iou"].items():
        cells = [f"{by[s]['median']:.3f} ({by[s]['ge75']:.2f}), n={by[s]['n']}"
                 if by.get(s, {}).get("n") else "-" for s in sizes]
        label = "our branches (same boxes)" if name == "branch" else name
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", f"Best median: **{report['best_recipe']}**.", "",
              "Confidence (mean pairwise IoU of the recipe's members) against IoU:", ""]
    for name, c in report["confidence"].items():
        lines += [f"**{name}** (Spearman {c['spearman']:+.3f})", "",
                  "| confidence >= | kept | teacher mean IoU | branches mean IoU | teacher >= 0.75"
                  " | branches >= 0.75 | teacher better |", "|---|---|---|---|---|---|---|"]
        for t in c["cuts"]:
            lines.append(f"| {t['cut']:.2f} | {t['kept']:.2f} | {t['teacher_mean']:.3f} | "
                         f"{t['branch_mean']:.3f} | {t['teacher_ge75']:.2f} | "
                         f"{t['branch_ge75']:.2f} | {t['teacher_wins']:.2f} |")
        by = c.get("at_cut_by_size", {})
        if by:
            lines += ["", f"At confidence >= {report['cut']:.2f}, by size: " + "; ".join(
                f"{k} {v['kept']:.0%} kept, teacher {v['teacher_mean']:.3f} vs branches "
                f"{v['branch_mean']:.3f}" for k, v in by.items())]
        lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
