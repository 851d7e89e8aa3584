"""The ``ssd-isb`` console command.

Subcommands import what they need when they run, so deployment commands stay TF-free.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable, Dict, List, Optional

from .config import ConfigError, load_config


def _component(layer_name: str) -> str:
    if layer_name.startswith("BoxPredictor_"):
        return "SSD box predictors"
    if layer_name.startswith("Conv2d_13_pointwise_"):
        return "SSD extra feature layers"
    if layer_name.startswith("Conv2d_"):
        return "MobileNet-v1 backbone"
    return "other"


def model_summary(cfg) -> Dict:
    """Parameter counts by component and branch for a config (builds the Keras model)."""
    from .branches import branch_specs
    from .model import build_model
    from .branches import native_mask_size

    model = build_model(cfg)
    total = model.count_params()  # builds the inference graph, and with it every branch
    parts: Dict[str, int] = {}
    for layer in model.detector.layers:
        n = layer.count_params() if layer.weights else 0
        if n:
            key = _component(layer.name)
            parts[key] = parts.get(key, 0) + n
    branches = []
    for spec, branch in zip(branch_specs(cfg.isb), model.mask_head.branches):
        branches.append({"name": spec.name, "mode": spec.mode, "shape": list(spec.shape),
                         "params": branch.count_params()})
    thesis = cfg.thesis.params
    return {
        "name": cfg.name, "description": cfg.description,
        "input_size": list(cfg.model.input_size), "depth_multiplier": cfg.model.depth_multiplier,
        "grid": list(cfg.model.grid), "variant": cfg.isb.variant, "fcn": cfg.isb.fcn,
        "boxes_per_branch": cfg.isb.boxes_per_branch,
        "max_detections": cfg.postprocess.max_detections,
        "mask_size": native_mask_size(cfg.isb), "components": parts, "branches": branches,
        "params": total, "thesis_params": thesis,
        "difference_percent": None if not thesis else round(100.0 * (total - thesis) / thesis, 2),
        "thesis_table": cfg.thesis.table,
    }


def cmd_info(args) -> int:
    cfg = load_config(args.config)
    info = model_summary(cfg)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    h, w = info["input_size"]
    print(f"{info['name']}: {info['description']}")
    print(f"input {h}x{w}, MobileNet-v1 x{info['depth_multiplier']}, stride-32 grid "
          f"{info['grid'][0]}x{info['grid'][1]}, {info['variant']}, FCN-{info['fcn']}, "
          f"{len(info['branches'])} branch(es) x {info['boxes_per_branch']} boxes, "
          f"{info['max_detections']} detections, masks {info['mask_size']}x{info['mask_size']}")
    print(f"{'component':<34}{'params':>12}")
    for name, n in info["components"].items():
        print(f"{name:<34}{n:>12,}")
    for b in info["branches"]:
        label = f"{b['name']} ({b['mode']})"
        print(f"{label:<34}{b['params']:>12,}")
    print(f"{'total':<34}{info['params']:>12,}")
    if info["thesis_params"]:
        table = f" (Table {info['thesis_table']})" if info["thesis_table"] else ""
        print(f"{'thesis' + table:<34}{info['thesis_params']:>12,}   "
              f"{info['difference_percent']:+.2f}%")
    else:
        print(f"{'thesis':<34}{'n/a':>12}   (not a thesis experiment)")
    if args.layers:
        from .model import build_model

        build_model(cfg).inference_model.summary(line_length=110, expand_nested=False)
    return 0


def cmd_import_weights(args) -> int:
    import os

    from .model import build_detector
    from .pretrained import (DEFAULT_LABEL_MAP, WeightImportError, coco_class_ids, read_source)

    cfg = load_config(args.config)
    label_map = DEFAULT_LABEL_MAP
    if args.label_map:
        with open(args.label_map, encoding="utf-8") as fh:
            label_map = [line.strip() for line in fh if line.strip()]
    if args.classes == "all":
        import dataclasses

        names = [n for n in label_map[1:]]
        if len(names) != 90:
            raise ConfigError("--classes all needs the zoo's 91-line --label-map (labelmap.txt)")
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, class_names=names))
        class_ids = list(range(1, 91))
    else:
        class_ids = coco_class_ids(cfg.model.class_names, label_map)
    try:
        source = read_source(args.source)
        detector = build_detector(cfg)
        from .pretrained import import_into_detector

        report = import_into_detector(detector, source, class_ids, os.path.basename(args.source))
    except WeightImportError as err:
        print(f"ssd-isb import-weights: error: {err}", file=sys.stderr)
        return 2
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    if args.output.endswith(".keras"):
        # A whole model (untrained branches): evaluate it with --box-masks, or fine-tune.
        from .model import SSDISB, save_model

        model = SSDISB(cfg, detector=detector)
        out = save_model(model.inference_model, args.output, cfg, params=model.count_params())
    else:
        out = args.output if args.output.endswith(".weights.h5") else (
            args.output + ".weights.h5")
        detector.save_weights(out)
    with open(out + ".json", "w", encoding="utf-8") as fh:
        json.dump({"source": os.path.abspath(args.source), "config": cfg.name,
                   "class_names": list(cfg.model.class_names), "class_ids": class_ids,
                   **report}, fh, indent=2)
    print(f"imported {report['layers']} layers, {report['params']:,} parameters from "
          f"{args.source} -> {out}")
    return 0


def cmd_train(args) -> int:
    import logging

    from .training import TrainingError, train

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = load_config(args.config)
    if args.checkpoint_model:
        from .training.loop import checkpoint_to_model

        try:
            path = checkpoint_to_model(cfg, args.workdir, args.checkpoint_model)
        except TrainingError as err:
            print(f"ssd-isb train: error: {err}", file=sys.stderr)
            return 2
        print(f"last checkpoint of {args.workdir} -> {path}")
        return 0
    try:
        summary = train(cfg, args.workdir, init=args.init, resume=args.resume,
                        verbose=0 if args.quiet else 1, steps=args.steps)
    except TrainingError as err:
        print(f"ssd-isb train: error: {err}", file=sys.stderr)
        return 2
    with open(os.path.join(args.workdir, "summary.json"), "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=2)
    hist = summary["history"]
    line = ", ".join(f"{k} {v[-1]:.4f}" for k, v in hist.items()
                     if k in ("loss", "mask_loss", "val_loss", "val_mask_loss"))
    print(f"trained to step {summary['steps']} in {summary['seconds']:.0f} s "
          f"({summary['seconds_per_epoch']:.1f} s per {cfg.train.checkpoint_every}-step epoch); "
          f"{line}; model -> {summary['model']}")
    return 0


def cmd_convert_dataset(args) -> int:
    from .data.coco import DatasetError
    from .data.convert import convert_instance_masks, write_coco_json

    try:
        data = convert_instance_masks(args.masks, args.images)
    except DatasetError as err:
        print(f"ssd-isb convert-dataset: error: {err}", file=sys.stderr)
        return 2
    write_coco_json(data, args.output)
    print(f"{len(data['images'])} images, {len(data['annotations'])} person instances -> "
          f"{args.output}")
    return 0


def cmd_stats(args) -> int:
    from .data.coco import DatasetError
    from .data.stats import print_stats

    try:
        print_stats(args.annotations, args.input_size, args.shapes, args.suggest_shapes,
                    args.max_area, args.config)
    except DatasetError as err:
        print(f"ssd-isb stats: error: {err}", file=sys.stderr)
        return 2
    return 0


def cmd_evaluate(args) -> int:
    import logging

    from .evaluation.report import load_reports, markdown_table

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.compare:
        reports = load_reports(args.compare)
        for line in markdown_table(reports, args.iou_type):
            print(line)
        return 0
    missing = [f"--{k}" for k in ("annotations", "images", "output")
               if not getattr(args, k)]
    if missing:
        print(f"ssd-isb evaluate: error: {', '.join(missing)} required (or --compare)",
              file=sys.stderr)
        return 2
    from .evaluation.evaluate import EvaluationError, evaluate
    from .runtime import BackendError

    model = args.model or default_model()
    try:
        report = evaluate(model, args.annotations, args.images, args.backend, args.box_masks,
                          args.threads, args.max_images, keep_results=bool(args.plots),
                          split=args.split, holdout_every=args.holdout_every)
    except (EvaluationError, BackendError) as err:
        print(f"ssd-isb evaluate: error: {err}", file=sys.stderr)
        return 2
    extra = {k: report.pop(k) for k in ("_results", "_per_image", "_gt") if k in report}
    if args.plots:
        from .evaluation.plots import overlays, pr_curve

        os.makedirs(args.plots, exist_ok=True)
        person = 1
        ids = sorted(extra["_per_image"])
        report["plots"] = [pr_curve(extra["_gt"], extra["_results"], ids, person,
                                    os.path.join(args.plots, "pr_curve.png"),
                                    os.path.basename(model))]
        report["plots"] += overlays(extra["_gt"], extra["_per_image"], extra["_results"], person,
                                    args.plots, args.num_overlays)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2)
    for iou_type in ("segm", "bbox"):
        print(f"{iou_type}:")
        for line in markdown_table([report], iou_type):
            print(line)
    if report["missing_images"] or report["unreadable_images"]:
        print(f"skipped {len(report['missing_images'])} missing and "
              f"{len(report['unreadable_images'])} unreadable images")
    print(f"{report['images']} images, {report['ms_per_image']} ms per image -> {args.output}")
    return 0


def cmd_export(args) -> int:
    import logging

    from .export import ExportError, export_model

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = load_config(args.config)
    try:
        report = export_model(cfg, args.weights, args.format, args.quantize, args.output,
                              args.calibration, args.calibration_images, args.integer_io,
                              args.check_images)
    except (ExportError, ValueError) as err:
        print(f"ssd-isb export: error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"wrote {report['output']} ({report['bytes'] / 1e6:.2f} MB, {report['format']}, "
          f"{report['quantization']}) and {report['sidecar']}")
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in report["seconds"].items()))
    agreement = report.get("agreement")
    if agreement:
        print(f"agreement with Keras on {agreement['images']} real images: "
              f"{100 * agreement['matched']:.1f}% of {agreement['reference_detections']} "
              f"detections matched, box IoU {agreement['box_iou']:.3f}, mask IoU "
              f"{agreement['mask_iou']:.3f}, score diff {agreement['score_diff']:.3f}")
    return 0


def cmd_benchmark(args) -> int:
    from .benchmark import run_benchmark
    from .export.calibration import folder_images
    from .runtime import BackendError

    model = args.model or default_model()
    images = folder_images(args.images) if args.images else None
    try:
        report = run_benchmark(model, args.backend, args.threads, args.runs, args.warmup, images)
    except (BackendError, ValueError) as err:
        print(f"ssd-isb benchmark: error: {err}", file=sys.stderr)
        return 2
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
    lat = report["latency_ms"]
    print(f"{os.path.basename(model)} [{report['backend']}, {args.threads or 'default'} threads, "
          f"{report['runs']} runs]: total {lat['total']['median']:.1f} ms median "
          f"(p90 {lat['total']['p90']:.1f}) = {report['fps_median']:.1f} FPS; preprocess "
          f"{lat['preprocess']['median']:.1f}, inference {lat['inference']['median']:.1f}, "
          f"postprocess {lat['postprocess']['median']:.1f} ms; peak RSS "
          f"{report['peak_rss_mb']:.0f} MB" + (f" -> {args.output}" if args.output else ""))
    return 0


def cmd_demo(args) -> int:
    import logging

    from .demo import run_demo
    from .runtime import BackendError

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    model = args.model or default_model()
    try:
        summary = run_demo(model, args.source, args.output, display=not args.no_display,
                           max_frames=args.max_frames, backend=args.backend,
                           threads=args.threads, smooth=args.smooth,
                           score_threshold=args.score_threshold,
                           reconnect_seconds=args.reconnect_seconds)
    except (BackendError, ValueError) as err:
        print(f"ssd-isb demo: error: {err}", file=sys.stderr)
        return 2
    print(f"{summary['frames']} frames ({summary['dropped']} dropped, {summary['unreadable']} "
          f"unreadable, {summary['reconnects']} reconnects; ended: {summary['ended_by']}); "
          f"FPS median {summary['fps_median']}, p95 {summary['fps_p95']} "
          f"[{summary['backend']}]" + (f" -> {summary['output']}" if summary["output"] else ""))
    if args.summary:
        with open(args.summary, "w", encoding="utf-8") as fh:
            json.dump(summary, fh, indent=2)
    return 0


def cmd_predict(args) -> int:
    import logging

    from .predict import predict
    from .runtime import BackendError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    model = args.model or default_model()
    try:
        summary = predict(model, args.source, args.output, backend=args.backend,
                          threads=args.threads, score_threshold=args.score_threshold,
                          annotations=args.annotations, overlays=not args.no_overlays,
                          max_frames=args.max_frames)
    except (BackendError, ValueError) as err:
        print(f"ssd-isb predict: error: {err}", file=sys.stderr)
        return 2
    skipped = f", {summary['unreadable']} unreadable skipped" if summary["unreadable"] else ""
    print(f"{summary['instances']} persons in {summary['images']} {summary['unit']}{skipped} "
          f"({summary['ms_per_image']} ms each, {summary['backend']}) -> "
          f"{summary['results']}" + (f" and {len(summary['overlays'])} overlays"
                                     if summary["overlays"] else ""))
    return 0


def cmd_models(args) -> int:
    from .zoo import ZOO_DIR, shipped_models

    models = shipped_models()
    if args.json:
        print(json.dumps(models, indent=2))
        return 0
    if not models:
        print(f"no models shipped in {ZOO_DIR}")
        return 1
    print(f"{'file':40s} {'variant':13s} {'precision':9s} {'input':7s} {'MB':>6s} "
          f"{'params':>10s} {'mask AP50':>9s}")
    for m in models:
        ap = (m.get("metrics") or {}).get("segm", {}).get("AP50")
        print(f"{m['file'] + (' *' if m['default'] else ''):40s} {m['variant']:13s} "
              f"{m['quantization']:9s} {'x'.join(map(str, m['input_size'])):7s} "
              f"{m['bytes'] / 1e6:6.2f} {m['params'] or 0:10,d} "
              f"{'' if ap is None else f'{ap:.1f}':>9s}")
    print(f"* default model (predict, evaluate, benchmark, demo). Mask AP50 on the "
          f"dev-validation split; .keras models are for export and fine-tuning "
          f"(train --init). Model card: {os.path.join(ZOO_DIR, 'README.md')}")
    return 0


def default_model() -> str:
    """The shipped default model (the int8 Multi-Shape TFLite in ssd_isb/zoo)."""
    from .zoo import default_model_path

    return default_model_path()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ssd-isb", description="Real-time person instance segmentation (SSD-ISB).")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="layers and parameter counts of a config, beside the thesis'")
    p.add_argument("--config", required=True, help="YAML config (path or name in configs/)")
    p.add_argument("--layers", action="store_true", help="also print the Keras layer summary")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("import-weights",
                       help="TF OD API COCO SSD-MobileNet weights (zoo .tflite or checkpoint) "
                            "into the detector")
    p.add_argument("--source", required=True,
                   help="zoo detect.tflite, or a TF OD API checkpoint prefix (model.ckpt)")
    p.add_argument("--config", required=True, help="YAML config of the model to initialize")
    p.add_argument("--output", required=True,
                   help="detector weights (.weights.h5, for train --init) or a whole model "
                        "(.keras, branches untrained)")
    p.add_argument("--classes", choices=["config", "all"], default="config",
                   help="keep the config's classes (person) or all 90 COCO classes")
    p.add_argument("--label-map", help="zoo labelmap.txt (needed for classes other than person)")
    p.set_defaults(func=cmd_import_weights)

    p = sub.add_parser("train", help="train a config (Keras fit, gradient accumulation)")
    p.add_argument("--config", required=True)
    p.add_argument("--init", help="detector weights from import-weights (.weights.h5), or a "
                   "whole model (.keras, e.g. a shipped one) to fine-tune")
    p.add_argument("--workdir", required=True, help="checkpoints, logs and the final model")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--steps", type=int, help="override train.steps (optimizer updates)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--checkpoint-model", metavar="M.keras",
                   help="only write the inference model of the workdir's last checkpoint "
                   "(a stopped or running training) to M.keras and exit")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("convert-dataset",
                       help="per-instance PNG masks (Penn-Fudan layout) -> COCO json")
    p.add_argument("--masks", required=True, help="folder of instance PNGs (0 bg, k = person k)")
    p.add_argument("--images", required=True, help="folder of the images")
    p.add_argument("--output", required=True, help="COCO json to write")
    p.set_defaults(func=cmd_convert_dataset)

    p = sub.add_parser("stats", help="encompassing-window shape distribution (thesis Table 5.1)")
    p.add_argument("--annotations", required=True, nargs="+", help="COCO json file(s)")
    p.add_argument("--input-size", type=int, default=640)
    p.add_argument("--shapes", nargs="+", help="column shapes, e.g. 7x2 6x3 (default: the "
                   "thesis' Single-Shape list, or the config's)")
    p.add_argument("--config", help="take the column shapes from this config's branches")
    p.add_argument("--suggest-shapes", type=int, metavar="K",
                   help="propose K thresholds and K exact shapes that cover the data best")
    p.add_argument("--max-area", type=int, help="largest threshold area (cells) to propose")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("evaluate", help="COCO mask/box AP and AR (thesis IoU-0.50 set)")
    p.add_argument("--model", help="model file (default: the shipped model)")
    p.add_argument("--annotations", help="COCO json with the ground truth")
    p.add_argument("--images", help="image folder")
    p.add_argument("--backend", help="keras, tflite, onnx or tensorrt (default: from the file)")
    p.add_argument("--threads", type=int, help="CPU threads of the backend")
    p.add_argument("--box-masks", action="store_true",
                   help="score each detection's filled box as its mask (the floor)")
    p.add_argument("--max-images", type=int, help="only the first N images")
    p.add_argument("--split", choices=["all", "train", "val"], default="all",
                   help="one side of the deterministic hold-out (val: the dev-validation split)")
    p.add_argument("--holdout-every", type=int, default=5)
    p.add_argument("--output", help="report JSON")
    p.add_argument("--plots", help="folder for the PR curve and worst/best overlays")
    p.add_argument("--num-overlays", type=int, default=4)
    p.add_argument("--compare", nargs="+", metavar="REPORT",
                   help="print these report JSONs as one markdown table instead")
    p.add_argument("--iou-type", choices=["segm", "bbox"], default="segm",
                   help="which figures --compare prints")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export", help="TFLite (fp32/fp16/int8), ONNX or SavedModel + sidecar")
    p.add_argument("--config", required=True)
    p.add_argument("--weights", required=True,
                   help="trained model (.keras) or detector weights (.weights.h5)")
    p.add_argument("--format", required=True, choices=["tflite", "onnx", "saved_model"])
    p.add_argument("--quantize", default="none", choices=["none", "fp16", "int8"])
    p.add_argument("--calibration", help="image folder for int8 calibration and the check "
                   "(default: the config's training data pipeline)")
    p.add_argument("--calibration-images", type=int, default=200)
    p.add_argument("--integer-io", action="store_true", help="int8: uint8 image input")
    p.add_argument("--check-images", type=int, default=16,
                   help="real images to compare the export with Keras on (0: skip)")
    p.add_argument("--output", required=True)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("benchmark", help="per-stage latency, FPS and memory of a model")
    p.add_argument("--model", help="model file (default: the shipped model)")
    p.add_argument("--backend")
    p.add_argument("--threads", type=int)
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--images", help="folder of real images (default: ../shared/data photos)")
    p.add_argument("--output", help="report JSON")
    p.set_defaults(func=cmd_benchmark)

    p = sub.add_parser("demo", help="live segmentation of a camera, video, stream or folder")
    p.add_argument("--model", help="model file (default: the shipped model)")
    p.add_argument("--source", required=True, help="camera index (0), video file, URL or folder")
    p.add_argument("--output", help="record the annotated stream (.mp4 or .avi)")
    p.add_argument("--no-display", action="store_true", help="headless (servers, CI)")
    p.add_argument("--max-frames", type=int)
    p.add_argument("--backend")
    p.add_argument("--threads", type=int)
    p.add_argument("--smooth", action="store_true", help="temporal smoothing of masks")
    p.add_argument("--score-threshold", type=float, default=0.5)
    p.add_argument("--reconnect-seconds", type=float, default=20.0,
                   help="how long a dropped live stream is retried")
    p.add_argument("--summary", help="write the run summary JSON here")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("predict", help="segment images, a folder or a video; overlays and a "
                       "COCO results.json")
    p.add_argument("--model", help="model file (default: the shipped int8 Multi-Shape)")
    p.add_argument("--source", required=True, help="image, folder of images, or video file")
    p.add_argument("--output", default="predictions",
                   help="folder for results.json and overlays (default: ./predictions)")
    p.add_argument("--backend")
    p.add_argument("--threads", type=int)
    p.add_argument("--score-threshold", type=float, default=0.5)
    p.add_argument("--annotations", help="COCO json whose image ids the results carry")
    p.add_argument("--no-overlays", action="store_true", help="only write results.json")
    p.add_argument("--max-frames", type=int, help="stop a video after N frames")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("models", help="the models shipped with the package")
    p.add_argument("--json", action="store_true", help="machine-readable list")
    p.set_defaults(func=cmd_models)
    return parser


COMMANDS: Dict[str, Callable] = {"info": cmd_info, "import-weights": cmd_import_weights,
                                 "train": cmd_train, "convert-dataset": cmd_convert_dataset,
                                 "stats": cmd_stats, "evaluate": cmd_evaluate,
                                 "export": cmd_export, "benchmark": cmd_benchmark,
                                 "demo": cmd_demo, "predict": cmd_predict,
                                 "models": cmd_models}


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``ssd-isb`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as err:
        print(f"ssd-isb {args.command}: error: {err}", file=sys.stderr)
        return 2
    except FileNotFoundError as err:  # e.g. no shipped default model
        print(f"ssd-isb {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
