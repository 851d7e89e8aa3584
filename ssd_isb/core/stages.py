"""The two-stage model, by name: what each stage takes and gives (TF-free).

A two-stage export holds a ``detect`` stage (image -> detections and the stride-32/16/8 (/4)
feature maps) and one stage per instance segmentation branch (crops of the maps, any number of
them -> mask logits). The runtime computes windows, bucketing and crops between the two, so every
detection above the score threshold gets its mask and the branches run only on the people in
the frame. The exporter, the runtimes (LiteRT signatures, ONNX inputs and outputs, TensorRT
bindings) and the sidecar all name things through this module.
"""

from __future__ import annotations

from typing import List, Tuple

GRAPHS = ("two_stage", "single")
DETECT = "detect"
# Images (any batch, any size) -> the maps only: the second look per person.
FEATURES_STAGE = "features"
DETECTIONS = ("boxes", "scores", "classes", "count")
FEATURES = ("stride32", "stride16", "stride8", "stride4")
LEVELS = (1, 2, 4, 8)  # resolution of each feature map relative to the stride-32 grid


def feature_names(skip_steps: int) -> List[str]:
    """The maps a branch with ``skip_steps`` FCN skip steps crops, coarsest first."""
    return list(FEATURES[:skip_steps + 1])


def features_output(feature: str) -> str:
    """Output name of a map in the features stage (``features_stride32``): distinct from the
    detect stage's, as both stages share one ONNX graph."""
    return f"{FEATURES_STAGE}_{feature}"


def crop_names(branch: str, skip_steps: int) -> List[str]:
    """Input names of a branch stage: its crops of the stride-32 (then -16, -8, -4) maps.

    Lower case: SavedModel signatures lower-case their input names, so every format agrees.
    """
    return [f"{branch.lower()}_crop{32 // LEVELS[i]}" for i in range(skip_steps + 1)]


def logits_name(branch: str) -> str:
    """Output name of a branch stage: mask logits [K, h', w', classes]."""
    return f"{branch}_logits"


def features_io(meta) -> Tuple[List[str], List[str]]:
    """(inputs, outputs) by name of the features stage of a two-stage model's metadata."""
    return ["images"], [features_output(k) for k in feature_names(int(meta.skip_steps))]


def stage_io(meta) -> Tuple[Tuple[List[str], List[str]], Tuple[List[str], List[str]]]:
    """(inputs, outputs) by name of the detect stage and of all branches together, for a
    two-stage model's metadata (:class:`~ssd_isb.core.metadata.ModelMetadata`)."""
    steps = int(meta.skip_steps)
    detect = (["image"], list(DETECTIONS) + feature_names(steps))
    names = [b["name"] for b in meta.branches]
    branches = ([n for b in names for n in crop_names(b, steps)], [logits_name(b) for b in names])
    return detect, branches
