"""Export of a semantic model (``model.task: semantic``): TFLite fp32/fp16/int8 (builtin ops
only), ONNX or SavedModel, its sidecar, and a check against Keras on real images.

The graph is a single one (image -> ``probability``), so this is the instance exporter's
single-graph path without detections: the check compares the person masks the two give
(IoU of the thresholded maps) and the mean absolute probability difference.
"""

from __future__ import annotations

import os
import tempfile
from typing import Dict, Optional

import numpy as np

from ..config import Config
from ..core.metadata import ModelMetadata, write_sidecar
from .calibration import calibration_paths, model_inputs
from .formats import ExportError, ExportFormat, Quantization
from .writer import Stopwatch, file_size, write_format

# fp32/fp16 exports must give the Keras model's masks: mean IoU of the person pixels at least
# this (int8 only reports its figures).
MIN_MASK_IOU = {"none": 0.98, "fp16": 0.97}


def load_semantic_for_export(cfg: Config, weights: str):
    """The batch-1 inference model of ``cfg`` with the weights of a ``.keras`` file."""
    from ..model import load_model
    from ..model.semantic import build_semantic_inference_model

    if not weights.endswith(".keras"):
        raise ExportError(f"{weights}: a semantic model exports from its .keras file")
    saved = load_model(weights)
    model = build_semantic_inference_model(cfg)
    try:
        model.set_weights(saved.get_weights())
    except ValueError as err:
        raise ExportError(f"{weights}: its weights do not fit config {cfg.name} "
                          f"({str(err).splitlines()[0]})") from None
    return model


def mask_agreement(reference, exported, inputs, threshold: float) -> Dict:
    """Mean IoU of the thresholded maps (1 where both are empty) and mean |dp| over images."""
    ious, diffs = [], []
    for x in inputs:
        a, b = reference(x), exported(x)
        pa, pb = a > threshold, b > threshold
        union = np.count_nonzero(pa | pb)
        ious.append(np.count_nonzero(pa & pb) / union if union else 1.0)
        diffs.append(float(np.mean(np.abs(a - b))))
    return {"images": len(ious), "mask_iou": round(float(np.mean(ious)), 4),
            "mean_abs_probability": round(float(np.mean(diffs)), 5)}


def export_semantic(cfg: Config, weights: str, fmt: ExportFormat, quantization: Quantization,
                    output: str, calibration: Optional[str] = None,
                    calibration_images: int = 200, integer_io: bool = False,
                    check_images: int = 16) -> Dict:
    """Export one semantic model; arguments as :func:`~ssd_isb.export.export_model`."""
    import tensorflow as tf

    from .saved_model import to_saved_model

    watch = Stopwatch()
    lap = watch.lap
    model = load_semantic_for_export(cfg, weights)
    size = tuple(cfg.model.input_size)
    lap("load")
    os.makedirs(os.path.dirname(os.path.abspath(output)) or ".", exist_ok=True)
    report: Dict = {"format": fmt.value, "quantization": quantization.value, "output": output,
                    "graph": "single", "task": "semantic", "seconds": watch.seconds}
    with tempfile.TemporaryDirectory() as tmp:
        saved = to_saved_model(model, os.path.join(tmp, "saved_model"))
        lap("saved_model")
        representative = None
        if fmt == ExportFormat.TFLITE and quantization == Quantization.INT8:
            # Representative data from the training pipeline's own images.
            paths = calibration_paths(cfg, calibration, calibration_images)
            report["calibration_images"] = len(paths)
            representative = lambda: ([x] for x in model_inputs(paths, size))  # noqa: E731
        write_format(saved, output, fmt, quantization, report, (1,) + size + (3,),
                     representative, integer_io)
        lap(fmt.value)
    params = int(model.count_params())
    meta = ModelMetadata.from_config(cfg, backend_format=fmt.value,
                                     quantization=quantization.value, params=params,
                                     input_dtype="uint8" if integer_io else "float32")
    report["sidecar"] = write_sidecar(output, meta)
    report["bytes"] = file_size(output)
    report["params"] = params
    if fmt != ExportFormat.SAVED_MODEL:
        from ..runtime.backends import load_backend

        backend = load_backend(output, meta=meta)
        report["io"] = backend.io_lines()
        if check_images:
            paths = calibration_paths(cfg, calibration, check_images, seed=1,
                                      side="val" if cfg.data.val and not calibration
                                      else "train")
            fn = tf.function(lambda x: model(x, training=False))
            result = mask_agreement(lambda x: np.asarray(fn(x)["probability"]),
                                    lambda x: backend.run(x)["probability"],
                                    list(model_inputs(paths, size)), cfg.semantic.threshold)
            report["agreement"] = result
            lap("agreement")
            floor = MIN_MASK_IOU.get(quantization.value)
            if floor is not None and result["mask_iou"] < floor:
                os.replace(output, output + ".rejected")
                raise ExportError(f"{output}: exported model disagrees with Keras (mask IoU "
                                  f"{result['mask_iou']:.3f} < {floor} on {result['images']} "
                                  f"images); kept as {output}.rejected")
    return report
