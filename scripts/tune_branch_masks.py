#!/usr/bin/env python3
"""Choose one mask logit offset per branch on training-side images, and bake them in.

    python scripts/tune_branch_masks.py --model runs/m/model_fp32.tflite --split train \\
        --apply runs/m/model.keras --output runs/m/mask_calibrated.keras

Runs the model once per image (detections at or above ``--score``, 0.2), then searches, branch by
branch, the offset added to that branch's logits that raises COCO mask AP (IoU 0.5:0.95) most
(:mod:`ssd_isb.evaluation.branch_offsets`). An offset is the same as a threshold of the
branch's own: Multi-Shape's branches do not spill alike, one threshold fits none of them
exactly. With ``--apply``, writes that ``.keras`` model with the offsets in its branches'
scoring-conv biases (:mod:`ssd_isb.training.mask_calibration`); the runtime's single threshold
and every export then use them. Choose on ``--split train``; the dev split stays for measuring.
Best with annotated images the model did not train on (``--annotations``/``--images``): on
its own training images the branches fit tighter, and the offsets chosen there shrank the
larger branches' masks more than unseen images want (docs/releases.md, "Release 8").
Two-stage models with a distinct logit shape per branch (Multi-Shape, Single-Shape).

Needs pycocotools.
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> int:
    sys.path.insert(0, ROOT)
    from ssd_isb.utils.errors import UsageError
    from ssd_isb.evaluation.branch_offsets import (
        BranchOffsetSearch,
        Image,
        branch_names_by_shape,
    )
    from ssd_isb.evaluation.dataset_args import add_dataset_arguments, split_image_ids
    from ssd_isb.evaluation.evaluate import load_ground_truth
    from ssd_isb.evaluation.metrics import coco_metrics
    from ssd_isb.utils.files import write_json
    from ssd_isb.utils.progress import progress
    from ssd_isb.runtime import Segmenter

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="a two-stage model (any backend)")
    add_dataset_arguments(p, split="train")
    # 0.2, not 0.05: below it the low-score detections (13,000 in the 2x1 branch alone on the
    # 758 training-side images) make each trial's COCO evaluation 5x slower and add little AP.
    p.add_argument("--score", type=float, default=0.2,
                   help="detections at or above this score take part")
    p.add_argument("--offsets", type=float, nargs="+", default=[-1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2],
                   help="candidate logit offsets per branch")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--min-gain", type=float, default=0.1,
                   help="mask AP points a move must add to be taken")
    p.add_argument("--min-detections", type=int, default=20,
                   help="branches with fewer detections keep offset 0")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--apply", metavar="M.keras", help="the .keras model to shift (the "
                   "--model's source)")
    p.add_argument("--output", help="with --apply: the shifted .keras; else the JSON report")
    args = p.parse_args(argv)
    if args.apply and not args.output:
        p.error("--apply needs --output")

    gt = load_ground_truth(args.annotations)
    ids = split_image_ids(gt, args.split, args.max_images)
    seg = Segmenter(args.model, threads=args.threads, score_threshold=args.score, tiles="off",
                    zoom="off")
    if seg.mask_stage is None:
        raise UsageError(f"{args.model}: per-branch offsets need a two-stage model (its "
                         f"logits name their branch); export it with the default graph")
    names = branch_names_by_shape(seg.meta.branch_specs(), 2 ** seg.meta.skip_steps)
    images = []
    for image_id in progress(ids, desc="run"):
        pixels, order = seg.read(os.path.join(args.images, gt.imgs[image_id]["file_name"]))
        model_in, _ = seg.preprocess(pixels, order)
        images.append(Image(image_id, pixels.shape[:2], seg.infer(model_in)))
    search = BranchOffsetSearch(
        images, names, lambda entries: coco_metrics(gt, entries, "segm", ids, 1)["AP"],
        seg.class_names, seg.mask_threshold, seg.mask_box_margin)
    offsets, base, best, trials = search.search(args.offsets, args.rounds, args.min_gain,
                                                args.min_detections,
                                                log=lambda line: print(line, flush=True))
    counts = {b: search.count(b) for b in search.branches}
    print(f"pick: {', '.join(f'{b} {o:+g}' for b, o in offsets.items())}; mask AP "
          f"{base:.2f} -> {best:.2f} on {len(ids)} {args.split} images")
    report = {"model": args.model, "split": args.split, "images": len(ids),
              "score": args.score, "detections": counts, "offsets": offsets,
              "mask_AP_before": base, "mask_AP_after": best, "trials": trials}
    if args.apply:
        from ssd_isb.training.mask_calibration import shift_model_file

        report["calibration"] = shift_model_file(args.apply, args.output, offsets)
        print(f"branch logits shifted -> {args.output}")
        args.output = args.output + ".masks.json"
    if args.output:
        write_json(args.output, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
