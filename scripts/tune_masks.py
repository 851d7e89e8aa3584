#!/usr/bin/env python3
"""Choose the runtime mask settings (logit threshold, box margin) on training-side images.

    python scripts/tune_masks.py --model ssd_isb/zoo/ssd_isb_multi_shape_fp32.tflite \\
        --split train --max-images 200 --output runs/tune/ms.json

Runs the model once per image and scores every pair of ``postprocess.mask_threshold_logit``
and ``postprocess.mask_box_margin`` (``none``: the whole window, the thesis paste) as COCO mask
AP on the same detections. The pick maximizes mask AP (IoU 0.5:0.95), not AP50: it is the
setting that moves masks towards the ground truth at every strictness, so it generalizes
better than a point tuned for one IoU. Choose on ``--split train`` and confirm on ``val``;
write the pick into the model's config (``postprocess``) or sidecar.

Needs pycocotools.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def margin_value(text: str):
    return None if text.lower() == "none" else float(text)


def main(argv=None) -> int:
    sys.path.insert(0, ROOT)
    from ssd_isb.evaluation.dataset_args import add_dataset_arguments, split_image_ids
    from ssd_isb.evaluation.evaluate import load_ground_truth
    from ssd_isb.evaluation.metrics import coco_metrics
    from ssd_isb.utils.progress import progress
    from ssd_isb.runtime import Segmenter
    from ssd_isb.runtime.coco_results import to_coco_results

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    add_dataset_arguments(p, split="train")
    p.add_argument("--thresholds", type=float, nargs="+", default=[-1.5, -1, -0.5, 0])
    p.add_argument("--margins", type=margin_value, nargs="+",
                   default=[None, 0.0, 0.03, 0.06, 0.1])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--output", help="JSON with every pair's metrics and the pick")
    args = p.parse_args(argv)

    gt = load_ground_truth(args.annotations)
    ids = split_image_ids(gt, args.split, args.max_images)
    seg = Segmenter(args.model, threads=args.threads, score_threshold=0.0, tiles="off",
                    zoom="off")
    pairs = list(itertools.product(args.thresholds, args.margins))
    results = {pair: [] for pair in pairs}
    for image_id in progress(ids, desc="tune"):
        pixels, order = seg.read(os.path.join(args.images, gt.imgs[image_id]["file_name"]))
        model_in, context = seg.preprocess(pixels, order)
        raw = seg.infer(model_in)
        for threshold, margin in pairs:
            seg.mask_threshold, seg.mask_box_margin = threshold, margin
            results[(threshold, margin)] += to_coco_results(
                seg.decode(raw, pixels.shape[:2], context), image_id)
    rows = []
    for (threshold, margin), entries in results.items():
        m = coco_metrics(gt, entries, "segm", ids, 1)
        rows.append({"mask_threshold_logit": threshold, "mask_box_margin": margin,
                     "AP": m["AP"], "AP50": m["AP50"], "AP75": m["AP75"]})
        print(f"threshold {threshold:5g}  margin {str(margin):5}  AP {m['AP']:5.2f}  "
              f"AP50 {m['AP50']:5.2f}  AP75 {m['AP75']:5.2f}", flush=True)
    best = max(rows, key=lambda r: r["AP"])
    print(f"pick: mask_threshold_logit {best['mask_threshold_logit']:g}, mask_box_margin "
          f"{best['mask_box_margin']} (mask AP {best['AP']:.2f} on {len(ids)} "
          f"{args.split} images)")
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as fh:
            json.dump({"model": args.model, "split": args.split, "images": len(ids),
                       "rows": rows, "pick": best}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
