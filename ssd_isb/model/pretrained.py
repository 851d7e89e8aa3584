"""Pretrained COCO weights from the TF Object Detection API into the Keras detector.

Two sources, one canonical form ``{layer: LayerWeights}`` keyed by our Keras layer names:

* the zoo TFLite file (``detect.tflite``): uint8 weights dequantized as ``scale * (q - zero)``,
  int32 biases as ``scale * q``; batch norm is folded into the conv bias, so the Keras batch norm
  becomes the identity plus that bias (gamma 1, mean 0, variance 1 - eps, beta = bias);
* a TF OD API float checkpoint (``model.ckpt`` prefix): the same variable names with
  ``weights``/``depthwise_weights``/``biases`` and ``BatchNorm/{gamma,beta,moving_mean,
  moving_variance}``.

The 91-column COCO class predictor keeps background and the configured classes (person by
default; all 90 with ``class_names`` equal to the zoo label map).

Reading the TFLite file needs only LiteRT; writing into a Keras model needs TensorFlow.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..utils.errors import SSDISBError
from ..core.layer_names import is_box_predictor

COCO_NUM_CLASSES = 90  # the zoo predictor has 91 columns: background + 90 label-map ids


class WeightImportError(SSDISBError, ValueError):
    """A weight source is missing, unreadable or does not fit the model; names the tensor."""


@dataclass
class LayerWeights:
    """Weights of one conv layer in Keras layout."""

    kernel: np.ndarray  # Conv2D (kh, kw, in, out); DepthwiseConv2D (kh, kw, in, 1)
    bias: Optional[np.ndarray] = None  # box predictors
    batch_norm: Optional[Dict[str, np.ndarray]] = None  # gamma, beta, moving_mean, moving_var


_SCOPES = ("FeatureExtractor/MobilenetV1/MobilenetV1/", "FeatureExtractor/MobilenetV1/")


def _layer_name(tf_scope: str) -> str:
    for prefix in _SCOPES:
        if tf_scope.startswith(prefix):
            return tf_scope[len(prefix):]
    return tf_scope.replace("/", "_")  # BoxPredictor_0/ClassPredictor -> BoxPredictor_0_...


# ---------------------------------------------------------------------------------------------
# Zoo TFLite


_TFL_WEIGHT = re.compile(r"^(?P<scope>.+)/weights_quant/FakeQuantWithMinMaxVars$")
_TFL_BIAS = re.compile(r"^(?P<scope>.+)/(?:Conv2D_Fold_bias|depthwise_Fold_bias|Conv2D_bias)$")


def read_zoo_tflite(path: str) -> Dict[str, LayerWeights]:
    """Dequantize every conv of the zoo SSD-MobileNet TFLite file.

    Returns:
        ``{keras layer name: LayerWeights}`` with batch norm folded (identity BN + bias).
    """
    if not os.path.exists(path):
        raise WeightImportError(f"{path}: no such file")
    from ..runtime.backends.base import BackendError
    from ..runtime.tflite import dequantize, open_interpreter

    try:
        interpreter = open_interpreter(path, allocate=False)
    except BackendError as err:
        raise WeightImportError(f"{path}: not a TFLite model ({err})") from None
    details = {d["name"]: d for d in interpreter.get_tensor_details()}

    def value(detail) -> np.ndarray:
        # uint8 weights: scale * (q - zero); int32 biases: scale * q (zero point 0).
        return np.asarray(dequantize(interpreter.get_tensor(detail["index"]), detail),
                          np.float32)

    weights, biases = {}, {}
    for name, detail in details.items():
        m = _TFL_WEIGHT.match(name)
        if m:
            weights[_layer_name(m["scope"])] = value(detail)
            continue
        m = _TFL_BIAS.match(name)
        if m:
            biases[_layer_name(m["scope"])] = value(detail)
    if not weights:
        raise WeightImportError(f"{path}: no TF OD API conv weights found (is it the zoo SSD model?)")
    out = {}
    for layer, w in weights.items():
        if layer not in biases:
            raise WeightImportError(f"{path}: {layer} has weights but no bias tensor")
        b = biases[layer]
        # TFLite [out, kh, kw, in] -> Keras [kh, kw, in, out]; depthwise [1, kh, kw, C] ->
        # [kh, kw, C, 1] is the same permutation.
        kernel = np.transpose(w, (1, 2, 3, 0))
        if is_box_predictor(layer):
            out[layer] = LayerWeights(kernel, bias=b)
        else:
            out[layer] = LayerWeights(kernel, batch_norm=folded_batch_norm(b))
    return out


def folded_batch_norm(bias: np.ndarray, epsilon: float = 1e-3) -> Dict[str, np.ndarray]:
    """Batch-norm parameters that make BN(x) = x + bias exactly."""
    n = bias.shape[0]
    return {"gamma": np.ones(n, np.float32), "beta": bias.astype(np.float32),
            "moving_mean": np.zeros(n, np.float32),
            "moving_variance": np.full(n, 1.0 - epsilon, np.float32)}


# ---------------------------------------------------------------------------------------------
# TF OD API float checkpoint


def read_tf_checkpoint(prefix: str) -> Dict[str, LayerWeights]:
    """Read a TF OD API SSD-MobileNet-v1 checkpoint (``model.ckpt`` prefix).

    Needs TensorFlow (``tf.train.load_checkpoint``).
    """
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.NotFoundError, tf.errors.DataLossError, ValueError) as err:
        raise WeightImportError(f"{prefix}: not a readable checkpoint "
                           f"({str(err).splitlines()[0]})") from None
    shapes = reader.get_variable_to_shape_map()
    groups: Dict[str, Dict[str, np.ndarray]] = {}
    for var in shapes:
        if "/ExponentialMovingAverage" in var or "/RMSProp" in var or "/Momentum" in var:
            continue
        scope, _, leaf = var.rpartition("/")
        if leaf in ("gamma", "beta", "moving_mean", "moving_variance") and scope.endswith(
                "/BatchNorm"):
            groups.setdefault(_layer_name(scope[:-len("/BatchNorm")]), {})[leaf] = \
                reader.get_tensor(var)
        elif leaf in ("weights", "depthwise_weights", "biases"):
            groups.setdefault(_layer_name(scope), {})[leaf] = reader.get_tensor(var)
    out = {}
    for layer, g in groups.items():
        kernel = g.get("weights", g.get("depthwise_weights"))
        if kernel is None:
            continue
        bn = None
        if "beta" in g:
            n = g["beta"].shape[0]
            bn = {"gamma": g.get("gamma", np.ones(n, np.float32)), "beta": g["beta"],
                  "moving_mean": g["moving_mean"], "moving_variance": g["moving_variance"]}
        out[layer] = LayerWeights(np.asarray(kernel, np.float32), bias=g.get("biases"),
                                  batch_norm=bn)
    if not out:
        raise WeightImportError(f"{prefix}: no TF OD API conv variables in this checkpoint")
    return out


def read_source(path: str) -> Dict[str, LayerWeights]:
    """Zoo ``.tflite`` file or checkpoint prefix."""
    if path.endswith(".tflite"):
        return read_zoo_tflite(path)
    return read_tf_checkpoint(path)


# ---------------------------------------------------------------------------------------------
# Into Keras


def class_columns(class_ids: Sequence[int], num_anchors: int,
                  source_columns: int = COCO_NUM_CLASSES + 1) -> np.ndarray:
    """Output channels of a per-anchor class predictor keeping background + ``class_ids``."""
    keep = [0] + list(class_ids)
    return np.array([a * source_columns + c for a in range(num_anchors) for c in keep])


def coco_class_ids(class_names: Sequence[str], label_map: Sequence[str]) -> List[int]:
    """Zoo predictor columns of class names (``label_map[i]`` is column i, 0 = background)."""
    ids = []
    for name in class_names:
        if name not in label_map:
            raise WeightImportError(f"class '{name}' is not in the COCO label map")
        ids.append(label_map.index(name))
    return ids


DEFAULT_LABEL_MAP = ["???", "person"]  # enough for the person-only default


def import_into_detector(detector, source: Dict[str, LayerWeights],
                         class_ids: Sequence[int] = (1,), source_name: str = "source",
                         only_prefix: Optional[str] = None) -> dict:
    """Copy weights into the Keras detector, every weighted layer must be covered.

    Args:
        detector: the Keras detector from :func:`ssd_isb.model.build_detector`.
        source: from :func:`read_zoo_tflite` / :func:`read_tf_checkpoint`.
        class_ids: source class columns to keep after background (person = 1).
        source_name: file name for error messages.
        only_prefix: import only the layers whose names start with this (``Conv2d_``: the
            MobileNet-v1 encoder of another model, e.g. a semantic one); others are left alone.

    Returns:
        Report with the layers imported and parameters written.

    Raises:
        WeightImportError: a layer is missing from the source or has the wrong shape (names both).
    """
    imported, params = [], 0
    for layer in detector.layers:
        if not layer.weights:
            continue
        name = layer.name
        if name.endswith("_BatchNorm"):
            continue  # written with its conv
        if only_prefix is not None and not name.startswith(only_prefix):
            continue
        if name not in source:
            raise WeightImportError(f"{source_name}: no weights for layer {name}")
        lw = source[name]
        kernel = lw.kernel
        bias = lw.bias
        if name.endswith("_ClassPredictor"):
            target_out = layer.kernel.shape[-1]
            per_anchor_src = COCO_NUM_CLASSES + 1
            anchors = kernel.shape[-1] // per_anchor_src
            if kernel.shape[-1] % per_anchor_src or anchors * (len(class_ids) + 1) != target_out:
                raise WeightImportError(
                    f"{source_name}: {name} has {kernel.shape[-1]} outputs; cannot keep "
                    f"{len(class_ids)} class(es) for {target_out} outputs")
            cols = class_columns(class_ids, anchors, per_anchor_src)
            kernel, bias = kernel[..., cols], bias[cols]
        values = [kernel] + ([bias] if bias is not None and len(layer.weights) > 1 else [])
        expected = [tuple(w.shape) for w in layer.weights]
        got = [tuple(v.shape) for v in values]
        if expected != got:
            raise WeightImportError(f"{source_name}: {name} expects shapes {expected}, source has {got}"
                               f" (wrong depth multiplier?)")
        layer.set_weights(values)
        params += sum(v.size for v in values)
        if lw.batch_norm is not None:
            bn = detector.get_layer(f"{name}_BatchNorm")
            bn_values = [lw.batch_norm[k] for k in ("gamma", "beta", "moving_mean",
                                                    "moving_variance")]
            if [tuple(w.shape) for w in bn.weights] != [v.shape for v in bn_values]:
                raise WeightImportError(f"{source_name}: {name} batch norm shape mismatch")
            bn.set_weights(bn_values)
            params += sum(v.size for v in bn_values)
        imported.append(name)
    return {"layers": len(imported), "params": int(params)}


def import_weights(cfg, source: str, output: str, classes: str = "config",
                   label_map: Optional[str] = None) -> Dict:
    """``ssd-isb import-weights``: a zoo ``.tflite`` or TF OD API checkpoint into the detector.

    Args:
        cfg: the config of the model to initialize.
        source: zoo ``detect.tflite`` or a checkpoint prefix (``model.ckpt``).
        output: ``.weights.h5`` (detector weights, for ``train --init``) or ``.keras`` (a
            whole model with untrained branches).
        classes: "config" keeps the config's classes; "all" the 90 COCO classes.
        label_map: the zoo's ``labelmap.txt`` (needed for classes other than person).

    Returns:
        The report (layers, parameters, source, classes), also written beside the output
        (``W.weights.h5.json``, or ``M.keras.import.json``); ``output`` is the file written.
    """
    import dataclasses

    from ..config import ConfigError
    from ..utils.files import write_json

    names = DEFAULT_LABEL_MAP
    if label_map:
        with open(label_map, encoding="utf-8") as fh:
            names = [line.strip() for line in fh if line.strip()]
    if classes == "all":
        if len(names) != COCO_NUM_CLASSES + 1:
            raise ConfigError("--classes all needs the zoo's 91-line --label-map (labelmap.txt)")
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model,
                                                                 class_names=list(names[1:])))
        class_ids = list(range(1, COCO_NUM_CLASSES + 1))
    else:
        class_ids = coco_class_ids(cfg.model.class_names, names)
    from . import SSDISB, build_detector, save_model

    weights = read_source(source)
    detector = build_detector(cfg)
    report = import_into_detector(detector, weights, class_ids, os.path.basename(source))
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    if output.endswith(".keras"):
        # A whole model (untrained branches): evaluate it with --box-masks, or fine-tune.
        model = SSDISB(cfg, detector=detector)
        out = save_model(model.inference_model, output, cfg, params=model.count_params())
    else:
        out = output if output.endswith(".weights.h5") else output + ".weights.h5"
        detector.save_weights(out)
    report = {"source": os.path.abspath(source), "config": cfg.name,
              "class_names": list(cfg.model.class_names), "class_ids": class_ids, **report}
    # Detector weights get the report as their sidecar; a .keras model's sidecar is its
    # ModelMetadata (the config it describes itself with), so its report goes beside it.
    write_json(out + (".import.json" if out.endswith(".keras") else ".json"), report)
    return {**report, "output": out}


def import_encoder(model, source_path: str) -> dict:
    """Copy the MobileNet-v1 weights of a zoo ``detect.tflite`` (or checkpoint) into a semantic
    model's encoder (:mod:`ssd_isb.model.semantic`); its score and upsampling layers keep their
    initialization.

    Raises:
        WeightImportError: a layer is missing or has another shape (the depth multiplier).
    """
    from .semantic import semantic_net_of

    net = model if model.name.startswith("semantic_net_") else semantic_net_of(model)
    return import_into_detector(net, read_source(source_path), source_name=source_path,
                                only_prefix="Conv2d_")

