#!/usr/bin/env python3
"""Build the shipped models in ``ssd_isb/zoo`` from trained models, and measure them.

    python scripts/release_zoo.py --source multi_shape=runs/ems --source single_branch=runs/esb
    python scripts/release_zoo.py --source multi_shape=ssd_isb/zoo/ssd_isb_multi_shape.keras

A source is an ``ssd-isb train`` workdir (its ``model.keras``) or a ``.keras`` model (it carries
its config). For each: the Keras model is rebuilt from its config with the trained weights and
saved as ``ssd_isb_<name>.keras`` (two-stage sidecar, for fine-tuning and export), int8 and fp32
two-stage TFLite files are exported, and Keras, TFLite fp32 and TFLite int8 are evaluated on the
dev-validation split together with the box-mask floor of the same detector: each TFLite file
as users run it (tiles and zoom ``auto``, its ``metrics.json`` key is the file name) and as a
single pass (``<file> one pass``). Every figure goes to ``ssd_isb/zoo/metrics.json`` (the model
card and ``ssd-isb models`` read it). Needs the train extra (TensorFlow, pycocotools).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_DETECTIONS = 100  # the detect stage's NMS cap: COCO's AR@100 can use every detection
# int8 calibration images per stage. Release 7's tuned heads needed more than the exporter's
# default 200: Single-Branch int8 kept 62.0 box AP50 of fp32's 63.0 with 200, 63.7 with 400.
CALIBRATION_IMAGES = 400


def keras_source(source: str) -> str:
    """A workdir's model.keras, or the .keras file itself."""
    path = os.path.join(source, "model.keras") if os.path.isdir(source) else source
    if not path.endswith(".keras") or not os.path.exists(path):
        raise SystemExit(f"{source}: neither a training workdir with model.keras nor a .keras")
    return path


def main(argv=None) -> int:
    sys.path.insert(0, ROOT)
    from ssd_isb.config import data_root, load_config
    from ssd_isb.evaluation.evaluate import evaluate
    from ssd_isb.export import export_model
    from ssd_isb.core.metadata import model_config, read_sidecar, write_sidecar
    from ssd_isb.model import SSDISB, load_model, save_model
    from ssd_isb.zoo import METRICS_FILE, ZOO_DIR

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", action="append", required=True, metavar="NAME=SOURCE",
                   help="shipped name (multi_shape, single_branch) and its workdir or .keras")
    p.add_argument("--config", action="append", default=[], metavar="NAME=CONFIG",
                   help="the config a source was trained with (a name or YAML; must agree with "
                   "the model's own on the model sections): its sidecar then carries this file's "
                   "training and data sections, data paths as {data} placeholders")
    p.add_argument("--annotations", default=os.path.join(
        data_root(), "coco_person_val2017", "annotations.json"))
    p.add_argument("--images", default=os.path.join(data_root(), "coco_person_val2017",
                                                    "images"))
    p.add_argument("--split", default="val", help="dev-validation split (crc32 %% 5 == 0)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-export", action="store_true", help="only (re)measure")
    p.add_argument("--mask-threshold-logit", type=float,
                   help="write this mask threshold into every shipped sidecar (default: the "
                   "source's config)")
    p.add_argument("--mask-box-margin", help="write this mask box margin (a number, or none: the "
                   "whole window) into every shipped sidecar (default: the source's config); "
                   "choose it with scripts/tune_masks.py")
    args = p.parse_args(argv)

    metrics_path = os.path.join(ZOO_DIR, METRICS_FILE)
    metrics = {}
    if os.path.exists(metrics_path):
        with open(metrics_path, encoding="utf-8") as fh:
            metrics = json.load(fh)

    def measure(key, model, box_masks=False, passes="auto"):
        # "auto": tiles and zoom as users run them (the default); "off": the single pass.
        report = evaluate(model, args.annotations, args.images, threads=args.threads,
                          split=args.split, box_masks=box_masks, tiles=passes, zoom=passes)
        metrics[key] = {"segm": report["segm"], "bbox": report["bbox"],
                        "images": report["images"], "split": args.split,
                        "backend": report["backend"], "box_masks": box_masks,
                        "tiles": passes, "zoom": passes, "ms_per_image": report["ms_per_image"],
                        "annotations": os.path.relpath(args.annotations, ROOT)}
        print(f"{key}: mask AP {report['segm']['AP']:.2f} AP50 {report['segm']['AP50']:.2f} "
              f"AP75 {report['segm']['AP75']:.2f}, box AP50 {report['bbox']['AP50']:.2f}",
              flush=True)

    for item in args.source:
        name, source = item.split("=", 1)
        src = keras_source(source)
        given = dict(c.split("=", 1) for c in args.config).get(name)
        cfg = model_config(src, load_config(given) if given else None)
        stem = os.path.join(ZOO_DIR, f"ssd_isb_{name}")
        if not args.skip_export:
            with tempfile.TemporaryDirectory() as tmp:
                # Rebuilt from the config: today's graph and layer format, the trained weights.
                net = SSDISB(cfg)
                net.inference_model.set_weights(load_model(src).get_weights())
                staged = save_model(net.inference_model, os.path.join(tmp, "m.keras"), cfg,
                                    params=net.count_params(), max_detections=MAX_DETECTIONS)
                os.replace(staged, stem + ".keras")
                os.replace(staged + ".json", stem + ".keras.json")
            for quant, suffix in (("int8", "int8"), ("none", "fp32")):
                report = export_model(None, stem + ".keras", "tflite", quant,
                                      f"{stem}_{suffix}.tflite", max_detections=MAX_DETECTIONS,
                                      calibration_images=CALIBRATION_IMAGES)
                print(f"exported {report['output']} ({report['bytes'] / 1e6:.2f} MB); "
                      f"agreement {report.get('agreement')}", flush=True)
        settings = {}
        if args.mask_threshold_logit is not None:
            settings["mask_threshold_logit"] = float(args.mask_threshold_logit)
        if args.mask_box_margin is not None:
            settings["mask_box_margin"] = (None if args.mask_box_margin.lower() == "none"
                                           else float(args.mask_box_margin))
        if settings:  # runtime settings: the same weights, a new sidecar
            for path in (stem + ".keras", f"{stem}_fp32.tflite", f"{stem}_int8.tflite"):
                meta = read_sidecar(path)
                for key, value in settings.items():
                    setattr(meta, key, value)
                    meta.config.setdefault("postprocess", {})[key] = value
                write_sidecar(path, meta)
        base = os.path.basename(stem)
        measure(base + ".keras one pass", stem + ".keras", passes="off")
        measure(base + ".keras box-mask floor", stem + ".keras", True, passes="off")
        for suffix in ("fp32", "int8"):
            path = f"{stem}_{suffix}.tflite"
            measure(os.path.basename(path), path)  # the default: tiles and zoom
            measure(os.path.basename(path) + " one pass", path, passes="off")
        with open(metrics_path, "w", encoding="utf-8") as fh:
            json.dump(metrics, fh, indent=1, sort_keys=True)
    print(f"-> {metrics_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
