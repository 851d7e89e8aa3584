"""``ssd-isb info``: a config's layers and parameter counts, beside the thesis' (TensorFlow)."""

from __future__ import annotations

from typing import Dict, List

from ..core.branches import branch_specs, native_mask_size
from ..config import Config
from ..core.layer_names import component
from .builder import build_model


def semantic_summary(cfg: Config) -> Dict:
    """Parameter counts of a semantic config: encoder and decoder (score/upsampling) layers."""
    from .semantic import build_semantic_net, decoder_stride

    net = build_semantic_net(cfg)
    parts = {"encoder (MobileNet-v1)": 0, "decoder (scores, upsampling)": 0}
    for layer in net.layers:
        n = layer.count_params() if layer.weights else 0
        key = "encoder (MobileNet-v1)" if layer.name.startswith("Conv2d_") else \
            "decoder (scores, upsampling)"
        parts[key] += n
    sem = cfg.semantic
    return {"name": cfg.name, "description": cfg.description, "task": "semantic",
            "input_size": list(cfg.model.input_size),
            "depth_multiplier": cfg.model.depth_multiplier,
            "method": sem.method, "stride": sem.stride, "last_rate": sem.last_rate,
            "encoder": sem.encoder, "decoder_stride": decoder_stride(cfg),
            "components": parts, "params": int(net.count_params()), "thesis_params": None}


def model_summary(cfg: Config) -> Dict:
    """Parameter counts by component and branch for a config (builds the Keras model)."""
    if cfg.model.task == "semantic":
        return semantic_summary(cfg)
    model = build_model(cfg)
    total = model.count_params()  # builds the inference graph, and with it every branch
    parts: Dict[str, int] = {}
    for layer in model.detector.layers:
        n = layer.count_params() if layer.weights else 0
        if n:
            key = component(layer.name)
            parts[key] = parts.get(key, 0) + n
    branches = [{"name": spec.name, "mode": spec.mode, "shape": list(spec.shape),
                 "params": branch.count_params()}
                for spec, branch in zip(branch_specs(cfg.isb), model.mask_head.branches)]
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


def summary_lines(info: Dict) -> List[str]:
    """:func:`model_summary` as the table ``ssd-isb info`` prints."""
    h, w = info["input_size"]
    if info.get("task") == "semantic":
        name = {"fcn": f"FCN-{info['stride']}", "atrous": f"output stride {info['stride']}"}
        lines = [f"{info['name']}: {info['description']}",
                 f"input {h}x{w}, MobileNet-v1 x{info['depth_multiplier']} ({info['encoder']}), "
                 f"semantic {name[info['method']]}, last atrous rate {info['last_rate']}, "
                 f"logits at stride {info['decoder_stride']}",
                 f"{'component':<34}{'params':>12}"]
        lines += [f"{k:<34}{n:>12,}" for k, n in info["components"].items()]
        lines += [f"{'total':<34}{info['params']:>12,}",
                  f"{'thesis':<34}{'n/a':>12}   (Table 4.2 counts 0.5 on Cityscapes' 19 classes)"]
        return lines
    lines = [f"{info['name']}: {info['description']}",
             f"input {h}x{w}, MobileNet-v1 x{info['depth_multiplier']}, stride-32 grid "
             f"{info['grid'][0]}x{info['grid'][1]}, {info['variant']}, FCN-{info['fcn']}, "
             f"{len(info['branches'])} branch(es) x {info['boxes_per_branch']} boxes, "
             f"{info['max_detections']} detections, masks {info['mask_size']}x"
             f"{info['mask_size']}",
             f"{'component':<34}{'params':>12}"]
    lines += [f"{name:<34}{n:>12,}" for name, n in info["components"].items()]
    lines += [f"{b['name'] + ' (' + b['mode'] + ')':<34}{b['params']:>12,}"
              for b in info["branches"]]
    lines.append(f"{'total':<34}{info['params']:>12,}")
    if info["thesis_params"]:
        table = f" (Table {info['thesis_table']})" if info["thesis_table"] else ""
        lines.append(f"{'thesis' + table:<34}{info['thesis_params']:>12,}   "
                     f"{info['difference_percent']:+.2f}%")
    else:
        lines.append(f"{'thesis':<34}{'n/a':>12}   (not a thesis experiment)")
    return lines
