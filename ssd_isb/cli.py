"""The ``ssd-isb`` command: parses arguments and prints what the subcommand returns.

The subcommands (:mod:`ssd_isb.commands`) call the library, which formats the text. Every
error the package raises on purpose is an :class:`~ssd_isb.utils.errors.SSDISBError`: one handler
prints it as one line, exit 2; a missing extra and Ctrl-C get one line too.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from . import __version__, commands
from .utils.errors import SSDISBError, missing_extra
from .utils.signals import exit_code, stop_signals, stopped_by


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where there is one, and marks required options."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.required:
            return text + " (required)"
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text:
            return text
        return super()._get_help_string(action)


def _track_options(p, demo: bool = True) -> None:
    p.add_argument("--track", action="store_true",
                   help="keep an ID per person across frames (ByteTrack)"
                        + ("" if demo else "; a video or a folder of frames (in name order): "
                           "writes tracks.jsonl and tracks_mot.txt"))
    p.add_argument("--track-similarity", choices=("box", "mask"), default="box",
                   help="match people by box IoU (default) or by mask IoU")
    if demo:
        p.add_argument("--tracks", help="with --track: write the tracks per frame to this "
                                        ".jsonl (and a MOTChallenge _mot.txt beside it)")


def _threads(text: str):
    from .runtime.threads import parse_threads

    try:
        return parse_threads(text)
    except SSDISBError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _runtime_options(p, score: bool = False, passes: bool = True) -> None:
    p.add_argument("--model", help="model file (default: the shipped int8 Multi-Shape)")
    p.add_argument("--backend", choices=["keras", "tflite", "onnx", "tensorrt"],
                   help="runtime (default: from the model file's extension)")
    p.add_argument("--threads", type=_threads, default="auto",
                   help="CPU threads of the runtime, or auto: re-chosen from the measured "
                        "frame times, so a CPU shared with other processes does not slow it "
                        "down (a fixed count beside a busy process can run 6x slower)")
    if passes:
        p.add_argument("--tiles", default="auto", metavar="auto|off|RxC",
                       help="sliced inference: the frame plus tiles at its native aspect, "
                            "merged (auto: a grid from the frame's size; off: one pass)")
        p.add_argument("--zoom", default="auto", metavar="auto|off|FACTOR",
                       help="a second look per person: masks from a view zoomed on them "
                            "(FACTOR: its side / the box's longer side)")
    if score:
        p.add_argument("--score-threshold", type=float, default=0.5, help="detections kept")
        p.add_argument("--max-frames", type=int,
                       help="stop after N frames of a video or stream, or N images of a folder")


def build_parser() -> argparse.ArgumentParser:
    fmt = _HelpFormatter
    parser = argparse.ArgumentParser(prog="ssd-isb", formatter_class=fmt,
                                     description="Real-time person instance segmentation.")
    parser.add_argument("--version", action="version", version=f"ssd-isb {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, func, text):
        p = sub.add_parser(name, help=text, description=text, formatter_class=fmt)
        p.add_argument("--verbose", action="store_true",
                       help="also show TensorFlow / LiteRT messages and INFO logs")
        p.set_defaults(func=func)
        return p

    p = command("info", commands.cmd_info, "layers and parameter counts of a config, beside the thesis'")
    p.add_argument("--config", required=True, help="YAML config (path or name in configs/)")
    p.add_argument("--layers", action="store_true", help="also print the Keras layer summary")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")

    p = command("import-weights", commands.cmd_import_weights,
                "TF OD API COCO SSD-MobileNet weights (zoo .tflite or checkpoint) -> detector")
    p.add_argument("--source", required=True, help="zoo detect.tflite or checkpoint prefix")
    p.add_argument("--config", required=True, help="YAML config of the model to initialize")
    p.add_argument("--output", required=True, help="detector .weights.h5 (for train --init) "
                   "or a whole .keras model (branches untrained)")
    p.add_argument("--classes", choices=["config", "all"], default="config",
                   help="the config's classes (person) or all 90 COCO classes")
    p.add_argument("--label-map", help="zoo labelmap.txt (for classes other than person)")

    p = command("train", commands.cmd_train, "train a config (Keras fit, gradient accumulation)")
    p.add_argument("--config", help="YAML config (default: --init's, or the workdir's)")
    p.add_argument("--init", help="detector .weights.h5, or a whole .keras model to fine-tune")
    p.add_argument("--workdir", required=True, help="checkpoints, logs and the final model")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--steps", type=int, help="override train.steps (optimizer updates; with "
                   "train.phases: every phase's, a short check of the recipe)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--checkpoint-model", metavar="M.keras",
                   help="only write the workdir's last checkpoint as M.keras")
    p.add_argument("--strategy", choices=["auto", "default", "mirrored", "multi-worker"],
                   default="auto", help="tf.distribute strategy: auto = multi-worker when "
                   "TF_CONFIG is set, else mirrored over several GPUs, else default; "
                   "multi-worker takes the cluster from TF_CONFIG (README 'Training on "
                   "several machines')")

    p = command("calibrate-boxes", commands.cmd_calibrate_boxes,
                "remove a trained model's systematic box offset (box predictor biases, "
                "measured on its config's training data)")
    p.add_argument("--weights", required=True, help="model to calibrate (.keras)")
    p.add_argument("--output", required=True, help="calibrated model (.keras; the report "
                   "beside it as OUTPUT.calibration.json)")
    p.add_argument("--config", help="YAML config whose data.train measures the offset "
                   "(default: the model's own)")
    p.add_argument("--batch-size", type=int, default=16, help="images per detector call")
    p.add_argument("--min-count", type=int, default=30,
                   help="positive anchors an anchor type needs to be corrected")

    p = command("transplant-detector", commands.cmd_transplant_detector,
                "put a detector fine-tuned on a frozen backbone under another model's branches")
    p.add_argument("--detector", required=True, help=".keras model whose detector is taken")
    p.add_argument("--branches", required=True,
                   help=".keras model whose branches and settings are kept (same backbone)")
    p.add_argument("--output", required=True, help="the new model (.keras)")
    p.add_argument("--allow-new-backbone", action="store_true",
                   help="take a different backbone too (then fine-tune the branches on it)")

    p = command("pseudo-label", commands.cmd_pseudo_label, "teacher masks inside the person boxes of a "
                "COCO file (for box-only data; the result is a kind: partial dataset)")
    from .teacher.labeller import add_arguments

    add_arguments(p)

    p = command("convert-dataset", commands.cmd_convert_dataset,
                "per-instance PNG masks (Penn-Fudan layout) -> COCO json")
    p.add_argument("--masks", required=True, help="folder of instance PNGs (0 bg, k = person k)")
    p.add_argument("--images", required=True, help="folder of the images")
    p.add_argument("--output", required=True, help="COCO json to write")

    p = command("stats", commands.cmd_stats, "encompassing-window shape distribution (thesis Table 5.1)")
    p.add_argument("--annotations", required=True, nargs="+", help="COCO json file(s)")
    p.add_argument("--input-size", type=int, default=640, help="model input side (pixels)")
    p.add_argument("--shapes", nargs="+", help="column shapes, e.g. 7x2 6x3 (default: thesis')")
    p.add_argument("--config", help="take the column shapes from this config's branches")
    p.add_argument("--suggest-shapes", type=int, metavar="K",
                   help="propose K thresholds and K exact shapes that cover the data best")
    p.add_argument("--max-area", type=int, help="largest threshold area (cells) to propose")

    p = command("evaluate", commands.cmd_evaluate, "COCO mask/box AP and AR (thesis IoU-0.50 set)")
    _runtime_options(p)
    p.add_argument("--annotations", help="COCO json with the ground truth (required unless "
                                         "--compare)")
    p.add_argument("--images", help="image folder (required unless --compare)")
    p.add_argument("--box-masks", action="store_true", help="score filled boxes (the floor)")
    p.add_argument("--max-images", type=int, help="only the first N images")
    p.add_argument("--split", choices=["all", "train", "val"], default="all",
                   help="side of the deterministic hold-out (val: the dev-validation split)")
    p.add_argument("--holdout-every", type=int, default=5, help="hold-out modulus")
    p.add_argument("--crowd-nesting", type=int, help="boxes around N others are crowd regions "
                   "(box-only files that drew crowds as boxes)")
    p.add_argument("--output", help="report JSON")
    p.add_argument("--plots", help="folder for the PR curve and worst/best overlays")
    p.add_argument("--num-overlays", type=int, default=4, help="overlays of each kind")
    p.add_argument("--compare", nargs="+", metavar="REPORT", help="print reports as a table")
    p.add_argument("--iou-type", choices=["segm", "bbox"], default="segm", help="for --compare")
    p.add_argument("--task", choices=["instance", "semantic"], default="instance",
                   help="semantic: person IoU / mIoU of a semantic model's map, or of an "
                        "instance model's masks merged")
    p.add_argument("--peer", choices=["selfie"], help="semantic: score MediaPipe selfie "
                   "segmentation instead of a model (needs the [teacher] extra)")

    p = command("export", commands.cmd_export, "TFLite (fp32/fp16/int8), ONNX or SavedModel + sidecar")
    p.add_argument("--config", help="YAML config (default: the .keras model's own)")
    p.add_argument("--weights", required=True, help="model (.keras) or detector .weights.h5")
    p.add_argument("--format", required=True, choices=["tflite", "onnx", "saved_model"],
                   help="tflite (LiteRT, the CPU/embedded runtime), onnx (ONNX Runtime, and "
                        "TensorRT engines via convert/build_engine.py) or saved_model")
    p.add_argument("--quantize", default="none", choices=["none", "fp16", "int8"],
                   help="TFLite precision (none = fp32)")
    p.add_argument("--calibration", help="image folder for int8 calibration and the check "
                   "(default: the config's training data)")
    p.add_argument("--calibration-images", type=int, default=200, help="int8 calibration images")
    p.add_argument("--integer-io", action="store_true", help="int8: uint8 image input")
    p.add_argument("--check-images", type=int, default=16, help="images to compare with Keras")
    p.add_argument("--graph", choices=["two_stage", "single"], default="two_stage",
                   help="detect + branch stages (every person gets a mask), or one graph")
    p.add_argument("--max-detections", type=int, help="two-stage NMS cap (default: config's)")
    p.add_argument("--input-size", metavar="WxH", help="export at another input size, "
                   "multiples of 32 (e.g. 576x320 for 16:9 frames; default: the config's)")
    p.add_argument("--output", required=True, help="model file to write (sidecar beside it)")

    p = command("benchmark", commands.cmd_benchmark, "per-stage latency, FPS and memory of a model")
    _runtime_options(p)
    p.add_argument("--runs", type=int, default=100, help="timed runs")
    p.add_argument("--warmup", type=int, default=10, help="untimed runs first")
    p.add_argument("--images", help="folder of photos (default: the shipped samples)")
    p.add_argument("--output", help="report JSON")

    p = command("demo", commands.cmd_demo, "live segmentation of a camera, video, stream or folder")
    _runtime_options(p, score=True)
    p.add_argument("--source", required=True, action="append",
                   help="camera index (0), video file, URL or folder; repeat it for several "
                        "streams in one process")
    p.add_argument("--output", help="record the annotated stream (.mp4 or .avi; several "
                                    "sources: NAME_<k>.mp4 each)")
    p.add_argument("--no-display", action="store_true", help="headless (servers, CI)")
    p.add_argument("--smooth", action="store_true",
                   help="temporal smoothing of masks (by track ID with --track)")
    _track_options(p)
    p.add_argument("--reconnect-seconds", type=float, default=20.0,
                   help="how long a dropped live stream is retried")
    p.add_argument("--summary", help="write the run summary JSON here")
    p.add_argument("--blur-background", action="store_true",
                   help="blur what is not person (a semantic --model, or the instance masks' "
                        "union)")
    p.add_argument("--replace-background", metavar="IMAGE",
                   help="replace what is not person with this image")

    p = command("predict", commands.cmd_predict, "segment images, a folder or a video (overlays and a "
                "COCO results.json)")
    _runtime_options(p, score=True)
    p.add_argument("--source", required=True, help="image, folder of images, or video file "
                   "('samples': the photos shipped with the package)")
    p.add_argument("--output", default="predictions", help="folder for results and overlays")
    p.add_argument("--annotations", help="COCO json whose image ids the results carry")
    p.add_argument("--no-overlays", action="store_true", help="only write results.json")
    _track_options(p, demo=False)
    p.add_argument("--exist-ok", action="store_true",
                   help="write into --output even if it holds a run (default: next free name)")
    p.add_argument("--resume", action="store_true",
                   help="continue the folder run in --output: skip the images its "
                        "results.jsonl holds")
    p.add_argument("--task", choices=["instance", "semantic"], default="instance",
                   help="semantic: one person mask per image (a semantic --model, or the "
                        "instance masks' union)")

    p = command("serve", commands.cmd_serve, "the segmenter as a service: a live page, REST, "
                "WebSocket and MQTT events, Prometheus metrics (the serve extra)")
    _runtime_options(p)
    p.add_argument("--source", action="append", default=[],
                   help="camera index, video file, URL or folder to watch; repeat for several")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; any other than loopback needs a token")
    p.add_argument("--port", type=int, default=8000, help="port (0: any free one)")
    p.add_argument("--token", help="bearer token for every route but /healthz (generated and "
                   "printed when listening beyond loopback without one)")
    p.add_argument("--mqtt", metavar="HOST:PORT", help="publish enter/leave events and counts "
                   "to this MQTT broker")
    p.add_argument("--mqtt-topic", default="ssd-isb", help="MQTT topic prefix")
    p.add_argument("--cors", nargs="+", default=[], metavar="ORIGIN",
                   help="browser origins allowed to call the API (default: none)")
    p.add_argument("--track", action="store_true",
                   help="track IDs per stream, and enter/leave events")
    p.add_argument("--score-threshold", type=float, default=0.5, help="detections kept")
    p.add_argument("--loop", action="store_true", help="replay file sources when they end")
    p.add_argument("--max-upload-mb", type=float, default=20.0,
                   help="largest photo POST /v1/segment takes")
    p.add_argument("--max-upload-megapixels", type=float, default=40.0,
                   help="most pixels a posted photo may have")

    p = command("models", commands.cmd_models, "the models shipped with the package")
    p.add_argument("--json", action="store_true", help="machine-readable list")
    return parser


INFO_COMMANDS = ("train", "export", "import-weights", "demo",
                 "calibrate-boxes", "pseudo-label")  # their INFO log is output


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``ssd-isb`` command; returns the exit code (0 done, 2 bad input)."""
    import logging

    from .utils.quiet import configure_logging, hushed, set_verbose

    args = build_parser().parse_args(argv)
    set_verbose(args.verbose)
    configure_logging(logging.INFO if args.command in INFO_COMMANDS or args.verbose
                      else logging.WARNING)
    with hushed(enabled=not args.verbose):
        try:
            with stop_signals():
                text = args.func(args)
        except SSDISBError as err:
            message = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
            print(f"ssd-isb {args.command}: error: {message}", file=sys.stderr)
            return 2
        except ImportError as err:
            # A command run from the base install that needs an extra (train, onnx, eval,
            # teacher): one line naming it, wherever the import happens.
            extra = missing_extra(err, "this command")
            if extra is None:
                raise
            print(f"ssd-isb {args.command}: error: {extra}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as stop:
            # Commands that keep partial work (predict, demo, evaluate...) catch Ctrl-C and
            # SIGTERM themselves; elsewhere a stop is one line, exit 128 + the signal.
            print(f"ssd-isb {args.command}: {stopped_by(stop)}", file=sys.stderr)
            return exit_code(stop)
        text, code = text if isinstance(text, tuple) else (text, 0)
        if text:
            try:
                print(text, flush=True)
            except BrokenPipeError:
                # `ssd-isb models | head`: the reader left; no traceback, and none at exit
                # when Python flushes the closed stdout again.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code


if __name__ == "__main__":
    sys.exit(main())
