"""Score calibration: move a detector's best operating point back to the runtime's threshold.

A fine-tuned class head can rank detections better (higher AP) and yet score them all lower:
release 7's tuned heads, trained with 3 hard negatives per person, had their best F1 at 0.4
instead of the 0.5 every command keeps by default, so users would have lost a third of the
people they found before. With a sigmoid score, adding ``logit(target) - logit(t)`` to every
class logit maps a score ``t`` to exactly ``target`` and keeps every ranking, so AP and the
masks do not change: only which detections a threshold keeps. Like the box calibration it is a
constant in the predictors' biases, so every exported format (TFLite, ONNX, TensorRT) carries it.
"""

from __future__ import annotations

import math
from typing import Dict, Sequence, Union

import numpy as np

from ..utils.errors import UsageError


def logit_offset(threshold: float, target: float = 0.5) -> float:
    """What to add to the class logits so a score of ``threshold`` becomes ``target``."""
    for name, value in (("threshold", threshold), ("target", target)):
        if not 0.0 < value < 1.0:
            raise UsageError(f"score {name} {value} must be strictly between 0 and 1")
    return math.log(target / (1 - target)) - math.log(threshold / (1 - threshold))


Offset = Union[float, Sequence[float]]


def layer_offset(offset: Offset, layer_name: str) -> float:
    """The offset of one ``BoxPredictor_<l>/ClassPredictor`` layer: ``offset`` itself, or its
    l-th entry when one offset per anchor layer is given (``experiments/score_by_layer.py``)."""
    if isinstance(offset, (int, float)):
        return float(offset)
    index = int(layer_name[len("BoxPredictor_"):].split("_", 1)[0].split("/", 1)[0])
    return float(offset[index])


def shift_class_logits(detector, offset: Offset, num_classes: int) -> int:
    """Add ``offset`` (one number, or one per anchor layer) to the class columns (not
    background) of every ``ClassPredictor`` bias.

    Returns:
        How many predictor layers were shifted.
    """
    shifted = 0
    for layer in detector.layers:
        if not (layer.name.startswith("BoxPredictor_") and layer.name.endswith("ClassPredictor")):
            continue
        kernel, bias = layer.get_weights()
        columns = bias.reshape(-1, num_classes + 1).copy()  # [anchor type, background + classes]
        columns[:, 1:] += np.float32(layer_offset(offset, layer.name))
        layer.set_weights([kernel, columns.reshape(bias.shape)])
        shifted += 1
    return shifted


def shift_model_file(path: str, output: str, offset: Offset) -> Dict:
    """Write ``path``'s ``.keras`` model with its class logits shifted by ``offset`` (one
    number, or one per anchor layer).

    Raises:
        UsageError: not a sigmoid model (a softmax score does not move by a constant), or a
            path is not a ``.keras`` file.
    """
    from ..utils.files import check_keras_paths
    from ..core.metadata import model_config
    from ..model import load_model, save_model

    check_keras_paths([path], output, "calibrated")
    cfg = model_config(path)
    if cfg.model.score_converter != "sigmoid":
        raise UsageError(f"{path}: score calibration needs a sigmoid score converter, not "
                         f"{cfg.model.score_converter}")
    model = load_model(path)
    n = shift_class_logits(model.get_layer("detector"), offset, len(cfg.model.class_names))
    save_model(model, output, cfg)
    return {"model": path, "output": output, "logit_offset": offset, "layers": n}


THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.01), 2)


def best_f1_threshold(model: str, records, threads: int = 2) -> Dict:
    """Run ``model`` (any backend) on ``records`` (:class:`~ssd_isb.data.coco.ImageRecord`) and
    find the score threshold with the best F1 (a person found at box IoU >= 0.5, greedy by
    score).

    Returns:
        ``threshold``, ``best`` (its row), ``rows`` (every threshold), ``people``, ``images``.
    """
    from ..evaluation.operating_point import best_threshold, f1_table, match_detections
    from ..utils.progress import progress
    from ..runtime import Segmenter

    # The model's own scores, one pass: what the calibration shifts is the detector's.
    seg = Segmenter(model, threads=threads, score_threshold=0.01, tiles="off", zoom="off")
    scores, found, people = [], [], 0
    for rec in progress(records, desc="score"):
        result = seg(rec.path)
        gt = np.array([i.box for i in rec.persons], np.float32).reshape(-1, 4)
        people += len(gt)
        scores.append(result.scores)
        found.append(match_detections(result.boxes, result.scores, gt))
    rows = f1_table(np.concatenate(scores), np.concatenate(found), people, THRESHOLDS)
    threshold, best = best_threshold(rows)
    return {"threshold": threshold, "best": best, "rows": rows, "people": people,
            "images": len(records)}
