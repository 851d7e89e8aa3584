#!/usr/bin/env python3
"""Build the shipped models in ``ssd_isb/zoo`` from trained runs, and measure them.

    python scripts/release_zoo.py --run multi_shape=runs/ems --run single_branch=runs/esb

For each run (``ssd-isb train`` workdir holding ``model.keras`` and ``config.yaml``): exports
int8 and fp32 TFLite with their sidecars, copies the Keras model (for fine-tuning), evaluates
Keras, TFLite fp32 and TFLite int8 on the dev-validation split together with the box-mask floor
of the same detector, and writes every figure to ``ssd_isb/zoo/metrics.json`` (the model card
and ``ssd-isb models`` read it). Needs the train extra (TensorFlow, pycocotools).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> int:
    sys.path.insert(0, ROOT)
    from ssd_isb.config import data_root, load_config
    from ssd_isb.evaluation.evaluate import evaluate
    from ssd_isb.export import export_model
    from ssd_isb.zoo import METRICS_FILE, ZOO_DIR

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="append", required=True, metavar="NAME=WORKDIR",
                   help="shipped name (multi_shape, single_branch) and its training workdir")
    p.add_argument("--annotations", default=os.path.join(
        data_root(), "coco_person_val2017", "annotations.json"))
    p.add_argument("--images", default=os.path.join(data_root(), "coco_person_val2017",
                                                    "images"))
    p.add_argument("--split", default="val", help="dev-validation split (crc32 %% 5 == 0)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-export", action="store_true", help="only (re)measure")
    p.add_argument("--mask-threshold-logit", type=float,
                   help="write this mask threshold into every shipped sidecar (default: the "
                   "run's config)")
    args = p.parse_args(argv)

    metrics_path = os.path.join(ZOO_DIR, METRICS_FILE)
    metrics = {}
    if os.path.exists(metrics_path):
        with open(metrics_path, encoding="utf-8") as fh:
            metrics = json.load(fh)

    def measure(key, model, box_masks=False):
        report = evaluate(model, args.annotations, args.images, threads=args.threads,
                          split=args.split, box_masks=box_masks)
        metrics[key] = {"segm": report["segm"], "bbox": report["bbox"],
                        "images": report["images"], "split": args.split,
                        "backend": report["backend"], "box_masks": box_masks,
                        "annotations": os.path.relpath(args.annotations, ROOT)}
        print(f"{key}: mask AP50 {report['segm']['AP50']:.2f}, box AP50 "
              f"{report['bbox']['AP50']:.2f}", flush=True)

    for item in args.run:
        name, workdir = item.split("=", 1)
        cfg = load_config(os.path.join(workdir, "config.yaml"))
        keras_src = os.path.join(workdir, "model.keras")
        stem = os.path.join(ZOO_DIR, f"ssd_isb_{name}")
        if not args.skip_export:
            shutil.copyfile(keras_src, stem + ".keras")
            shutil.copyfile(keras_src + ".json", stem + ".keras.json")
            for quant, suffix in (("int8", "int8"), ("none", "fp32")):
                report = export_model(cfg, keras_src, "tflite", quant,
                                      f"{stem}_{suffix}.tflite")
                print(f"exported {report['output']} ({report['bytes'] / 1e6:.2f} MB); "
                      f"agreement {report.get('agreement')}", flush=True)
        if args.mask_threshold_logit is not None:
            for path in (stem + ".keras", f"{stem}_fp32.tflite", f"{stem}_int8.tflite"):
                set_mask_threshold(path, args.mask_threshold_logit)
        measure(os.path.basename(stem) + ".keras", stem + ".keras")
        measure(os.path.basename(stem) + ".keras box-mask floor", stem + ".keras", True)
        for suffix in ("fp32", "int8"):
            path = f"{stem}_{suffix}.tflite"
            measure(os.path.basename(path), path)
        with open(metrics_path, "w", encoding="utf-8") as fh:
            json.dump(metrics, fh, indent=1, sort_keys=True)
    print(f"-> {metrics_path}")
    return 0


def set_mask_threshold(model_path: str, logit: float) -> None:
    """Rewrite a model's sidecar with a new runtime mask threshold (graph unchanged)."""
    from ssd_isb.metadata import read_sidecar, write_sidecar

    meta = read_sidecar(model_path)
    meta.mask_threshold_logit = float(logit)
    if meta.config:
        meta.config.setdefault("postprocess", {})["mask_threshold_logit"] = float(logit)
    write_sidecar(model_path, meta)


if __name__ == "__main__":
    sys.exit(main())
