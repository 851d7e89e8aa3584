#!/usr/bin/env python3
"""Ship a trained semantic run into ``ssd_isb/zoo`` as ``ssd_isb_semantic{.keras,_fp32.tflite,
_int8.tflite}`` with sidecars, and its dev-split person IoU in ``metrics.json``.

    python scripts/release_semantic.py --source runs/semantic/semantic_fcn8

The TFLite files are exported from the run's ``model.keras`` (int8 calibrated on 200 of its
config's training images) and each one is scored once on the dev split (coco_person_val2017,
crc32 % 5 == 0) with ``ssd-isb evaluate --task semantic``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
NAME = "ssd_isb_semantic"


def main(argv=None) -> int:
    from ssd_isb.config import data_root
    from ssd_isb.evaluation.semantic import evaluate_person_maps
    from ssd_isb.export import export_model
    from ssd_isb.core.metadata import read_sidecar, write_sidecar
    from ssd_isb.runtime.semantic import person_segmenter
    from ssd_isb.zoo import METRICS_FILE, ZOO_DIR

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", required=True, help="a semantic training workdir")
    p.add_argument("--zoo", default=ZOO_DIR)
    args = p.parse_args(argv)
    keras_src = os.path.join(args.source, "model.keras")
    keras_dst = os.path.join(args.zoo, NAME + ".keras")
    shutil.copyfile(keras_src, keras_dst)
    meta = read_sidecar(keras_src)
    write_sidecar(keras_dst, meta)
    root = os.path.join(data_root(), "coco_person_val2017")
    metrics_path = os.path.join(args.zoo, METRICS_FILE)
    metrics = json.load(open(metrics_path)) if os.path.exists(metrics_path) else {}
    for precision, quantize in (("keras", None), ("fp32", "none"), ("int8", "int8")):
        out = keras_dst if quantize is None else os.path.join(args.zoo,
                                                             f"{NAME}_{precision}.tflite")
        if quantize is not None:
            export_model(None, keras_dst, "tflite", quantize, out, calibration_images=200)
        seg = person_segmenter(out, threads=2)
        report = evaluate_person_maps(seg, os.path.join(root, "annotations.json"),
                                      os.path.join(root, "images"), out, split="val")
        report["model"] = os.path.basename(out)
        report["annotations"] = os.path.relpath(report["annotations"], os.path.dirname(ROOT))
        metrics[os.path.basename(out)] = report
        print(f"{os.path.basename(out)}: dev person IoU {report['semantic']['person_iou']:.2f}, "
              f"mIoU {report['semantic']['miou']:.2f} on {report['images']} images")
    with open(metrics_path, "w", encoding="utf-8") as fh:
        json.dump(metrics, fh, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
