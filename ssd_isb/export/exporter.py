"""``ssd-isb export``: Keras model -> TFLite / ONNX / SavedModel, its sidecar, and a check.

One library for every format (like ``official/vision``'s export library): the inference graph is
exported whole (decode, NMS, crops, branches), the sidecar records how to run it, and the
exported file is run against the Keras model on real images; fp32 and fp16 exports that disagree
beyond :data:`~ssd_isb.export.agreement.TOLERANCES` fail, int8 prints its drop.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Dict, Optional

import numpy as np

from ..config import Config
from ..core.metadata import ModelMetadata, write_sidecar
from ..runtime.image_io import model_input
from ..core.stages import DETECT, FEATURES_STAGE, GRAPHS
from .agreement import compare, single_graph, two_stage, within_tolerance
from .calibration import calibration_paths, model_inputs
from .formats import ExportError, ExportFormat, Quantization
from .writer import Stopwatch, file_size, write_format

log = logging.getLogger("ssd_isb.export")


def with_input_size(cfg: Config, size) -> Config:
    """``cfg`` for another input (h, w): the same weights on another grid, with anchors made
    for it (non-square inputs keep anchors square in pixels, as the TF OD API does)."""
    import dataclasses

    from ..config import validate

    h, w = int(size[0]), int(size[1])
    return validate(dataclasses.replace(cfg, model=dataclasses.replace(cfg.model,
                                                                       input_size=(h, w))))


def load_for_export(cfg: Config, weights: str, trained_size=None):
    """The Keras inference model from a ``.keras`` file or detector ``.weights.h5``, built at
    ``cfg``'s input size (a ``.keras`` model trained at ``trained_size`` may be exported at
    another: its layers are size-free)."""
    from ..model import SSDISB, load_model

    if not os.path.exists(weights):
        raise ExportError(f"{weights}: no such weights file")
    if weights.endswith(".keras"):
        saved = load_model(weights)
        expected = tuple(trained_size or cfg.model.input_size)
        if tuple(saved.input_shape[1:3]) != expected:
            raise ExportError(f"{weights}: input {saved.input_shape[1:3]} does not match the "
                              f"config's {expected}")
        # Rebuilt from the config with the saved weights, so an older file exports with
        # today's graph (its layers' weights are the same; the ops around them may improve).
        net = SSDISB(cfg)
        try:
            net.inference_model.set_weights(saved.get_weights())
        except ValueError as err:
            raise ExportError(f"{weights}: its weights do not fit config {cfg.name} "
                              f"({str(err).splitlines()[0]})") from None
        return net.inference_model
    if weights.endswith(".weights.h5"):
        net = SSDISB(cfg)
        try:
            net.detector.load_weights(weights)  # import-weights output: branches untrained
        except ValueError:
            try:
                net.inference_model.load_weights(weights)
            except ValueError as err:
                raise ExportError(f"{weights}: does not fit config {cfg.name} "
                                  f"({str(err).splitlines()[0]})") from None
        return net.inference_model
    raise ExportError(f"{weights}: expected a .keras model or .weights.h5 file")


def export_model(cfg: Optional[Config], weights: str, fmt: ExportFormat,
                 quantization: Quantization, output: str, calibration: Optional[str] = None,
                 calibration_images: int = 200, integer_io: bool = False,
                 check_images: int = 16, check: bool = True, graph: str = "two_stage",
                 max_detections: Optional[int] = None, input_size=None) -> Dict:
    """Export and check one model; returns a report (paths, sizes, I/O, agreement).

    Args:
        cfg: the model's config; None takes it from a ``.keras`` model's sidecar (a config
            given with a ``.keras`` model must agree with it: :func:`~ssd_isb.core.metadata.
            model_config`). Detector weights (``.weights.h5``) need it.
        weights: a ``.keras`` model or ``.weights.h5`` detector weights.
        fmt, quantization: what to write (:class:`ExportFormat`, :class:`Quantization`).
        output: the file (or SavedModel folder) to write; its sidecar goes beside it.
        calibration: image folder for int8 calibration and the check (default: the config's
            training data).
        calibration_images: images for int8 calibration.
        integer_io: int8 with a uint8 image input.
        check_images: real images the export is compared with Keras on (0: no check).
        check: run the comparison at all.
        graph: "two_stage" (a detect stage and a branch stage per branch, run with the
            runtime's crops in between: every detection gets its mask) or "single" (one
            self-contained graph with fixed branch slots).
        max_detections: NMS cap of the detect stage (default: the config's).
        input_size: (h, w) to export at instead of the config's, multiples of 32 (e.g.
            (320, 576) for 16:9 frames: the frame is no longer squeezed, and the anchors are
            made for that grid).
    """
    from ..core.metadata import model_config

    if not os.path.exists(weights):
        raise ExportError(f"{weights}: no such weights file")
    if not weights.endswith((".keras", ".weights.h5")):
        kind = os.path.splitext(weights)[1] or "extensionless"
        raise ExportError(f"{weights}: export takes a .keras model (or .weights.h5 detector "
                          f"weights with --config), not a {kind} file; an exported model is "
                          f"exported again from its .keras")
    if weights.endswith(".keras"):
        cfg = model_config(weights, cfg)  # the model describes itself; --config must agree
    elif cfg is None:
        raise ExportError(f"{weights}: detector weights need --config (a .keras model carries "
                          f"its own)")
    trained_size = tuple(cfg.model.input_size)
    if input_size is not None:
        if cfg.model.task == "semantic":
            raise ExportError("--input-size is for instance models")
        cfg = with_input_size(cfg, input_size)
    if cfg.model.task == "semantic":
        from .semantic import export_semantic

        fmt, quantization = ExportFormat(fmt), Quantization(quantization)
        if fmt != ExportFormat.TFLITE and quantization != Quantization.NONE:
            raise ExportError(f"--quantize {quantization.value} is for TFLite")
        return export_semantic(cfg, weights, fmt, quantization, output, calibration,
                               calibration_images, integer_io, check_images if check else 0)
    if graph not in GRAPHS:
        raise ExportError(f"--graph {graph}: expected one of {', '.join(GRAPHS)}")
    if graph == "single" and max_detections:
        raise ExportError("--max-detections sets the two-stage detect stage's NMS cap; the "
                          "single graph keeps the model's")
    import tensorflow as tf

    fmt, quantization = ExportFormat(fmt), Quantization(quantization)
    if fmt != ExportFormat.TFLITE and quantization != Quantization.NONE:
        raise ExportError(f"--quantize {quantization.value} is for TFLite; ONNX and SavedModel "
                          f"export fp32 (TensorRT quantizes when it builds the engine)")
    watch = Stopwatch()
    lap = watch.lap
    model = load_for_export(cfg, weights, trained_size)
    lap("load")
    size = tuple(cfg.model.input_size)
    os.makedirs(os.path.dirname(os.path.abspath(output)) or ".", exist_ok=True)
    report: Dict = {"format": fmt.value, "quantization": quantization.value, "output": output,
                    "graph": graph, "seconds": watch.seconds}
    two = graph == "two_stage"
    if two:
        from .stages import KerasStages, features_model, stage_models

        detect, branches, specs = stage_models(model, cfg, max_detections)
        features = features_model(model, cfg)
        keras_stages = KerasStages(detect, branches, features)
        cap = int(detect.outputs[1].shape[-1])  # the scores head: [1, N]
    else:
        cap = cfg.postprocess.max_detections
    with tempfile.TemporaryDirectory() as tmp:
        saved = os.path.join(tmp, "saved_model")
        if two:
            from .stages import write_saved_model

            write_saved_model(detect, branches, saved, combined=fmt == ExportFormat.ONNX,
                              features=features)
        else:
            from .saved_model import to_saved_model

            to_saved_model(model, saved)
        lap("saved_model")
        representative = None
        if fmt == ExportFormat.TFLITE and quantization == Quantization.INT8:
            paths = calibration_paths(cfg, calibration, calibration_images)
            report["calibration_images"] = len(paths)
            if two:
                from .calibration import read_images
                from .stages import representative_samples

                images = read_images(paths)
                samples = representative_samples(
                    keras_stages.detect, (model_input(p, size) for p in images), specs,
                    cfg.model.grid, cfg.isb.skip_steps, features_fn=keras_stages.features,
                    images=images)
                representative = lambda: iter(samples)  # noqa: E731
            else:
                representative = lambda: ([x] for x in model_inputs(paths, size))  # noqa
        write_format(saved, output, fmt, quantization, report, (1,) + size + (3,),
                     representative, integer_io,
                     signature="combined" if two else "serving_default",
                     signature_keys=[DETECT, FEATURES_STAGE] + [s.name for s in specs] if two
                     else None)
        lap(fmt.value)
    params = int(model.count_params())
    meta = ModelMetadata.from_config(
        cfg, backend_format=fmt.value, quantization=quantization.value, params=params,
        input_dtype="uint8" if integer_io else "float32", graph=graph, max_detections=cap,
        features_stage=two)
    report["sidecar"] = write_sidecar(output, meta)
    report["bytes"] = file_size(output)
    report["params"] = params
    if fmt != ExportFormat.SAVED_MODEL:
        from ..runtime.backends import load_backend

        backend = load_backend(output, meta=meta)
        report["io"] = backend.io_lines()
        for line in report["io"]:
            log.info("%s", line)
        if check and check_images:
            paths = calibration_paths(cfg, calibration, check_images, seed=1,
                                      side="val" if cfg.data.val and not calibration
                                      else "train")
            names = cfg.model.class_names
            if two:
                from ..runtime.mask_stage import MaskStage

                stage = MaskStage(specs, cfg.model.grid, cfg.isb.skip_steps)
                reference = two_stage(keras_stages.detect, keras_stages.run_branch, stage,
                                      names)
                exported = two_stage(backend.detect, backend.run_branch, stage, names)
            else:
                fn = tf.function(lambda x: model(x, training=False))
                reference = single_graph(
                    lambda x: {k: np.asarray(v) for k, v in fn(x).items()}, names)
                exported = single_graph(backend.run, names)
            result = compare(reference, exported, model_inputs(paths, size))
            report["agreement"] = result
            lap("agreement")
            if not within_tolerance(result, quantization.value):
                os.replace(output, output + ".rejected")
                raise ExportError(
                    f"{output}: exported model disagrees with Keras beyond tolerance "
                    f"(matched {result['matched']:.3f}, mask IoU {result['mask_iou']:.3f} on "
                    f"{result['images']} images); kept as {output}.rejected")
    return report


def report_lines(report: Dict) -> list:
    """What ``ssd-isb export`` prints: the file written, stage seconds and the agreement."""
    lines = [f"wrote {report['output']} ({report['bytes'] / 1e6:.2f} MB, {report['format']}, "
             f"{report['quantization']}, {report['graph'].replace('_', '-')} graph) and "
             f"{report['sidecar']}",
             "seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in report["seconds"].items())]
    a = report.get("agreement")
    if a and report.get("task") == "semantic":
        lines.append(f"agreement with Keras on {a['images']} real images: person-mask IoU "
                     f"{a['mask_iou']:.3f}, mean |probability diff| "
                     f"{a['mean_abs_probability']:.4f}")
    elif a:
        lines.append(f"agreement with Keras on {a['images']} real images: "
                     f"{100 * a['matched']:.1f}% of {a['reference_detections']} detections "
                     f"matched, box IoU {a['box_iou']:.3f}, mask IoU {a['mask_iou']:.3f}, "
                     f"score diff {a['score_diff']:.3f}")
    return lines
