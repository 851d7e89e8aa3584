"""What each ``ssd-isb`` subcommand does: call the library, return the text to print.

Each ``cmd_*`` takes the parsed arguments and returns the text (or ``(text, exit code)``); the
library formats it. Each imports what it needs when it runs, so deployment commands stay
TF-free. :mod:`ssd_isb.cli` parses the arguments and prints.
"""

from __future__ import annotations

import json
import logging
import os
import re

from .config import load_config
from .utils.errors import SSDISBError, UsageError
from .utils.signals import INTERRUPTED, TERMINATED  # exit codes of a run stopped by a signal



def fixed_threads(threads):
    """A ``--threads`` value for the runtimes that take a count only (semantic models, the
    peers): ``auto`` is their own default."""
    return None if threads == "auto" else threads


def parse_size(text: str):
    """``WxH`` (or one number for a square) -> (h, w) pixels, multiples of 32.

    Raises:
        UsageError: anything else (one line naming the value).
    """
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*", str(text))
    if not match:
        raise UsageError(f"--input-size {text!r}: expected WxH (e.g. 576x320) or one number")
    w = int(match.group(1))
    h = int(match.group(2) or w)
    if w < 64 or h < 64 or w % 32 or h % 32:
        raise UsageError(f"--input-size {text}: width and height must be multiples of 32, "
                         f"at least 64")
    return h, w


def cmd_info(args) -> str:
    cfg = load_config(args.config)  # a bad config fails before TensorFlow loads
    from .model.summary import model_summary, summary_lines

    info = model_summary(cfg)
    if args.layers and not args.json:
        from .model import build_model

        build_model(cfg).inference_model.summary(line_length=110)
    return json.dumps(info, indent=2) if args.json else "\n".join(summary_lines(info))


def cmd_import_weights(args) -> str:
    from .model.pretrained import import_weights

    r = import_weights(load_config(args.config), args.source, args.output, args.classes,
                       args.label_map)
    return f"imported {r['layers']} layers, {r['params']:,} parameters -> {r['output']}"


def _semantic_config(args):
    """The run's config when it is a semantic one (TF-free peek), else None."""
    path = args.config or (os.path.join(args.workdir, "config.yaml") if args.resume else None)
    if not path or (not args.config and not os.path.exists(path)):
        return None
    cfg = load_config(path)
    return cfg if cfg.model.task == "semantic" else None


def cmd_train(args) -> str:
    semantic = _semantic_config(args)
    if semantic is not None:
        if args.checkpoint_model or getattr(args, "strategy", None) not in (None, "auto",
                                                                            "default"):
            raise UsageError("a semantic config trains in one process (no --strategy or "
                             "--checkpoint-model)")
        if args.init and not os.path.isfile(args.init):
            raise UsageError(f"--init {args.init}: no such file")
        from .training.semantic import train_semantic

        s = train_semantic(semantic, args.workdir, init=args.init, resume=args.resume,
                           steps=args.steps, verbose=0 if args.quiet else 1)
        iou = s["person_iou_train"][-1] if s["person_iou_train"] else float("nan")
        return (f"trained semantic {semantic.name} to step {s['steps']} in {s['seconds']:.0f} s "
                f"(loss {s['loss'][-1]:.4f}, training person IoU {iou:.3f}) -> {s['model']}")
    from .training import train
    from .training.loop import check_init, checkpoint_to_model, resolve_config, summary_line

    from .training.cluster import ClusterError, parse_tf_config, resolve_strategy

    # Before TensorFlow starts: a bad TF_CONFIG is one line now, not a collective timeout later.
    strategy = resolve_strategy(getattr(args, "strategy", None))
    if strategy == "multi-worker" and not args.checkpoint_model:
        cluster = parse_tf_config()
        logging.getLogger("ssd_isb.train").info(
            "worker %d of %d (%s); the chief is %s", cluster.index, cluster.size,
            cluster.address, cluster.workers[0])
    if args.init and not args.resume:
        check_init(args.init)  # before TensorFlow starts
    cfg = resolve_config(args.config, args.init, args.workdir,
                         args.resume or bool(args.checkpoint_model))
    if args.checkpoint_model:
        path = checkpoint_to_model(cfg, args.workdir, args.checkpoint_model)
        return f"last checkpoint of {args.workdir} -> {path}"
    if cfg.train.phases and strategy == "multi-worker":
        raise ClusterError("train.phases with --strategy multi-worker: run each phase's "
                           "config on the cluster in turn")
    if cfg.train.phases:  # a recipe: every phase not yet done (resumes by itself)
        from .training.recipe import recipe_line, run_recipe

        return recipe_line(run_recipe(cfg, args.workdir, args.init,
                                      verbose=0 if args.quiet else 1, steps=args.steps))
    run = lambda: summary_line(train(cfg, args.workdir, init=args.init,  # noqa: E731
                                     resume=args.resume, verbose=0 if args.quiet else 1,
                                     steps=args.steps, strategy=strategy), cfg)
    return _multi_worker_exit(run) if strategy == "multi-worker" else run()


def _multi_worker_exit(run):
    """Run a multi-worker training and end the process with its result.

    TensorFlow's collective and coordination threads keep a worker process alive after its
    training ends, and forever after a peer is lost; a cluster scheduler waiting for the
    exit code would never restart it. So the worker prints its line and leaves.
    """
    import sys

    try:
        text, code = run(), 0
    except BaseException as err:  # noqa: BLE001 - any failure ends this worker
        first = (str(err).strip().splitlines() or [repr(err)])[0]
        first = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", first)  # TF's op prefix
        lost = any(w in str(err).lower() for w in ("unavailable", "deadline", "collective ops is "
                                                   "aborted", "failed to connect"))
        text = ("ssd-isb train: error: " + ("a worker was lost; restart every worker with "
                "--resume (" if lost else "") + first[:300] + (")" if lost else ""))
        code = 2 if isinstance(err, SSDISBError) else 1
    print(text, file=sys.stderr if code else sys.stdout)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def cmd_calibrate_boxes(args) -> str:
    from .utils.files import write_json
    from .training.box_calibration import summary_line
    from .training.loop import calibrate_model_file

    report = calibrate_model_file(args.weights, args.output, args.config, args.batch_size,
                                  args.min_count)
    write_json(args.output + ".calibration.json", report)
    return summary_line(report)


def cmd_transplant_detector(args) -> str:
    from .training.transplant import summary_line, transplant_detector

    return summary_line(transplant_detector(args.detector, args.branches, args.output,
                                            args.allow_new_backbone))


def cmd_pseudo_label(args) -> str:
    from .teacher.labeller import run

    return run(args)


def cmd_convert_dataset(args) -> str:
    from .data.convert import convert_instance_masks, write_coco_json

    data = convert_instance_masks(args.masks, args.images)
    write_coco_json(data, args.output)
    return (f"{len(data['images'])} images, {len(data['annotations'])} person instances -> "
            f"{args.output}")


def cmd_stats(args) -> None:
    from .data.stats import print_stats

    print_stats(args.annotations, args.input_size, args.shapes, args.suggest_shapes,
                args.max_area, args.config)


def cmd_evaluate(args) -> str:
    from .evaluation.report import compare_names, load_reports, markdown_table, report_lines

    if args.compare:
        reports = load_reports(args.compare)
        return "\n".join(markdown_table(reports, args.iou_type,
                                         compare_names(reports, args.compare)))
    missing = [f"--{k}" for k in ("annotations", "images") if not getattr(args, k)]
    if missing:
        raise UsageError(f"{', '.join(missing)} required (or --compare)")
    if args.task == "semantic" or args.peer:
        return _evaluate_semantic(args)
    from .evaluation.evaluate import evaluate

    report = evaluate(args.model, args.annotations, args.images, args.backend,
                      args.box_masks, args.threads, args.max_images, split=args.split,
                      holdout_every=args.holdout_every, plots=args.plots,
                      num_overlays=args.num_overlays, output=args.output,
                      crowd_nesting=args.crowd_nesting, tiles=args.tiles, zoom=args.zoom)
    return "\n".join(report_lines(report, args.output))


def _evaluate_semantic(args) -> str:
    from .evaluation.semantic import evaluate_person_maps, report_line

    if args.box_masks or args.plots:
        raise UsageError("--box-masks and --plots are instance-task options")
    if args.peer:
        if args.model:
            raise UsageError("--peer selfie runs MediaPipe's own model; leave out --model")
        from .peers.selfie import SelfieSegmentation

        seg, name = SelfieSegmentation(threads=fixed_threads(args.threads)), \
            "mediapipe-selfie-segmentation"
    else:
        from .runtime.semantic import person_segmenter

        seg = person_segmenter(args.model, args.backend, args.threads)
        name = args.model or getattr(getattr(seg, "inner", seg), "path", "default")
    report = evaluate_person_maps(seg, args.annotations, args.images, name,
                                  args.max_images, args.split, args.holdout_every, args.output)
    return report_line(report) + (f"\nreport -> {args.output}" if args.output else "")


def cmd_export(args) -> str:
    from .export import export_model
    from .export.exporter import report_lines

    report = export_model(load_config(args.config) if args.config else None, args.weights,
                          args.format, args.quantize, args.output, args.calibration,
                          args.calibration_images, args.integer_io, args.check_images,
                          graph=args.graph, max_detections=args.max_detections,
                          input_size=parse_size(args.input_size) if args.input_size else None)
    return "\n".join(report_lines(report))


def cmd_benchmark(args) -> str:
    from .measure.benchmark import run_benchmark, summary_line
    from .runtime.image_io import folder_images

    images = folder_images(args.images) if args.images else None
    report = run_benchmark(args.model, args.backend, args.threads, args.runs, args.warmup,
                           images, output=args.output, tiles=args.tiles, zoom=args.zoom)
    return summary_line(report) + (f" -> {args.output}" if args.output else "")


def cmd_demo(args) -> str:
    from .apps.demo import run_demo, summary_line

    s = run_demo(
        args.model, args.source, args.output, display=not args.no_display,
        max_frames=args.max_frames, backend=args.backend, threads=args.threads,
        smooth=args.smooth, score_threshold=args.score_threshold,
        reconnect_seconds=args.reconnect_seconds, summary_path=args.summary,
        track=args.track, similarity=args.track_similarity, tracks=args.tracks,
        blur_background=args.blur_background, replace_background=args.replace_background,
        tiles=args.tiles, zoom=args.zoom)
    # Stopped by a signal: the summary as after the quit key, and the signal's exit code.
    return summary_line(s), {"interrupted": INTERRUPTED, "terminated": TERMINATED}.get(
        s["ended_by"], 0)


def cmd_predict(args):
    if args.task == "semantic":
        if args.track or args.annotations or args.max_frames:
            raise UsageError("--track, --annotations and --max-frames are instance-task "
                             "options")
        from .apps.semantic_predict import predict_semantic
        from .apps.semantic_predict import summary_line as semantic_line

        return semantic_line(predict_semantic(
            args.model, args.source, args.output, args.backend, fixed_threads(args.threads),
            overlays=not args.no_overlays, exist_ok=args.exist_ok,
            score_threshold=args.score_threshold))
    from .apps.predict import predict, summary_line

    s = predict(args.model, args.source, args.output, backend=args.backend,
                threads=args.threads, score_threshold=args.score_threshold,
                annotations=args.annotations, overlays=not args.no_overlays,
                max_frames=args.max_frames, exist_ok=args.exist_ok, track=args.track,
                similarity=args.track_similarity, tiles=args.tiles, zoom=args.zoom,
                resume=args.resume)
    code = {"interrupted": INTERRUPTED, "terminated": TERMINATED}.get(s["stopped"], 0)
    return summary_line(s), code


def cmd_serve(args) -> str:
    from .utils.errors import require

    for module in ("uvicorn", "starlette", "prometheus_client"):
        require(module, "serve", "ssd-isb serve")
    if args.mqtt:
        require("paho.mqtt", "serve", "ssd-isb serve --mqtt")
    from .apps.serve.server import run_server
    from .apps.serve.settings import ServeSettings

    settings = ServeSettings(
        sources=list(args.source), model=args.model, backend=args.backend,
        threads=args.threads, host=args.host, port=args.port, token=args.token,
        mqtt=args.mqtt, mqtt_topic=args.mqtt_topic, cors=list(args.cors), tiles=args.tiles,
        zoom=args.zoom, track=args.track, score_threshold=args.score_threshold,
        loop=args.loop, max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        max_upload_pixels=int(args.max_upload_megapixels * 1e6)).check()

    def ready(address):
        shown = f"{address}/?token={settings.token}" if settings.token_generated else address
        print(f"ssd-isb serve: listening on {shown}" + (
            " (token generated: keep it secret)" if settings.token_generated else ""),
            flush=True)

    s = run_server(settings, ready)
    return f"stopped after {s['frames']} frames of {len(s['streams'])} streams"


def cmd_models(args) -> str:
    from .zoo import model_table, shipped_models

    models = shipped_models()
    return json.dumps(models, indent=2) if args.json else "\n".join(model_table(models))
