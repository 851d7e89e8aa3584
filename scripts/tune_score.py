#!/usr/bin/env python3
"""Find a model's best score threshold on training-side images, and move it to 0.5.

    python scripts/tune_score.py --model runs/m/fp32.tflite --split train --max-images 250 \\
        --apply runs/m/model.keras --output runs/m/score_calibrated.keras

Runs the model once per image, counts for every threshold the people found (box IoU >= 0.5,
greedy by score) and the false detections, and picks the threshold with the best F1
(:mod:`ssd_isb.evaluation.operating_point`). With ``--apply``, writes that ``.keras`` model with
its class logits shifted so the pick scores 0.5, the runtime's default threshold
(:mod:`ssd_isb.training.score_calibration`: rankings, AP and masks unchanged). Choose on
``--split train``; the dev split stays for measuring.
"""

from __future__ import annotations

import argparse
import os
import sys


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> int:
    sys.path.insert(0, ROOT)
    from ssd_isb.data.coco import load_coco
    from ssd_isb.evaluation.dataset_args import add_dataset_arguments
    from ssd_isb.utils.files import write_json
    from ssd_isb.training.score_calibration import best_f1_threshold

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="the model to measure (any backend)")
    add_dataset_arguments(p, split="train")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--target", type=float, default=0.5, help="where the best threshold goes")
    p.add_argument("--apply", metavar="M.keras", help="the .keras model to shift (the "
                   "--model's source)")
    p.add_argument("--output", help="with --apply: the shifted .keras; else the JSON report")
    args = p.parse_args(argv)
    if args.apply and not args.output:
        p.error("--apply needs --output")

    records, _ = load_coco(args.annotations, args.images, split=args.split)
    records = records[:args.max_images] if args.max_images else records
    measured = best_f1_threshold(args.model, records, args.threads)
    rows, people, threshold, best = (measured[k] for k in ("rows", "people", "threshold", "best"))
    for r in rows[::5]:
        print(f"score >= {r['threshold']:.2f}: {r['found']:4d} of {people} people, "
              f"{r['false']:5d} false, F1 {r['f1']:.3f}")
    print(f"best F1 {best['f1']:.3f} at {threshold:.2f} ({best['found']} found, "
          f"{best['false']} false; {len(records)} {args.split} images)")
    report = {"model": args.model, "split": args.split, "images": len(records),
              "people": people, "rows": rows, "best": best}
    if args.apply:
        from ssd_isb.training.score_calibration import logit_offset, shift_model_file

        report["calibration"] = shift_model_file(args.apply, args.output,
                                                 logit_offset(threshold, args.target))
        print(f"class logits {report['calibration']['logit_offset']:+.3f} -> {args.output} "
              f"(a score of {threshold:.2f} now reads {args.target:.2f})")
        args.output = args.output + ".score.json"
    if args.output:
        write_json(args.output, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
