"""A two-stage ONNX export as TensorRT networks (TF-free; needs ``onnx``, not TensorRT).

A TensorRT engine runs its whole network on every call, so the stages of a two-stage ONNX
graph become separate engines: the detect stage (static shapes, as the single graph), the
branch stage, whose crop inputs have a dynamic first dimension (the number of people a branch
gets) covered by one optimization profile, and the features stage (the second look per
person: a batch of zoomed views, any size up to the model's input, one profile). A branch call sets its own inputs to K crops and every
other branch's to the profile minimum (one crop), whose outputs it ignores: on a GPU the other
branches' single crops cost far less than a second engine launch each.
"""

from __future__ import annotations

import os
from typing import Dict, NamedTuple, Optional, Sequence, Tuple

from ..core.stages import features_io, stage_io

Shape = Tuple[int, ...]


class StageFiles(NamedTuple):
    """The ONNX files of a two-stage model's stages (``features`` None without one)."""

    detect: str
    branches: str
    features: Optional[str] = None


def split_two_stage(onnx_path: str, meta, folder: str) -> StageFiles:
    """Write the detect stage, the branch stage and (when the model has one) the features
    stage of a two-stage ONNX file as ONNX files in ``folder``; returns their paths."""
    import onnx
    from onnx.utils import Extractor

    extractor = Extractor(onnx.load(onnx_path))
    stem = os.path.splitext(os.path.basename(onnx_path))[0]
    stages = list(zip(("detect", "isb"), stage_io(meta)))
    if getattr(meta, "features_stage", False):
        stages.append(("features", features_io(meta)))
    paths = []
    for tag, (inputs, outputs) in stages:
        path = os.path.join(folder, f"{stem}.{tag}.onnx")
        onnx.save(extractor.extract_model(inputs, outputs), path)
        paths.append(path)
    return StageFiles(*paths)


def features_profile(input_shapes: Dict[str, Sequence], input_size: Sequence[int],
                     max_views: int, opt_views: int = 4, min_side: int = 128
                     ) -> Dict[str, Tuple[Shape, Shape, Shape]]:
    """(min, opt, max) shapes of the features stage's ``images``: 1 view of ``min_side``
    pixels, ``opt_views`` and ``max_views`` views at the model's input size."""
    h, w = int(input_size[0]), int(input_size[1])
    out = {}
    for name, shape in input_shapes.items():
        channels = int(shape[-1]) if str(shape[-1]).isdigit() else 3
        out[name] = ((1, min(min_side, h), min(min_side, w), channels),
                     (min(opt_views, max_views), h, w, channels), (max_views, h, w, channels))
    return out


def branch_profile(input_shapes: Dict[str, Sequence], max_crops: int, opt_crops: int = 4
                   ) -> Dict[str, Tuple[Shape, Shape, Shape]]:
    """(min, opt, max) shapes of every input with a dynamic first dimension: 1, ``opt_crops``
    and ``max_crops`` crops (the detect stage's NMS cap: every detection may take one
    branch)."""
    out = {}
    for name, shape in input_shapes.items():
        dims = [int(d) if isinstance(d, (int,)) or str(d).lstrip("-").isdigit() else -1
                for d in shape]
        if dims and dims[0] < 0:
            rest = tuple(dims[1:])
            out[name] = ((1,) + rest, (min(opt_crops, max_crops),) + rest, (max_crops,) + rest)
    return out


def branch_engine_path(engine_path: str, tag: str = "isb") -> str:
    """Where the branch-stage (``tag`` "isb") or features-stage ("features") engine of
    ``engine_path`` (the detect stage) goes."""
    stem, ext = os.path.splitext(engine_path)
    return f"{stem}.{tag}{ext or '.engine'}"
