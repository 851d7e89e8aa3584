#!/usr/bin/env python3
"""Thesis Tables 4.1 and 4.2 on person vs background: the semantic models beside the MediaPipe
selfie peer and the shipped instance model's merged masks.

    python benchmarks/semantic.py --runs runs/semantic --output docs/results/semantic

For every trained ``runs/semantic/<config>/model.keras``: exports TFLite fp32 and int8 (once,
into ``<config>/export/``), scores person IoU / mIoU on
  * the training side of coco_person_val2017 (``--split train``: where the shipped model is
    chosen),
  * the dev split (``--split val``, measured once per release),
  * the second split (``experiments/second_split.py``: held-out COCO subsets and Penn-Fudan,
    nothing chosen on it),
then times every model on the same real frames in one interleaved run (2 threads, median and
p90 of ``--timing-runs``) and measures each one's peak RSS in a fresh TF-free process.
Writes ``OUTPUT.json`` and ``OUTPUT.md``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SPLITS = {"train": ("coco_person_val2017", "train"), "dev": ("coco_person_val2017", "val"),
          "second": ("second_split", "all")}


def dataset(name, data_root, second):
    if name == "second_split":
        return os.path.join(second, "annotations.json"), os.path.join(second, "images")
    root = os.path.join(data_root, name)
    return os.path.join(root, "annotations.json"), os.path.join(root, "images")


def export_pair(workdir):
    """fp32 and int8 TFLite of a trained semantic run (exported once)."""
    from ssd_isb.export import export_model

    out = {}
    for q in ("none", "int8"):
        path = os.path.join(workdir, "export", f"model_{'fp32' if q == 'none' else q}.tflite")
        if not os.path.exists(path):
            export_model(None, os.path.join(workdir, "model.keras"), "tflite", q, path,
                         calibration_images=100, check_images=16)
        out["fp32" if q == "none" else q] = path
    return out


def main(argv=None) -> int:
    from ssd_isb.config import data_root
    from ssd_isb.evaluation.semantic import evaluate_person_maps
    from ssd_isb.measure.host import cpu_model, versions
    from ssd_isb.measure.kinds import make_segmenter
    from ssd_isb.measure.memory import measure_memory
    from ssd_isb.measure.timing import time_interleaved
    from ssd_isb.core.metadata import read_sidecar
    from ssd_isb.runtime.image_io import list_images, read_image
    from ssd_isb.teacher.mediapipe import model_files
    from ssd_isb.zoo import default_model_path

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default=os.path.join(ROOT, "runs", "semantic"))
    p.add_argument("--second-split", default=os.path.join(ROOT, "runs", "second_split"))
    p.add_argument("--output", default=os.path.join(ROOT, "docs", "results", "semantic"))
    p.add_argument("--timing-runs", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--splits", nargs="+", default=list(SPLITS), choices=list(SPLITS))
    p.add_argument("--train-images", type=int, default=300,
                   help="training-side images scored (the first N by id)")
    p.add_argument("--scores-only", action="store_true",
                   help="export and score the models, no timing (scores are cached)")
    args = p.parse_args(argv)
    os.makedirs(os.path.join(args.runs, "scores"), exist_ok=True)

    models = []  # (label, kind, path)
    for work in sorted(glob.glob(os.path.join(args.runs, "*", "model.keras"))):
        work = os.path.dirname(work)
        for precision, path in export_pair(work).items():
            models.append((f"{os.path.basename(work)} {precision}", "semantic", path))
    models.append(("ssd_isb_multi_shape int8 (masks merged)", "instance-union",
                   default_model_path()))
    selfie = model_files()["selfie"]
    models.append(("MediaPipe selfie segmentation (peer)", "selfie-segmentation", selfie))

    rows = []
    for label, kind, path in models:
        seg = make_segmenter(kind, path, threads=args.threads)
        row = {"model": label, "kind": kind, "path": os.path.relpath(path, ROOT)
               if path.startswith(ROOT) else path, "quantization": seg.quantization,
               "params": seg.params, "model_bytes": os.path.getsize(path)}
        if kind == "semantic":
            meta = read_sidecar(path)
            sem = meta.config["semantic"]
            row.update({"method": sem["method"], "stride": sem["stride"],
                        "encoder": sem["encoder"],
                        "depth_multiplier": meta.config["model"]["depth_multiplier"]})
            summary = os.path.join(os.path.dirname(os.path.dirname(path)), "summary.json")
            if os.path.exists(summary):
                s = json.load(open(summary))
                row.update({"train_updates": s["steps"], "train_seconds": s["seconds"]})
        for split in args.splits:
            name, side = SPLITS[split]
            ann, images = dataset(name, data_root(), args.second_split)
            # Scores are kept beside each model (a re-run with a new model scores only it).
            cache = os.path.join(args.runs, "scores", f"{label.replace(' ', '_')}_{split}.json")
            if os.path.exists(cache):
                r = json.load(open(cache))
            else:
                r = evaluate_person_maps(
                    seg, ann, images, label, split=side,
                    max_images=args.train_images if split == "train" else None, output=cache)
            row[split] = {**r["semantic"], "images": r["images"]}
            print(f"{label:48s} {split:6s} person IoU {r['semantic']['person_iou']:6.2f} "
                  f"mIoU {r['semantic']['miou']:6.2f}", flush=True)
        rows.append(row)

    if args.scores_only:
        return 0
    frames = [read_image(x) for x in list_images(os.path.join(ROOT, "ssd_isb", "samples"))]
    segs = [make_segmenter(kind, path, threads=args.threads) for _, kind, path in models]
    timing = time_interleaved(segs, frames, args.timing_runs, warmup=10)
    for row, t, (_, kind, path) in zip(rows, timing, models):
        row["latency_ms"] = t["latency_ms"]
        row["fps_median"] = t["fps_median"]
        row["memory"] = measure_memory(path, [os.path.join(ROOT, "ssd_isb", "samples", f)
                                              for f in sorted(os.listdir(
                                                  os.path.join(ROOT, "ssd_isb", "samples")))
                                              if f.endswith(".jpg")], runs=10, kind=kind,
                                       threads=args.threads)
    report = {"rows": rows, "threads": args.threads, "timing_runs": args.timing_runs,
              "timing_frames": "ssd_isb/samples (4 COCO photos)", "cpu": cpu_model(), "versions": versions(),
              "command": "python benchmarks/semantic.py " + " ".join(argv or sys.argv[1:])}
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output + ".json", "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2)
    with open(args.output + ".md", "w", encoding="utf-8") as fh:
        fh.write("\n".join(markdown(report)) + "\n")
    print("\n".join(markdown(report)))
    return 0


def markdown(report):
    rows = report["rows"]
    splits = [s for s in SPLITS if s in rows[0]]
    out = ["| model | " + " | ".join(f"{s} person IoU / mIoU" for s in splits)
           + " | total ms (median, p90) | FPS | peak RSS MB (model) | MB on disk | params |",
           "|---|" + "---|" * len(splits) + "---|---|---|---|---|"]
    for r in rows:
        lat = r["latency_ms"]["total"]
        cells = [f"{r[s]['person_iou']:.2f} / {r[s]['miou']:.2f}" for s in splits]
        out.append(f"| {r['model']} | " + " | ".join(cells)
                   + f" | {lat['median']:.1f}, {lat['p90']:.1f} | {r['fps_median']:.0f} | "
                   f"{r['memory']['peak_rss_mb']:.0f} ({r['memory']['model_rss_mb']:.0f}) | "
                   f"{r['model_bytes'] / 1e6:.2f} | "
                   f"{r['params'] if r['params'] is not None else 'n/a'} |")
    return out


if __name__ == "__main__":
    sys.exit(main())
