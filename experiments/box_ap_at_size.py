#!/usr/bin/env python3
"""Box AP of a trained model's detector at other input sizes (issue 26: 320 or 384?).

    python experiments/box_ap_at_size.py --model runs/m/model.keras --sizes 320 384 --split train

The detector's weights do not depend on the input size (anchors are relative to the frame), so
one trained model is run at each size (its post-processing replayed in numpy,
:mod:`ssd_isb.evaluation.layer_scores`) and scored with pycocotools' box AP on the chosen side
of a COCO file; the time per image of the Keras detector at each size is printed beside it
(a relative figure: deploy-time latency comes from ``benchmarks/compare.py``). The box codes
were calibrated at the model's own size; ``--calibrate`` first re-calibrates them at each other
size on the model's training data (``train.calibrate_box_encoding``), as training at that
size would end. Choose on
``--split train``. Needs TensorFlow.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> int:
    sys.path.insert(0, ROOT)
    from ssd_isb.config import from_dict
    from ssd_isb.evaluation.dataset_args import add_dataset_arguments, split_image_ids
    from ssd_isb.evaluation.evaluate import load_ground_truth
    from ssd_isb.evaluation.layer_scores import LayerDetections
    from ssd_isb.evaluation.metrics import coco_metrics
    from ssd_isb.utils.files import write_json
    from ssd_isb.core.metadata import model_config
    from ssd_isb.model import build_detector, load_model
    from ssd_isb.utils.progress import progress
    from ssd_isb.runtime import read_image
    from ssd_isb.runtime.image_io import model_input

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help=".keras model")
    p.add_argument("--sizes", type=int, nargs="+", default=[320, 384])
    add_dataset_arguments(p, split="train")
    p.add_argument("--crowd-nesting", type=int, help="see ssd-isb evaluate")
    p.add_argument("--calibrate", action="store_true",
                   help="re-calibrate the box codes at each size first (training data)")
    p.add_argument("--output", help="JSON report")
    args = p.parse_args(argv)

    base = model_config(args.model)
    trained = load_model(args.model).get_layer("detector")
    gt = load_ground_truth(args.annotations, args.crowd_nesting)
    ids = split_image_ids(gt, args.split, args.max_images)
    report = {"model": args.model, "split": args.split, "images": len(ids), "sizes": {}}
    for size in args.sizes:
        data = base.to_dict()
        data["model"]["input_size"] = [size, size]
        cfg = from_dict(data)
        detector = build_detector(cfg)
        detector.set_weights(trained.get_weights())
        if args.calibrate and size != base.model.input_size[0]:
            from ssd_isb.data import load_datasets
            from ssd_isb.model import SSDISB
            from ssd_isb.training.box_calibration import calibrate_box_encoding

            records, _ = load_datasets(cfg, "train")
            calibrate_box_encoding(SSDISB(cfg, detector=detector), cfg, records)
        replay = LayerDetections(cfg)
        results, seconds = [], 0.0
        for image_id in progress(ids, desc=f"{size}"):
            info = gt.imgs[image_id]
            image = read_image(os.path.join(args.images, info["file_name"]))
            x = model_input(image, (size, size))
            t0 = time.perf_counter()
            out = detector(x, training=False)
            seconds += time.perf_counter() - t0
            det = replay(np.asarray(out["box_encodings"])[0], np.asarray(out["class_logits"])[0],
                         image.shape[:2])
            for box, score in zip(det["boxes"], det["scores"]):
                results.append({"image_id": image_id, "category_id": 1, "score": float(score),
                                "bbox": [float(box[0]), float(box[1]), float(box[2] - box[0]),
                                         float(box[3] - box[1])]})
        metrics = coco_metrics(gt, results, "bbox", ids, 1)
        report["sizes"][str(size)] = {"bbox": metrics, "ms_per_image": 1000 * seconds / len(ids)}
        print(f"{size}: box AP {metrics['AP']:.1f}, AP50 {metrics['AP50']:.1f}, AP75 "
              f"{metrics['AP75']:.1f}, AP50 small {metrics['AP50_small']:.1f}; Keras detector "
              f"{1000 * seconds / len(ids):.1f} ms per image", flush=True)
    if args.output:
        write_json(args.output, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
