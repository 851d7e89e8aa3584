"""Per-branch mask calibration: each branch's logit offset into its scoring-conv bias.

The offsets come from :class:`ssd_isb.evaluation.branch_offsets.BranchOffsetSearch` (mask AP
on training-side images). A constant added to a branch's 1x1 scoring-conv bias adds it to every
logit the branch emits, and the bilinear paste keeps constants, so the branch's masks are cut
as if at ``mask_threshold_logit - offset``; the runtime keeps its one threshold, and TFLite,
ONNX and TensorRT exports carry the offsets like any weight.
"""

from __future__ import annotations

from typing import Dict

import numpy as np

from ..utils.errors import UsageError


def shift_branch_logits(mask_head, offsets: Dict[str, float]) -> Dict[str, float]:
    """Add ``offsets[name]`` to the scoring-conv bias of each named branch of ``mask_head``.

    Returns:
        The offsets applied (branches with a zero offset left out).

    Raises:
        UsageError: an offset names a branch the model does not have.
    """
    branches = {b.name: b for b in mask_head.branches}
    unknown = sorted(set(offsets) - set(branches))
    if unknown:
        raise UsageError(f"no branch {', '.join(unknown)} in this model (its branches: "
                         f"{', '.join(sorted(branches))})")
    applied = {}
    for name, offset in offsets.items():
        if not offset:
            continue
        kernel, bias = branches[name].score.get_weights()
        branches[name].score.set_weights([kernel, bias + np.float32(offset)])
        applied[name] = float(offset)
    return applied


def shift_model_file(path: str, output: str, offsets: Dict[str, float]) -> Dict:
    """Write ``path``'s ``.keras`` model with its branches' logits shifted by ``offsets``.

    Raises:
        UsageError: a path is not a ``.keras`` file, or an offset names no branch of the model.
    """
    from ..utils.files import check_keras_paths
    from ..core.metadata import model_config
    from ..model import load_model, save_model

    check_keras_paths([path], output, "calibrated")
    cfg = model_config(path)
    model = load_model(path)
    applied = shift_branch_logits(model.get_layer("mask_head"), offsets)
    save_model(model, output, cfg)
    return {"model": path, "output": output, "branch_logit_offsets": applied}
