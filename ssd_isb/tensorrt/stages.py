"""A two-stage ONNX export as two TensorRT networks (TF-free; needs ``onnx``, not TensorRT).

A TensorRT engine runs its whole network on every call, so the two stages of a two-stage ONNX
graph become two engines: the detect stage (static shapes, as the single graph) and the branch
stage, whose crop inputs have a dynamic first dimension (the number of people a branch gets)
covered by one optimization profile. A branch call sets its own inputs to K crops and every
other branch's to the profile minimum (one crop), whose outputs it ignores: on a GPU the other
branches' single crops cost far less than a second engine launch each.
"""

from __future__ import annotations

import os
from typing import Dict, Sequence, Tuple

from ..stages import stage_io

Shape = Tuple[int, ...]


def split_two_stage(onnx_path: str, meta, folder: str) -> Tuple[str, str]:
    """Write the detect stage and the branch stage of a two-stage ONNX file as two ONNX files
    in ``folder``; returns their paths."""
    import onnx
    from onnx.utils import Extractor

    extractor = Extractor(onnx.load(onnx_path))
    stem = os.path.splitext(os.path.basename(onnx_path))[0]
    paths = []
    for tag, (inputs, outputs) in zip(("detect", "isb"), stage_io(meta)):
        path = os.path.join(folder, f"{stem}.{tag}.onnx")
        onnx.save(extractor.extract_model(inputs, outputs), path)
        paths.append(path)
    return paths[0], paths[1]


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


def branch_engine_path(engine_path: str) -> str:
    """Where the branch-stage engine of ``engine_path`` (the detect stage) goes."""
    stem, ext = os.path.splitext(engine_path)
    return f"{stem}.isb{ext or '.engine'}"
