#!/usr/bin/env python3
"""Found and false detections per SSD anchor layer, and per-layer score offsets (issue 26).

    python experiments/score_by_layer.py --model runs/m/model.keras --split train \\
        --output runs/m/layers.json [--tune --apply runs/m/model.keras --out-model C.keras]

Runs the ``.keras`` model's detector once per image, replays its post-processing in numpy
keeping each detection's anchor layer (:mod:`ssd_isb.evaluation.layer_scores`) and prints, at
the 0.5 threshold, the people found and the false detections of each layer, with the false
ones that cover more than half their frame. ``--tune`` then searches one logit offset per layer
(coordinate ascent over single layers and the coarse layers together, each step taken
only if the F1 at 0.5 rises by ``--min-gain``), and
``--apply`` writes them into the layers' ``ClassPredictor`` biases. Choose on ``--split
train``; the dev split stays for measuring. Needs TensorFlow (the ``train`` extra).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> int:
    sys.path.insert(0, ROOT)
    from ssd_isb.data.coco import load_coco
    from ssd_isb.evaluation.dataset_args import add_dataset_arguments
    from ssd_isb.evaluation.layer_scores import LayerDetections, f1_at, layer_table
    from ssd_isb.utils.files import write_json
    from ssd_isb.core.metadata import model_config
    from ssd_isb.model import load_model
    from ssd_isb.utils.progress import progress
    from ssd_isb.runtime import read_image
    from ssd_isb.runtime.image_io import model_input

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help=".keras model")
    add_dataset_arguments(p, split="train")
    p.add_argument("--extra", nargs=2, action="append", default=[],
                   metavar=("ANNOTATIONS", "IMAGES"), help="another COCO set (its --split side)")
    p.add_argument("--offsets", type=float, nargs="+", default=[0.0],
                   help="logit offsets to start from: one for all layers, or six")
    p.add_argument("--tune", action="store_true", help="search per-layer offsets")
    p.add_argument("--nms-iou", type=float,
                   help="replay the NMS at this IoU instead of the model's (e.g. 0.5)")
    p.add_argument("--nested-iou", type=float,
                   help="after the NMS, drop a box holding a better one (at least "
                        "--nested-cover of its area) at IoU above this (replay only)")
    p.add_argument("--nested-cover", type=float, default=0.9)
    p.add_argument("--steps", type=float, nargs="*", default=[-0.4, -0.2, -0.1, 0.1, 0.2, 0.4])
    p.add_argument("--min-gain", type=float, default=0.002)
    p.add_argument("--layers", type=int, nargs="+", default=list(range(6)),
                   help="the layers --tune may move (default: all six)")
    p.add_argument("--large-false-cost", type=float, default=1.0,
                   help="in the tuned F1, a false detection covering more than half its frame "
                        "counts this many times (1: plain F1)")
    p.add_argument("--cache", help="npz of the detector's raw outputs: written on the first "
                                   "run, read (no network run) on the next")
    p.add_argument("--apply", metavar="M.keras", help="write the offsets into this model")
    p.add_argument("--out-model", help="with --apply: the model to write")
    p.add_argument("--output", help="JSON report")
    args = p.parse_args(argv)

    cfg = model_config(args.model)
    if args.nms_iou is not None:
        cfg.postprocess.iou_threshold = args.nms_iou
    replay = LayerDetections(
        cfg, None if args.nested_iou is None else (args.nested_iou, args.nested_cover))
    sets = [(args.annotations, args.images)] + [tuple(e) for e in args.extra]
    raw, gts, sizes = [], [], []
    cached = args.cache and os.path.exists(args.cache)
    if cached:
        with np.load(args.cache) as z:
            n = int(z["n"])
            raw = [(z[f"codes{i}"], z[f"logits{i}"]) for i in range(n)]
            gts = [z[f"gt{i}"] for i in range(n)]
            sizes = [tuple(int(v) for v in z[f"size{i}"]) for i in range(n)]
    detector = None if cached else load_model(args.model).get_layer("detector")
    for ann_file, images in ([] if cached else sets):
        records, _ = load_coco(ann_file, images, split=args.split, kind="partial")
        records = records[:args.max_images] if args.max_images else records
        for rec in progress(records, desc=os.path.basename(os.path.dirname(ann_file))):
            image = read_image(rec.path)
            out = detector(model_input(image, cfg.model.input_size), training=False)
            raw.append((np.asarray(out["box_encodings"])[0], np.asarray(out["class_logits"])[0]))
            sx, sy = image.shape[1] / rec.width, image.shape[0] / rec.height
            gts.append(np.array([i.box * [sx, sy, sx, sy] for i in rec.persons],
                                np.float32).reshape(-1, 4))
            sizes.append(image.shape[:2])

    if args.cache and not cached:
        arrays = {"n": np.array(len(raw))}
        for i, ((c, lg), g, sz) in enumerate(zip(raw, gts, sizes)):
            arrays.update({f"codes{i}": c, f"logits{i}": lg, f"gt{i}": g,
                           f"size{i}": np.array(sz)})
        np.savez(args.cache, **arrays)

    def detect(offsets):
        # Everything below is counted at 0.5: the candidates under it cannot change it.
        return [replay(c, lg, s, offsets, min_score=0.5) for (c, lg), s in zip(raw, sizes)]

    if len(args.offsets) not in (1, 6):
        p.error("--offsets takes one number or six")
    offsets = list(args.offsets) * (6 if len(args.offsets) == 1 else 1)
    base = detect(offsets)
    f1, tp, fp = f1_at(base, gts)
    report = {"model": args.model, "split": args.split, "images": len(raw),
              "start_offsets": list(offsets), "large_false_cost": args.large_false_cost,
              "tuned_layers": args.layers,
              "people": int(sum(len(g) for g in gts)),
              "before": {"f1": f1, "found": tp, "false": fp,
                         "layers": layer_table(base, gts, sizes)}}
    print(f"{len(raw)} images, {report['people']} people; at 0.5: F1 {f1:.3f}, {tp} found, "
          f"{fp} false")
    for r in report["before"]["layers"]:
        print(f"  layer {r['layer']}: {r['found']:5d} found, {r['false']:5d} false "
              f"({r['false_large']} covering > half the frame, "
              f"{r['false_large_duplicate']} of them a second box of a found person)")
    if args.tune:
        best = f1_at(base, gts, image_sizes=sizes, large_false_cost=args.large_false_cost)[0]
        improved = True
        while improved:
            improved = False
            # One layer, or a layer with every coarser one: lowered alone, a coarse layer
            # hands its frame-sized boxes to the next coarsest (the NMS keeps that one's
            # instead), so the coarse layers have to move together.
            moves = [[k] for k in range(6)] + [list(range(k, 6)) for k in range(1, 5)]
            moves = [m for m in moves if set(m) <= set(args.layers)]
            for layers in moves:
                for step in args.steps:
                    trial = [o + (step if k in layers else 0.0) for k, o in enumerate(offsets)]
                    score = f1_at(detect(trial), gts, image_sizes=sizes,
                                  large_false_cost=args.large_false_cost)[0]
                    if score > best + args.min_gain:
                        best, offsets, improved = score, trial, True
        after = detect(offsets)
        f1, tp, fp = f1_at(after, gts)
        report["offsets"] = offsets
        report["after"] = {"f1": f1, "found": tp, "false": fp,
                           "layers": layer_table(after, gts, sizes)}
        print(f"per-layer offsets {[round(o, 2) for o in offsets]}: F1 {f1:.3f}, {tp} found, "
              f"{fp} false")
        for r in report["after"]["layers"]:
            print(f"  layer {r['layer']}: {r['found']:5d} found, {r['false']:5d} false "
                  f"({r['false_large']} covering > half the frame, "
              f"{r['false_large_duplicate']} of them a second box of a found person)")
        if args.apply:
            from ssd_isb.training.score_calibration import shift_model_file

            report["calibration"] = shift_model_file(args.apply, args.out_model, offsets)
            print(f"-> {args.out_model}")
    if args.output:
        write_json(args.output, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
