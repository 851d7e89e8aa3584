"""Putting a fine-tuned detector under another model's branches.

The branches read the backbone's maps only (the crop is a stop-gradient), so a detector
fine-tuned with its backbone frozen (``docs/releases/finetune_detector_multi_shape.yaml``) gives any
branches trained on that backbone exactly the features they were trained on: only the boxes
change. One detector fine-tune therefore serves every shipped variant. A model whose backbone
differs is refused, since its branches would read maps they never saw, unless the caller says
the branches will be trained on the new maps next (``allow_new_backbone``: e.g. a detector whose
upper backbone learned, put under Single-Branch before its branch is fine-tuned).
"""

from __future__ import annotations

from typing import Dict

import numpy as np

from ..utils.errors import UsageError
from ..core.layer_names import BACKBONE, component


def transplant_detector(detector_path: str, branches_path: str, output: str,
                        allow_new_backbone: bool = False) -> Dict:
    """Write ``branches_path``'s model with ``detector_path``'s detector as ``output``.

    Args:
        detector_path: ``.keras`` model whose detector (backbone, SSD layers, box predictors)
            is taken.
        branches_path: ``.keras`` model whose branches, config and sidecar settings are kept.
        output: the new ``.keras`` model.
        allow_new_backbone: take a different backbone too (the branches must then be trained
            on its maps before use).

    Returns:
        Report: the two sources, the output and, per detector component, how many layers'
        weights changed.

    Raises:
        UsageError: a path is not a ``.keras`` model, the two models differ in their ``model``
            config section, or their backbones differ (the branches were trained on other maps).
    """
    from ..config import config_differences
    from ..utils.files import check_keras_paths
    from ..core.metadata import model_config
    from ..model import load_model, save_model

    check_keras_paths([detector_path, branches_path], output)
    cfg = model_config(branches_path)
    diffs = config_differences(model_config(detector_path), cfg, ("model",))
    if diffs:
        raise UsageError(f"{detector_path}: its detector is not {branches_path}'s kind: "
                         + "; ".join(diffs))
    source = load_model(detector_path).get_layer("detector")
    model = load_model(branches_path)
    target = model.get_layer("detector")
    changed: Dict[str, int] = {}
    for layer in source.layers:
        if not layer.weights:
            continue
        new, old = layer.get_weights(), target.get_layer(layer.name).get_weights()
        if all(np.array_equal(a, b) for a, b in zip(new, old)):
            continue
        part = component(layer.name)
        if part == BACKBONE and not allow_new_backbone:
            raise UsageError(f"{detector_path}: its backbone differs from {branches_path}'s "
                             f"(layer {layer.name}): the branches were trained on other maps "
                             f"(--allow-new-backbone if you fine-tune them next)")
        changed[part] = changed.get(part, 0) + 1
        target.get_layer(layer.name).set_weights(new)
    save_model(model, output, cfg)
    return {"detector": detector_path, "branches": branches_path, "output": output,
            "changed_layers": changed}


def summary_line(report: Dict) -> str:
    """The one line ``ssd-isb transplant-detector`` prints."""
    parts = ", ".join(f"{n} {part}" for part, n in sorted(report["changed_layers"].items()))
    note = ("; the backbone changed: fine-tune the branches on it before use"
            if BACKBONE in report["changed_layers"] else "")
    return (f"detector of {report['detector']} + branches of {report['branches']} -> "
            f"{report['output']} (layers changed: {parts or 'none, same detector'}){note}")
