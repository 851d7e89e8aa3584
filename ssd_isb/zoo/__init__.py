"""The models shipped with the package (``ssd-isb models`` lists them)."""

from __future__ import annotations

import json
import os
from typing import Dict, List

from ..utils.errors import SSDISBError

ZOO_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = "ssd_isb_multi_shape_int8.tflite"


class NoShippedModel(SSDISBError, FileNotFoundError):
    """No model file is shipped yet under the expected name."""


def default_model_path() -> str:
    """Path of the default model (int8 Multi-Shape TFLite)."""
    path = os.path.join(ZOO_DIR, DEFAULT_MODEL)
    if not os.path.exists(path):
        raise NoShippedModel(f"{path}: no shipped default model in this install; pass --model")
    return path


MODEL_EXTENSIONS = (".tflite", ".onnx", ".engine", ".keras")


def resolve_model(model: str) -> str:
    """A model path, or a shipped model by the name ``ssd-isb models`` lists it under
    (``ssd_isb_semantic_int8``, with or without its extension): the path where it exists,
    the shipped file otherwise, else ``model`` as given (its error comes when it is opened)."""
    if os.path.exists(model) or os.sep in model or (os.altsep and os.altsep in model):
        return model
    for name in (model,) + tuple(model + ext for ext in MODEL_EXTENSIONS):
        path = os.path.join(ZOO_DIR, name)
        if os.path.isfile(path):
            return path
    return model
REPOSITORY_ZOO = "ssd_isb/zoo/ in a clone of the ssd-isb repository"


def missing_model_message(path: str) -> str:
    """Why a model file is not there: a shipped ``.keras`` (its sidecar is here, the file is
    not) stays out of the wheel, which carries only what runs without TensorFlow."""
    name = os.path.basename(path)
    if name.endswith(".keras") and os.path.exists(os.path.join(ZOO_DIR, name + ".json")):
        return (f"{path}: the .keras models (export, fine-tuning) are not in the installed "
                f"package, only its TFLite files; {name} is in {REPOSITORY_ZOO}")
    return f"{path}: no such model file"
METRICS_FILE = "metrics.json"  # dev-validation figures per shipped file, written at release


def shipped_models() -> List[Dict]:
    """Every model shipped in ``ssd_isb/zoo`` with what its sidecar and the metrics file say.

    Returns:
        One dict per model file: ``file``, ``path``, ``bytes``, ``variant``, ``quantization``,
        ``input_size``, ``params``, ``default`` and, when measured, ``metrics``.
    """
    from ..core.metadata import read_sidecar

    metrics = {}
    metrics_path = os.path.join(ZOO_DIR, METRICS_FILE)
    if os.path.exists(metrics_path):
        with open(metrics_path, encoding="utf-8") as fh:
            metrics = json.load(fh)
    out = []
    for name in sorted(os.listdir(ZOO_DIR)):
        path = os.path.join(ZOO_DIR, name)
        if not name.endswith(MODEL_EXTENSIONS):
            continue
        meta = read_sidecar(path)
        out.append({"file": name, "path": path, "bytes": os.path.getsize(path),
                    "variant": meta.variant, "task": meta.task,
                    "quantization": meta.quantization,
                    "precision": meta.precision,
                    "input_size": list(meta.input_size), "params": meta.params,
                    "default": name == DEFAULT_MODEL,
                    # the file as the runtime runs it by default (tiles and zoom auto), and
                    # its single pass (a .keras model is measured as a single pass only)
                    "metrics": metrics.get(name) or metrics.get(f"{name} one pass"),
                    "one_pass": metrics.get(f"{name} one pass")})
    return out



def model_table(models: List[Dict]) -> List[str]:
    """The lines ``ssd-isb models`` prints: one row per shipped file and a footnote."""
    lines = [f"{'file':40s} {'variant':13s} {'precision':9s} {'input':7s} {'MB':>6s} "
             f"{'params':>10s} {'mask AP50':>9s} {'one pass':>8s}"]
    for m in models:
        metrics = m.get("metrics") or {}
        # A semantic model's figure is its person IoU (marked IoU), an instance model's
        # its mask AP50.
        ap = (metrics.get("segm") or {}).get("AP50")
        iou = (metrics.get("semantic") or {}).get("person_iou")
        single = ((m.get("one_pass") or {}).get("segm") or {}).get("AP50")
        lines.append(f"{m['file'] + (' *' if m['default'] else ''):40s} {m['variant']:13s} "
                     f"{m['precision']:9s} {'x'.join(map(str, m['input_size'])):7s} "
                     f"{m['bytes'] / 1e6:6.2f} {m['params'] or 0:10,d} "
                     + (f"{iou:.1f} IoU" if iou is not None else
                        f"{'' if ap is None else f'{ap:.1f}':>9s} "
                        f"{'' if single is None else f'{single:.1f}':>8s}").rstrip())
    lines.append("* default model (predict, evaluate, benchmark, demo). Mask AP50 (semantic "
                 "models: person IoU) on the dev-validation split, as the runtime runs the file "
                 "by default (tiles and zoom auto) and as a single pass; .keras models are for export and fine-tuning "
                 "(train --init)" + ("" if any(m["file"].endswith(".keras") for m in models)
                                      else f", in {REPOSITORY_ZOO}")
                 + f". Model card: {os.path.join(ZOO_DIR, 'README.md')}")
    return lines
