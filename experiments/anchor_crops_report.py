#!/usr/bin/env python3
"""Thesis 3.1.4 here: does training with crops at the matched default anchors converge?

    python experiments/anchor_crops_report.py --runs runs --output docs/results/anchor_crops

Reads the two runs of ``configs/experiments/anchor_crops{,_control}.yaml`` (same init, seed,
data and updates): the mask loss of every logged batch and each epoch's validation mask loss
from their TensorBoard logs, and the training-side evaluation of each model
(``<run>/eval_train.json``, written by ``ssd-isb evaluate --split train``). Writes
``OUTPUT.json`` and ``OUTPUT.md``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

RUNS = ("anchor_crops_control", "anchor_crops")


def scalars(folder: str, tag: str):
    """(step, value) pairs of one scalar over every event file of a log folder."""
    import tensorflow as tf

    out = {}
    for path in sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for v in event.summary.value:
                if v.tag == tag:
                    out[int(event.step)] = float(tf.make_ndarray(v.tensor)) if v.HasField(
                        "tensor") else float(v.simple_value)
    return sorted(out.items())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="runs")
    p.add_argument("--output", default="docs/results/anchor_crops")
    args = p.parse_args(argv)
    report = {}
    for name in RUNS:
        work = os.path.join(args.runs, name)
        # Per epoch (25 updates): a resumed run restarts Keras' batch counter, its epochs
        # continue.
        train = scalars(os.path.join(work, "logs", "train"), "epoch_mask_loss")
        val = scalars(os.path.join(work, "logs", "validation"), "epoch_mask_loss")
        summary = json.load(open(os.path.join(work, "summary.json")))
        row = {"updates": summary["steps"], "train_mask_loss": train,
               "val_mask_loss": val}
        if train:
            row["train_mask_loss_first_epoch"] = round(train[0][1], 4)
            row["train_mask_loss_last_epoch"] = round(train[-1][1], 4)
        ev = os.path.join(work, "eval_train.json")
        if os.path.exists(ev):
            e = json.load(open(ev))
            row["train_side"] = {"images": e["images"],
                                 "segm": {k: round(e["segm"][k], 2) for k in ("AP", "AP50",
                                                                             "AP75")},
                                 "bbox": {k: round(e["bbox"][k], 2) for k in ("AP", "AP50")}}
        report[name] = row
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output + ".json", "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2)
    lines = ["| run | updates | train mask loss, first -> last epoch | val mask loss, first -> "
             "last epoch | "
             "training-side mask AP / AP50 / AP75 |", "|---|---|---|---|---|"]
    for name, r in report.items():
        ts = r.get("train_side", {}).get("segm", {})
        val = r["val_mask_loss"]
        lines.append(f"| {name} | {r['updates']} | {r.get('train_mask_loss_first_epoch')} -> "
                     f"{r.get('train_mask_loss_last_epoch')} | "
                     + (f"{val[0][1]:.4f} -> {val[-1][1]:.4f}" if val else "n/a") + " | "
                     f"{ts.get('AP')} / {ts.get('AP50')} / {ts.get('AP75')} |")
    with open(args.output + ".md", "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
