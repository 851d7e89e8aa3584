#!/usr/bin/env python3
"""Build a TensorRT engine from an SSD-ISB ONNX export (run it on the device that will use it).

Standalone: imports tensorrt, numpy and OpenCV (through ssd_isb's TF-free modules), never
TensorFlow. Writes ``M.engine`` and its sidecar ``M.engine.json``; a two-stage export (the
default) becomes two engines, the detect stage ``M.engine`` and the branch stage
``M.isb.engine`` with an optimization profile over the number of crops, and a third for its
features stage, ``M.features.engine``, with a profile over the number of zoomed views and
their size (the sidecar names them).

    python convert/build_engine.py --onnx model.onnx --engine model.engine --precision fp16
    python convert/build_engine.py --onnx model.onnx --engine model.engine --precision int8 \\
        --calib-images images/ --calib-cache model.calib
    python convert/build_engine.py --onnx model.onnx --check     # no TensorRT needed

``--check`` validates the ONNX (onnx checker, TensorRT op support, static shapes except the
branch inputs' number of crops, polygraphy when installed) and prints its inputs and outputs.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ssd_isb.utils.errors import SSDISBError  # noqa: E402
from ssd_isb.export.onnx_export import tensorrt_issues  # noqa: E402  (TF-free)
from ssd_isb.core.metadata import write_sidecar  # noqa: E402
from ssd_isb.runtime.image_io import list_images  # noqa: E402  (TF-free)
from ssd_isb.tensorrt import (CalibratorCore, ImageBatcher, engine_metadata,  # noqa: E402
                              make_entropy_calibrator, tensorrt_available)
from ssd_isb.tensorrt.engine import TensorRTError  # noqa: E402
from ssd_isb.tensorrt.stages import (branch_engine_path, branch_profile,  # noqa: E402
                                     features_profile, split_two_stage)

log = logging.getLogger("build_engine")


def check_onnx(path: str) -> int:
    """Validate an ONNX file for TensorRT without TensorRT; 0 when it passes."""
    import onnx

    model = onnx.load(path)
    onnx.checker.check_model(model)
    problems = tensorrt_issues(model)
    for kind, values in (("input", model.graph.input), ("output", model.graph.output)):
        for v in values:
            dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                    for d in v.type.tensor_type.shape.dim]
            crops = isinstance(dims[0], str) and dims[0].startswith("K_")  # branch batch
            views = isinstance(dims[0], str) and dims[0] == "N_features"  # zoomed views
            if not views and any(not isinstance(d, int) or d <= 0
                                 for d in dims[1 if crops else 0:]):
                problems.append(f"{kind} {v.name} has a dynamic shape {dims}")
            log.info("%-6s %s: %s %s", kind, v.name, dims,
                     onnx.TensorProto.DataType.Name(v.type.tensor_type.elem_type))
    try:
        from polygraphy.backend.onnx import onnx_from_path
        from polygraphy.backend.onnx.util import get_input_metadata

        log.info("polygraphy: inputs %s", get_input_metadata(onnx_from_path(path).graph))
    except ImportError:
        log.info("polygraphy not installed; onnx checks only")
    for p in problems:
        log.error("%s", p)
    log.info("%s: %s", path, "OK for TensorRT" if not problems else f"{len(problems)} problem(s)")
    return 0 if not problems else 1


def build_one(onnx_path: str, engine_path: str, precision: str, args, profile=None) -> list:
    """One engine from one ONNX file; returns its I/O lines."""
    from ssd_isb.tensorrt.engine import EngineBuilder

    builder = EngineBuilder(args.workspace, args.verbose)
    io_lines = builder.create_network(onnx_path)
    if profile is not None:
        builder.add_profile(profile(builder.input_shapes()))
    calibrator = None
    if precision == "int8":
        batcher = None
        if args.calib_images:
            shape = [int(d) for d in builder.network.get_input(0).shape]
            batcher = ImageBatcher(list_images(args.calib_images), shape, args.calib_batches)
        elif not (args.calib_cache and os.path.exists(args.calib_cache)):
            raise TensorRTError("int8 needs --calib-images or an existing --calib-cache")
        from ssd_isb.tensorrt.cuda import DeviceBuffer

        shape = [int(d) for d in builder.network.get_input(0).shape]
        device = DeviceBuffer(4 * int(np.prod(shape)))
        calibrator = make_entropy_calibrator(
            CalibratorCore(batcher, args.calib_cache, device.copy_from_host))
    builder.build(engine_path, precision, calibrator, args.timing_cache)
    return io_lines


def build(args) -> int:
    import tempfile

    import tensorrt as trt

    meta = engine_metadata(args.onnx, args.precision, trt.__version__)
    if not meta.two_stage:
        io_lines = build_one(args.onnx, args.engine, args.precision, args)
    else:
        # Two engines: the detect stage (int8-calibrated on images like the single graph) and
        # the branch stage with one profile over the number of crops. Its inputs are feature
        # crops, not images, so int8 would need a calibrator of crops: it is built in fp16.
        # The features stage (zoomed views) is built in fp16 likewise: its calibration data
        # would be the views the runtime cuts, not the images ImageBatcher reads.
        stage_precision = "fp16" if args.precision == "int8" else args.precision
        with tempfile.TemporaryDirectory() as tmp:
            files = split_two_stage(args.onnx, meta, tmp)
            branches = branch_engine_path(args.engine)
            io_lines = build_one(files.detect, args.engine, args.precision, args)
            io_lines += build_one(files.branches, branches, stage_precision, args,
                                  profile=lambda shapes: branch_profile(shapes,
                                                                        meta.max_detections))
            meta.stage_files = {"branches": os.path.basename(branches)}
            if files.features:
                features = branch_engine_path(args.engine, "features")
                io_lines += build_one(
                    files.features, features, stage_precision, args,
                    profile=lambda shapes: features_profile(shapes, meta.input_size,
                                                            args.max_views))
                meta.stage_files["features"] = os.path.basename(features)
    meta.config["tensorrt"]["io"] = io_lines
    log.info("wrote %s", write_sidecar(args.engine, meta))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", required=True, help="ONNX file from `ssd-isb export`")
    parser.add_argument("--engine", help="engine to write (default: ONNX name + .engine)")
    parser.add_argument("--precision", choices=["fp32", "fp16", "int8"], default="fp16")
    parser.add_argument("--calib-images", help="folder of real images for int8 calibration")
    parser.add_argument("--calib-cache", help="calibration cache (read if present, else written)")
    parser.add_argument("--calib-batches", type=int, default=500)
    parser.add_argument("--timing-cache", help="builder timing cache (speeds up rebuilds)")
    parser.add_argument("--workspace", type=int, default=1024, help="workspace limit in MB")
    parser.add_argument("--max-views", type=int, default=16,
                        help="most zoomed views the features engine takes in one call "
                             "(default: 16, the runtime's zoom cap)")
    parser.add_argument("--check", "--dry-run", action="store_true", dest="check",
                        help="validate the ONNX only (works without TensorRT)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if not os.path.exists(args.onnx):
        log.error("%s: no such ONNX file", args.onnx)
        return 2
    if args.check:
        return check_onnx(args.onnx)
    if not tensorrt_available():
        log.error("TensorRT is not installed here; build the engine on the target device "
                  "(see docs/jetson.md), or run --check to validate the ONNX")
        return 2
    args.engine = args.engine or os.path.splitext(args.onnx)[0] + ".engine"
    try:
        return build(args)
    except SSDISBError as err:
        log.error("%s", err)
        return 2


if __name__ == "__main__":
    sys.exit(main())
