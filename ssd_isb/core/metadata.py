"""What a model file needs to be run, stored beside it as ``<model file>.json`` (TF-free).

A deployment machine gets a ``.tflite``/``.onnx``/``.engine`` file and this sidecar: input size,
colour order and value range, the variant and class names, and the names of the output heads.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

from ..utils.errors import SSDISBError

FORMAT_VERSION = 2  # 2: the two-stage graph (graph, branches, skip_steps, grid, stage_files)
OUTPUT_NAMES = ("boxes", "scores", "classes", "count", "masks", "mask_windows")
SEMANTIC_OUTPUT_NAMES = ("probability",)  # [1, H, W] person probability at the input size


class MetadataError(SSDISBError, ValueError):
    """The sidecar is missing or malformed; the message names the file."""


@dataclass
class ModelMetadata:
    """Everything the runtime needs besides the weights."""

    name: str
    variant: str
    input_size: List[int]
    class_names: List[str]
    mask_size: int
    max_detections: int
    backend_format: str = "keras"
    quantization: str = "none"
    # Images enter as RGB float in [0, 255] (or uint8 when quantized with integer I/O); the
    # x / 128 - 1 normalization is inside the model.
    input_color: str = "RGB"
    input_range: List[float] = field(default_factory=lambda: [0.0, 255.0])
    input_dtype: str = "float32"
    outputs: Dict[str, str] = field(default_factory=lambda: {n: n for n in OUTPUT_NAMES})
    mask_threshold_logit: float = 0.0
    mask_box_margin: Optional[float] = None  # masks limited to their box grown by this; None: no
    params: Optional[int] = None
    config: Optional[dict] = None
    # "two_stage": a detect stage and one stage per branch (ssd_isb.core.stages); "single": one
    # graph with the six heads of OUTPUT_NAMES (files of format 1 are all single).
    graph: str = "single"
    branches: Optional[List[dict]] = None  # name, shape, mode, pool of each branch, in order
    skip_steps: Optional[int] = None  # FCN skip steps: how many feature maps a branch crops
    grid: Optional[List[int]] = None  # the stride-32 grid (rows, cols)
    stage_files: Optional[Dict[str, str]] = None  # stages in other files (TensorRT engines)
    # A ``features`` stage beside ``detect`` (images of any batch and size -> the maps only):
    # the second look per person runs it (ssd_isb.runtime.zoom). False in older files.
    features_stage: bool = False
    format_version: int = FORMAT_VERSION
    # "instance" (boxes + masks) or "semantic" (a person probability map, ``probability``)
    task: str = "instance"
    semantic_threshold: float = 0.5  # semantic: a pixel is person above this probability

    @property
    def output_names(self):
        """The heads a single-graph model of this task must have."""
        return SEMANTIC_OUTPUT_NAMES if self.task == "semantic" else OUTPUT_NAMES

    @classmethod
    def from_config(cls, cfg, **overrides) -> "ModelMetadata":
        """Metadata of a model built from a :class:`~ssd_isb.config.Config`."""
        from .branches import branch_specs, native_mask_size

        if cfg.model.task == "semantic":
            sem = cfg.semantic
            values = dict(name=cfg.name, variant=f"{sem.method}{sem.stride}",
                          input_size=list(cfg.model.input_size),
                          class_names=list(cfg.model.class_names),
                          mask_size=int(cfg.model.input_size[0]), max_detections=0,
                          config=cfg.to_dict(), graph="single", task="semantic",
                          semantic_threshold=sem.threshold,
                          outputs={n: n for n in SEMANTIC_OUTPUT_NAMES})
            values.update(overrides)
            values["graph"] = "single"
            return cls(**values)

        overrides.setdefault("mask_size", native_mask_size(cfg.isb))
        values = dict(name=cfg.name, variant=cfg.isb.variant,
                      input_size=list(cfg.model.input_size),
                      class_names=list(cfg.model.class_names),
                      max_detections=cfg.postprocess.max_detections,
                      mask_threshold_logit=cfg.postprocess.mask_threshold_logit,
                      mask_box_margin=cfg.postprocess.mask_box_margin,
                      config=cfg.to_dict(), skip_steps=cfg.isb.skip_steps,
                      grid=list(cfg.model.grid),
                      branches=[{"name": s.name, "shape": list(s.shape), "mode": s.mode,
                                 "pool": s.pool} for s in branch_specs(cfg.isb)])
        values.update(overrides)
        return cls(**values)

    @property
    def two_stage(self) -> bool:
        """Whether the model is the two-stage graph (see :mod:`ssd_isb.core.stages`)."""
        return self.graph == "two_stage"

    def branch_specs(self):
        """The branches as :class:`~ssd_isb.core.branches.BranchSpec` (two-stage models)."""
        from .branches import BranchSpec

        return [BranchSpec(tuple(b["shape"]), b["mode"], int(b.get("pool", 1)))
                for b in self.branches or []]

    @property
    def precision(self) -> str:
        """What a user calls the precision: "fp32" (stored as quantization "none"), "fp16",
        "int8"."""
        return "fp32" if self.quantization in (None, "none") else self.quantization

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def sidecar_path(model_path: str) -> str:
    """``model.tflite`` -> ``model.tflite.json``."""
    return os.fspath(model_path) + ".json"


def write_sidecar(model_path: str, meta: ModelMetadata) -> str:
    """Write the sidecar atomically; return its path."""
    path = sidecar_path(model_path)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(meta.to_json())
    os.replace(tmp, path)
    return path


def read_sidecar(model_path: str) -> ModelMetadata:
    """Read ``<model>.json`` (or ``<model stem>.json``) beside a model file.

    Raises:
        MetadataError: no sidecar, not JSON, or a required field is missing.
    """
    candidates = [sidecar_path(model_path), os.path.splitext(os.fspath(model_path))[0] + ".json"]
    path = next((p for p in candidates if os.path.exists(p)), None)
    if path is None:
        raise MetadataError(f"{model_path}: no metadata sidecar (expected {candidates[0]})")
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError) as err:
        raise MetadataError(f"{path}: unreadable metadata ({err})") from None
    if not isinstance(data, dict):
        raise MetadataError(f"{path}: metadata must be a JSON object")
    known = set(ModelMetadata.__dataclass_fields__)
    required = {"name", "variant", "input_size", "class_names", "mask_size", "max_detections"}
    missing = sorted(required - set(data))
    if missing:
        raise MetadataError(f"{path}: metadata lacks {', '.join(missing)}")
    if data.get("graph", "single") == "two_stage" and not all(
            data.get(k) is not None for k in ("branches", "skip_steps", "grid")):
        raise MetadataError(f"{path}: a two-stage model needs branches, skip_steps and grid")
    return ModelMetadata(**{k: v for k, v in data.items() if k in known})


def model_config(model_path: str, given=None, sections=None):
    """The :class:`~ssd_isb.config.Config` a model file was built from, read from its sidecar.

    A model file is self-describing: its sidecar carries the whole config. When a config is
    ``given`` too (``--config``), it must agree with the stored one on ``sections`` (default:
    :data:`~ssd_isb.config.MODEL_SECTIONS`) and is returned (its training and data sections
    may differ: fine-tuning on other data).

    Raises:
        MetadataError: no sidecar, or a sidecar without a config (and none given).
        ConfigError: ``given`` differs from the model's config; the message lists the keys.
    """
    from ..config import MODEL_SECTIONS, ConfigError, config_differences, from_dict

    try:
        meta = read_sidecar(model_path)
    except MetadataError:
        if given is not None:
            return given
        raise
    if not meta.config:
        if given is not None:
            return given
        raise MetadataError(f"{sidecar_path(model_path)}: holds no config; pass --config")
    stored = from_dict(meta.config, source=sidecar_path(model_path))
    if given is None:
        return stored
    diffs = config_differences(given, stored, sections or MODEL_SECTIONS)
    if diffs:
        shown = "; ".join(diffs[:4]) + (f"; and {len(diffs) - 4} more" if len(diffs) > 4 else "")
        raise ConfigError(f"config {given.name} does not describe {model_path} (given != "
                          f"model's): {shown}; leave out --config to use the model's own")
    return given
