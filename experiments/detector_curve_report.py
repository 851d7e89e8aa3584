#!/usr/bin/env python3
"""Issue 26: does R3's recipe (detector + teacher masks) keep improving with more updates?

    python experiments/detector_curve_report.py --run runs/r3_curve --evals runs \
        --output docs/results/detector_curve

Reads a run of ``configs/experiments/detector.yaml`` whose checkpoint was copied at every
``train.checkpoint_every`` updates (``<run>/snap_<step>/checkpoints/last.json``: the epoch's
training and held-out losses), the training-side evaluation of each snapshot
(``<evals>/r3_eval_<step>.json``, ``ssd-isb evaluate --split train`` of the snapshot's model,
box codes not calibrated), of the finished model (``r3_eval_final.json``: calibrated) and of
the shipped model (``r8_eval_keras.json``). Writes ``OUTPUT.json`` and ``OUTPUT.md``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys

KEYS = ("AP", "AP50", "AP75")


def scores(path: str) -> dict:
    e = json.load(open(path))
    return {"images": e["images"],
            "segm": {k: round(e["segm"][k], 2) for k in KEYS},
            "bbox": {k: round(e["bbox"][k], 2) for k in KEYS}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", default="runs/r3_curve")
    p.add_argument("--evals", default="runs")
    p.add_argument("--output", default="docs/results/detector_curve")
    args = p.parse_args(argv)
    rows = []
    base = os.path.join(args.evals, "r8_eval_keras.json")
    if os.path.exists(base):
        rows.append({"model": "release 8 (shipped .keras)", "updates": 0, **scores(base)})
    snaps = sorted(glob.glob(os.path.join(args.run, "snap_*", "checkpoints", "last.json")),
                   key=lambda s: int(re.search(r"snap_(\d+)", s).group(1)))
    for state_path in snaps:
        step = int(re.search(r"snap_(\d+)", state_path).group(1))
        logs = json.load(open(state_path)).get("logs", {})
        row = {"model": f"R3 recipe, {step} updates (box codes uncalibrated)", "updates": step,
               "losses": {k: round(v, 4) for k, v in logs.items()}}
        ev = os.path.join(args.evals, f"r3_eval_{step}.json")
        if os.path.exists(ev):
            row.update(scores(ev))
        rows.append(row)
    final = os.path.join(args.evals, "r3_eval_final.json")
    if os.path.exists(final):
        steps = json.load(open(os.path.join(args.run, "summary.json")))["steps"]
        rows.append({"model": f"R3 recipe, {steps} updates, box codes calibrated (model.keras)",
                     "updates": steps, **scores(final)})
    if not rows:
        print(f"nothing to report under {args.run} and {args.evals}", file=sys.stderr)
        return 1
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output + ".json", "w", encoding="utf-8") as fh:
        json.dump(rows, fh, indent=2)
    lines = ["| model | mask AP / AP50 / AP75 | box AP / AP50 / AP75 | held-out box loss | "
             "held-out mask loss |", "|---|---|---|---|---|"]
    for r in rows:
        m, b, loss = r.get("segm"), r.get("bbox"), r.get("losses", {})
        fmt = lambda d: " / ".join(f"{d[k]:.1f}" for k in KEYS) if d else "n/a"  # noqa: E731
        lines.append(f"| {r['model']} | {fmt(m)} | {fmt(b)} | {loss.get('val_box_loss', '')} "
                     f"| {loss.get('val_mask_loss', '')} |")
    with open(args.output + ".md", "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
