"""Typed experiment configuration loaded from YAML.

Every section is a dataclass; :func:`load_config` builds them from a YAML file and validates the
result, so a typo or an impossible value fails at load time with one line naming the key (for
example ``multi_shape.yaml: isb.shapes[0]: 21x10 does not fit the 20x20 stride-32 grid``).

This module is TF-free: the runtime and the CLI read configs without TensorFlow.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from typing import Any, List, Literal, Optional, Tuple

import yaml

from .utils.errors import SSDISBError

VARIANTS = ("single_branch", "single_shape", "single_shape_plus", "multi_shape")
Shape = Tuple[int, int]


class ConfigError(SSDISBError, ValueError):
    """A configuration value is missing, unknown or out of range; the message names the key."""


@dataclass
class AnchorConfig:
    """TF OD API ``ssd_anchor_generator`` parameters (thesis eq. 3.1)."""

    num_layers: int = 6
    min_scale: float = 0.2
    max_scale: float = 0.95
    aspect_ratios: List[float] = field(default_factory=lambda: [1.0, 2.0, 0.5, 3.0, 1.0 / 3.0])
    interpolated_scale_aspect_ratio: float = 1.0
    reduce_boxes_in_lowest_layer: bool = True


@dataclass
class ModelConfig:
    """Detector: backbone, input and classes."""

    input_size: Shape = (640, 640)
    depth_multiplier: float = 1.0
    class_names: List[str] = field(default_factory=lambda: ["person"])
    # softmax over [background, classes...] as in the thesis; sigmoid per class as in the TF zoo
    # detector (keeps the imported COCO scores unchanged).
    score_converter: Literal["softmax", "sigmoid"] = "softmax"
    box_scale_factors: List[float] = field(default_factory=lambda: [10.0, 10.0, 5.0, 5.0])
    anchors: AnchorConfig = field(default_factory=AnchorConfig)
    # "instance": SSD + ISB (chapter 3). "semantic": the encoder and a person/background decoder
    # of chapter 4 (the ``semantic`` section); the SSD, ``isb`` and ``postprocess`` are unused.
    task: Literal["instance", "semantic"] = "instance"

    @property
    def num_classes(self) -> int:
        """Foreground classes (the class head has one more column, for background)."""
        return len(self.class_names)

    @property
    def grid(self) -> Shape:
        """The stride-32 feature map size (h, w) from which the ISB crops."""
        return (self.input_size[0] // 32, self.input_size[1] // 32)


@dataclass
class ISBConfig:
    """Instance segmentation branches (thesis 3.1.2-3.1.5).

    ``shapes`` are (h, w) in stride-32 cells: the exact shapes of the Single-Shape branches, the
    size thresholds of Multi-Shape, or the one branch input shape of Single-Branch.
    """

    variant: Literal["single_branch", "single_shape", "single_shape_plus", "multi_shape"] = (
        "multi_shape")
    shapes: List[Shape] = field(default_factory=lambda: [(10, 10)])
    rest_shape: Optional[Shape] = None  # Single-Shape+: the resizing branch for remaining boxes
    pool: int = 1  # Single-Branch crops pool x the branch shape, then max-pools (Mask R-CNN style)
    fcn: Literal[4, 8, 16, 32] = 8
    depth: int = 128
    upsample_depth: int = 32
    boxes_per_branch: int = 30
    mask_size: Optional[int] = None  # side of the per-detection mask output; None: native max
    # Where the training crops come from (thesis 3.1.4). "boxes": the ground-truth boxes (and
    # the predicted ones at run time). "anchors": the encompassing window of each ground-truth
    # box's best-matching default anchor instead; the thesis reports it did not converge.
    # An experiment, not a default.
    crop_source: Literal["boxes", "anchors"] = "boxes"

    @property
    def stride(self) -> int:
        """Stride of the branch output relative to the input image (32, 16, 8 or 4)."""
        return self.fcn

    @property
    def skip_steps(self) -> int:
        """FCN skip steps of every branch (see :func:`fcn_skip_steps`)."""
        return fcn_skip_steps(self.fcn)

    @property
    def out_factor(self) -> int:
        """Branch output cells per stride-32 input cell (each skip step doubles)."""
        return 2 ** self.skip_steps


def phase_train(train: "TrainConfig", index: int) -> "TrainConfig":
    """The ``train`` block phase ``index`` runs with: ``train`` with the phase's ``set`` keys
    and ``steps``, and no phases of its own.

    Raises:
        ConfigError: a ``set`` key is not a train key or has the wrong type (named).
    """
    phase = train.phases[index]
    base = {k: v for k, v in dataclasses.asdict(train).items() if k != "phases"}
    changes = phase.set or {}
    key = f"train.phases[{index}].set"
    if not isinstance(changes, dict):
        raise ConfigError(f"{key}: expected a mapping of train keys, got {changes!r}")
    return _build(TrainConfig, {**base, **changes, "steps": phase.steps}, key)


def phase_augment(augment: "AugmentConfig", phase: "PhaseConfig", index: int) -> "AugmentConfig":
    """The ``data.augment`` block phase ``index`` trains with: ``augment`` with the phase's
    ``augment`` keys.

    Raises:
        ConfigError: a key is not an augment key or has the wrong type (named).
    """
    changes = phase.augment or {}
    key = f"train.phases[{index}].augment"
    if not isinstance(changes, dict):
        raise ConfigError(f"{key}: expected a mapping of data.augment keys, got {changes!r}")
    return _build(AugmentConfig, {**dataclasses.asdict(augment), **changes}, key)


def mask_target_stride(train: "TrainConfig", isb: Optional[ISBConfig] = None) -> int:
    """Stride of the ground-truth masks the data pipeline makes: 8, or the mask loss stride or
    the branch output stride (``isb``: FCN-4) when that is finer."""
    return min(8, train.mask_loss_stride or 8, isb.stride if isb is not None else 8)


def fcn_skip_steps(fcn: int) -> int:
    """Skip steps of an FCN-``fcn`` branch: 0 (FCN-32), 1 (FCN-16: the stride-16 map), 2
    (FCN-8: stride 16, then stride 8) or 3 (FCN-4: then the stride-4 map). The one place this
    arithmetic lives."""
    steps = {32: 0, 16: 1, 8: 2, 4: 3}.get(int(fcn))
    if steps is None:
        raise ConfigError(f"isb.fcn: {fcn} is not 4, 8, 16 or 32")
    return steps


@dataclass
class SemanticConfig:
    """Person/background segmentation with a low-cost encoder (thesis chapter 4).

    ``method: fcn`` with ``stride`` 32/16/8 is FCN-32/16/8 (0, 1, 2 skip steps, each a 1x1 score
    of the finer map added to a 2x transposed-conv upsampling); ``method: atrous`` with
    ``stride`` 16/8 runs MobileNet's last strided blocks at stride 1 with dilated depthwise
    convs (DeepLab). Both end in softmax over (background, person) and bilinear upsampling to
    the input size. Stride 32 is the same "base" network for both methods.
    """

    method: Literal["fcn", "atrous"] = "fcn"
    stride: Literal[8, 16, 32] = 32
    # Atrous rate of the last depthwise conv (Conv2d_13): a wider field of view at no cost.
    last_rate: int = 1
    # "zoo": the encoder starts from the imported COCO detector's MobileNet-v1 (``--init``
    # weights or ``zoo_weights``); "scratch": He-initialized (no ImageNet weights reachable).
    encoder: Literal["zoo", "scratch"] = "zoo"
    zoo_weights: str = "{pretrained}/ssd_mobilenet_v1_0.75_coco_quant/detect.tflite"
    # Runtime: a pixel is person where its probability exceeds this. Travels in the sidecar.
    threshold: float = 0.5


@dataclass
class PostprocessConfig:
    """Decode and non-maximum suppression inside the inference graph."""

    max_detections: int = 100
    pre_nms_top_k: int = 400
    iou_threshold: float = 0.6
    score_threshold: float = 1e-3
    # Runtime, outside the graph: a mask pixel is foreground where its logit exceeds this
    # (thesis: 0, i.e. sigmoid 0.5). Travels in the sidecar.
    mask_threshold_logit: float = 0.0
    # Runtime: each mask limited to its detection box grown by this fraction of the box's size
    # on each side (the window around a box is up to a cell wider, and masks spill there).
    # None: the whole window (thesis). Travels in the sidecar.
    mask_box_margin: Optional[float] = None


@dataclass
class PhaseConfig:
    """One phase of a recipe (``train.phases``): the run's ``train`` block with ``set``'s keys
    changed, for ``steps`` updates, from the previous phase's model."""

    name: str = ""
    steps: int = 400
    # train keys this phase changes (freeze_detector, mask_loss_stride, ...); checked against
    # TrainConfig when the config loads
    set: Any = None
    # After training: shift every class logit so the best F1 on training-side images
    # (``data.train[0]``, its first ``calibrate_scores_images``) reads 0.5, the runtime default.
    calibrate_scores: bool = False
    calibrate_scores_images: int = 250
    # After training (and calibrating): take the detector of this model (a .keras file, or a
    # recipe's workdir: its model.keras), as the shipped Single-Branch takes the Multi-Shape
    # model's (``ssd-isb transplant-detector``). Empty: keep its own.
    detector_from: str = ""
    # data.augment keys this phase changes (zoom_crop_probability, ...); checked against
    # AugmentConfig when the config loads.
    augment: Any = None
    # After training (and calibrating): each SSD anchor layer's class logits shift by these
    # (one number per layer, 6). Release 9 lowers the coarse layers, whose frame-sized boxes
    # answered "person" on scenes where the person is a part of the frame.
    layer_score_offsets: Optional[List[float]] = None


@dataclass
class TrainConfig:
    """Training hyper-parameters (thesis 3.2.1)."""

    batch_size: int = 6
    gradient_accumulation_steps: int = 4
    learning_rate: float = 4e-5
    decay_steps: int = 10000
    decay_rate: float = 0.75
    mask_loss_weight: float = 150.0
    # Soft Dice (1 - Dice per slot) added to the mask BCE with this weight. BCE over a window
    # mostly background rewards blobby, under-confident masks (the small branches' masks came
    # out nearly empty); Dice scores each mask's overlap whatever its size. 0: thesis (BCE only).
    mask_dice_weight: float = 0.0
    # Input pixels per mask cell at which the mask loss compares logits and ground truth. None:
    # the branch output stride (thesis). Finer (4 for FCN-8): the logits are upsampled
    # bilinearly first, as the runtime pastes them, so the loss sees the edges the pasted mask
    # is scored on instead of stride-8 averages.
    mask_loss_stride: Optional[int] = None
    box_loss_weight: float = 1.0
    class_loss_weight: float = 1.0
    negative_ratio: float = 3.0
    # Every negative anchor of the SSD layers from this index up (0-5; 3: the 3x3, 2x2 and 1x1
    # maps, 84 anchors at 320) enters the class loss, not only the mined ones. Hard-negative
    # mining ranks a crowd scene's mild whole-frame response below the many negatives beside
    # the people, so the coarse layers never learn that a scene is not a person (issue 26's
    # frame-sized false person). None: mining alone (SSD).
    all_negatives_from_layer: Optional[int] = None
    steps: int = 10000  # optimizer updates (each accumulates gradient_accumulation_steps batches)
    checkpoint_every: int = 50  # optimizer updates per Keras epoch; a checkpoint after each
    validation_batches: Optional[int] = None  # None: the whole validation split
    log_every: int = 10  # TensorBoard scalars every N batches
    seed: int = 0
    # BN statistics would update per micro-batch of 6 even with accumulation, and the zoo's
    # weights come with BN folded: keep it frozen unless training from a float checkpoint.
    freeze_batch_norm: bool = True
    freeze_backbone: bool = False  # MobileNet-v1 layers
    # With freeze_backbone: the MobileNet-v1 blocks Conv2d_N with N >= this stay trainable (12:
    # the last two, which only the stride-32 map and the SSD heads read). None: all frozen.
    train_backbone_from: Optional[int] = None
    freeze_detector: bool = False  # everything but the branches (little data, masks only)
    # After training, add to each box predictor's bias the median code residual of its anchor
    # type on the training images (ssd_isb.training.box_calibration): the zoo detector's box
    # regression was learned at 300x300 and is off by a constant at 320. False: thesis.
    calibrate_box_encoding: bool = False
    # Mixed float16 compute (GPUs with tensor cores); the SSD heads' and branches' outputs stay
    # float32 and the loss is scaled against float16 underflow. Off on CPUs: slower there.
    mixed_precision: bool = False
    # Multi-worker training: seconds a collective waits for a lost worker before the run
    # fails (restart every worker with --resume). 0: wait forever.
    worker_timeout_seconds: int = 300
    # A recipe: the phases run in order, each from the last one's model (``ssd-isb train``
    # runs them all; a killed run resumes at the phase it was in). Empty: one run.
    phases: List[PhaseConfig] = field(default_factory=list)


@dataclass
class DatasetSpec:
    """One dataset: COCO json + image folder, or a folder of instance PNGs (Penn-Fudan layout).

    Paths may start with ``{data}``: ``$SSD_ISB_DATA`` or ``../shared/data`` beside the repo.
    """

    name: str = ""
    annotations: Optional[str] = None  # COCO json
    images: str = ""
    masks: Optional[str] = None  # per-instance PNG masks (0 background, k = instance k)
    split: Literal["all", "train", "val"] = "all"  # which side of the hold-out split to use
    negatives: bool = True  # keep images without persons as negatives
    # What the annotations supervise. "masks": every person has a mask (an annotation without
    # one is skipped as degenerate). "boxes": boxes only; they train the detector (class and
    # box losses) and never the branches. "partial": a person with a segmentation trains both,
    # one without trains the detector only (e.g. `ssd-isb pseudo-label` output, where the
    # teacher's uncertain people keep their human box and lose their mask).
    kind: Literal["masks", "boxes", "partial"] = "masks"
    # Each mask's weight in the mask loss, times the annotation's own "mask_weight" when it has
    # one (a teacher's confidence). 1: a human mask.
    mask_weight: float = 1.0
    # A "partial" dataset's masks weighted below this (a teacher's less confident ones) are
    # dropped at load: those people train the detector only. 0: keep every mask.
    min_mask_weight: float = 0.0
    # Box-only data whose crowds are ordinary boxes (coco_train_person_boxes): a box holding at
    # least this many other boxes (each >= 80% inside it) becomes a crowd region, ignored by the
    # anchor matcher. None: off.
    crowd_nesting: Optional[int] = None


@dataclass
class AugmentConfig:
    """Training augmentation."""

    flip: bool = True
    crop_scale: List[float] = field(default_factory=lambda: [0.5, 1.0])  # crop side fraction
    photometric: bool = True
    copy_paste: bool = False  # paste masked persons from other images (thesis: no)
    copy_paste_max: int = 3
    copy_paste_probability: float = 0.5
    # Each ISB training window comes from its ground-truth box with every edge moved by up to
    # this fraction of the box's size (uniform): at run time the windows come from predicted
    # boxes (median box IoU with the ground truth about 0.7), not from perfect ones. 0: off.
    window_jitter: float = 0.0
    # Scale jitter outwards (SSD's "expand"): with this probability the image is placed on a
    # canvas up to ``zoom_out`` times its size (filled with the mean colour) before the crop, so
    # people also appear smaller than in the photo. 1.0: off.
    zoom_out: float = 1.0
    zoom_out_probability: float = 0.5
    # The runtime's second look (ssd_isb.runtime.zoom): with this probability the image is
    # cut to a square of zoom_crop_context x a random masked person's box, as the runtime cuts
    # the zoomed view, instead of the crop jitter. 0: off.
    zoom_crop_probability: float = 0.0
    zoom_crop_context: List[float] = field(default_factory=lambda: [1.2, 1.6])


@dataclass
class DataConfig:
    """Where training and validation images come from."""

    train: List[DatasetSpec] = field(default_factory=list)
    val: List[DatasetSpec] = field(default_factory=list)
    holdout_every: int = 5  # an image is "val" when crc32(file name) % holdout_every == 0
    max_boxes: int = 40
    min_box_pixels: float = 2.0  # smaller boxes (after resizing) are skipped as degenerate
    isb_shape_subset: bool = False  # thesis 5.1.2: only images with a box of a branch shape
    isb_shape_annotations_only: bool = False  # ... and only those annotations
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class ThesisReference:
    """Figures the thesis reports for this experiment (for side-by-side printing)."""

    params: Optional[int] = None
    ap50: Optional[float] = None
    table: Optional[str] = None


@dataclass
class Config:
    """One experiment."""

    name: str = "unnamed"
    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    isb: ISBConfig = field(default_factory=ISBConfig)
    semantic: SemanticConfig = field(default_factory=SemanticConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    thesis: ThesisReference = field(default_factory=ThesisReference)

    def to_dict(self) -> dict:
        """Plain-Python form (lists, not tuples) that round-trips through YAML and JSON."""
        return _to_plain(dataclasses.asdict(self))


def _to_plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# Building dataclasses from plain dicts, with key-naming errors.


def _parse_shape(value: Any, key: str) -> Shape:
    if isinstance(value, str) and "x" in value:
        parts = value.lower().split("x")
    elif isinstance(value, int) and not isinstance(value, bool):
        parts = [value, value]
    else:
        parts = value
    if not isinstance(parts, (list, tuple)) or len(parts) != 2:
        raise ConfigError(f"{key}: expected a shape [h, w] or 'HxW', got {value!r}")
    try:
        h, w = (int(p) for p in parts)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected integer sizes, got {value!r}") from None
    if h <= 0 or w <= 0:
        raise ConfigError(f"{key}: sizes must be positive, got {value!r}")
    return (h, w)


def _convert(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is typing.Union:  # Optional[X]
        if value is None:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], key)
    if tp == Shape:
        return _parse_shape(value, key)
    if origin is Literal:
        if value not in args:
            allowed = ", ".join(repr(a) for a in args)
            raise ConfigError(f"{key}: {value!r} is not one of {allowed}")
        return value
    if origin in (list, List):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_convert(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp!r} for {key}")


def _build(cls: type, data: Any, prefix: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            where = f"{prefix}.{key}" if prefix else str(key)
            raise ConfigError(f"{where}: unknown key (known: {', '.join(sorted(names))})")
    kwargs = {}
    for name in names:
        if name in data:
            where = f"{prefix}.{name}" if prefix else name
            kwargs[name] = _convert(data[name], hints[name], where)
    return cls(**kwargs)


# ---------------------------------------------------------------------------------------------
# Semantic validation.


def _fmt(shape: Shape) -> str:
    return f"{shape[0]}x{shape[1]}"


def _validate_isb(cfg: Config) -> None:
    m, isb = cfg.model, cfg.isb
    gh, gw = m.grid
    if not isb.shapes:
        raise ConfigError("isb.shapes: at least one branch shape is needed")
    for i, shape in enumerate(isb.shapes):
        if shape[0] > gh or shape[1] > gw:
            raise ConfigError(
                f"isb.shapes[{i}]: {_fmt(shape)} does not fit the {gh}x{gw} stride-32 grid of "
                f"input {m.input_size[0]}x{m.input_size[1]}")
    if len(set(isb.shapes)) != len(isb.shapes):
        raise ConfigError("isb.shapes: the same shape is listed twice")
    if isb.variant == "single_branch" and len(isb.shapes) != 1:
        raise ConfigError("isb.shapes: single_branch takes exactly one branch shape")
    if isb.variant == "single_shape_plus":
        if isb.rest_shape is None:
            raise ConfigError("isb.rest_shape: single_shape_plus needs the remaining-boxes shape")
    elif isb.rest_shape is not None:
        raise ConfigError(f"isb.rest_shape: only used by single_shape_plus, not {isb.variant}")
    if isb.rest_shape is not None and (isb.rest_shape[0] > gh or isb.rest_shape[1] > gw):
        raise ConfigError(
            f"isb.rest_shape: {_fmt(isb.rest_shape)} does not fit the {gh}x{gw} stride-32 grid")
    if isb.pool < 1:
        raise ConfigError("isb.pool: must be >= 1")
    if isb.pool > 1 and isb.variant != "single_branch":
        raise ConfigError("isb.pool: crop-and-pool is the Single-Branch resize (use 1 otherwise)")
    for name in ("depth", "upsample_depth", "boxes_per_branch"):
        if getattr(isb, name) < 1:
            raise ConfigError(f"isb.{name}: must be >= 1")
    if isb.mask_size is not None and not 4 <= isb.mask_size <= 256:
        raise ConfigError("isb.mask_size: must be between 4 and 256")


def _validate_semantic(cfg: Config) -> None:
    sem = cfg.semantic
    if sem.method == "atrous" and sem.stride == 32:
        raise ConfigError("semantic.stride: 32 is the base network; use method: fcn (atrous "
                          "means output stride 16 or 8)")
    if not 1 <= sem.last_rate <= 8:
        raise ConfigError("semantic.last_rate: the last layer's atrous rate must be 1-8")
    if not 0.0 < sem.threshold < 1.0:
        raise ConfigError("semantic.threshold: a probability in (0, 1)")
    if cfg.model.class_names != ["person"]:
        raise ConfigError("model.class_names: the semantic task is person vs background "
                          "([person])")


def validate(cfg: Config) -> Config:
    """Check the values that types alone cannot; raise :class:`ConfigError` naming the key."""
    m, isb, pp = cfg.model, cfg.isb, cfg.postprocess
    for i, side in enumerate(m.input_size):
        if side % 32:
            raise ConfigError(
                f"model.input_size: {side} is not a multiple of 32 (the stride-32 map must not be "
                f"padded; try {max(32, round(side / 32) * 32)})")
    if m.depth_multiplier <= 0 or m.depth_multiplier > 2:
        raise ConfigError(f"model.depth_multiplier: {m.depth_multiplier} is outside (0, 2]")
    if not m.class_names:
        raise ConfigError("model.class_names: at least one class is needed")
    if len(m.box_scale_factors) != 4:
        raise ConfigError("model.box_scale_factors: expected 4 numbers (y, x, h, w)")
    a = m.anchors
    if a.num_layers != 6:
        raise ConfigError("model.anchors.num_layers: the SSD MobileNet-v1 head has 6 layers")
    if not 0 < a.min_scale < a.max_scale:
        raise ConfigError("model.anchors.min_scale: must be positive and below max_scale")
    if m.task == "semantic":
        _validate_semantic(cfg)  # the branches are not built: their defaults need not fit
    else:
        _validate_isb(cfg)
    if pp.max_detections < 1:
        raise ConfigError("postprocess.max_detections: must be >= 1")
    if pp.pre_nms_top_k < pp.max_detections:
        raise ConfigError("postprocess.pre_nms_top_k: must be >= postprocess.max_detections")
    if not 0 < pp.iou_threshold <= 1:
        raise ConfigError("postprocess.iou_threshold: must be in (0, 1]")
    if not 0 <= pp.score_threshold < 1:
        raise ConfigError("postprocess.score_threshold: must be in [0, 1)")
    if pp.mask_box_margin is not None and not 0.0 <= pp.mask_box_margin <= 1.0:
        raise ConfigError("postprocess.mask_box_margin: must be in [0, 1] (or null: no limit)")
    t = cfg.train
    for name in ("batch_size", "gradient_accumulation_steps", "decay_steps", "steps",
                 "checkpoint_every", "log_every"):
        if getattr(t, name) < 1:
            raise ConfigError(f"train.{name}: must be >= 1")
    if t.learning_rate <= 0:
        raise ConfigError("train.learning_rate: must be positive")
    if t.worker_timeout_seconds < 0:
        raise ConfigError("train.worker_timeout_seconds: must be >= 0 (0: wait forever)")
    d = cfg.data
    for side in ("train", "val"):
        for i, spec in enumerate(getattr(d, side)):
            key = f"data.{side}[{i}]"
            if (spec.annotations is None) == (spec.masks is None):
                raise ConfigError(f"{key}: give either 'annotations' (COCO json) or 'masks' "
                                  f"(instance PNG folder)")
            if not spec.images:
                raise ConfigError(f"{key}.images: the image folder is required")
            if spec.masks is not None and spec.kind != "masks":
                raise ConfigError(f"{key}.kind: an instance-PNG dataset has masks ('masks'), "
                                  f"not {spec.kind!r}")
            if not spec.mask_weight > 0:
                raise ConfigError(f"{key}.mask_weight: must be > 0 (kind: boxes gives a "
                                  f"dataset no mask loss)")
            if not 0.0 <= spec.min_mask_weight <= 1.0:
                raise ConfigError(f"{key}.min_mask_weight: must be in [0, 1]")
            if spec.crowd_nesting is not None and spec.crowd_nesting < 1:
                raise ConfigError(f"{key}.crowd_nesting: must be >= 1 (or null: off)")
    if d.holdout_every < 2:
        raise ConfigError("data.holdout_every: must be >= 2")
    if d.max_boxes < 1:
        raise ConfigError("data.max_boxes: must be >= 1")
    if not 0 <= d.augment.window_jitter < 0.5:
        raise ConfigError("data.augment.window_jitter: must be in [0, 0.5)")
    if not 1.0 <= d.augment.zoom_out <= 4.0:
        raise ConfigError("data.augment.zoom_out: must be in [1, 4] (1: off)")
    if not 0.0 <= d.augment.zoom_out_probability <= 1.0:
        raise ConfigError("data.augment.zoom_out_probability: must be in [0, 1]")
    if not 0.0 <= d.augment.zoom_crop_probability <= 1.0:
        raise ConfigError("data.augment.zoom_crop_probability: must be in [0, 1]")
    zc = d.augment.zoom_crop_context
    if len(zc) != 2 or not 1.0 <= zc[0] <= zc[1] <= 4.0:
        raise ConfigError("data.augment.zoom_crop_context: expected [min, max] with "
                          "1 <= min <= max <= 4")
    if t.train_backbone_from is not None and not (t.freeze_backbone and
                                                  0 <= t.train_backbone_from <= 13):
        raise ConfigError("train.train_backbone_from: a MobileNet-v1 block 0-13, used with "
                          "train.freeze_backbone: true")
    for i, phase in enumerate(t.phases):
        key = f"train.phases[{i}]"
        if not phase.name or not phase.name.replace("_", "").isalnum():
            raise ConfigError(f"{key}.name: a short name of letters, digits and _ (it names "
                              f"the phase's folder), got {phase.name!r}")
        if phase.steps < 1:
            raise ConfigError(f"{key}.steps: must be >= 1")
        if phase.calibrate_scores_images < 1:
            raise ConfigError(f"{key}.calibrate_scores_images: must be >= 1")
        changes = phase.set or {}
        for bad in ("phases", "steps"):
            if bad in (changes if isinstance(changes, dict) else {}):
                raise ConfigError(f"{key}.set.{bad}: not a phase setting (use {key}."
                                  f"{'steps' if bad == 'steps' else 'name'})")
        phase_train(t, i)  # unknown keys and wrong types, named
        phase_augment(d.augment, phase, i)
        offsets = phase.layer_score_offsets
        if offsets is not None and len(offsets) != 6:
            raise ConfigError(f"{key}.layer_score_offsets: one number per SSD anchor layer (6), "
                              f"got {len(offsets)}")
    if len({p.name for p in t.phases}) != len(t.phases):
        raise ConfigError("train.phases: two phases share a name")
    if t.all_negatives_from_layer is not None and not 0 <= t.all_negatives_from_layer < 6:
        raise ConfigError("train.all_negatives_from_layer: an SSD layer 0-5 (or null: off)")
    if t.mask_dice_weight < 0:
        raise ConfigError("train.mask_dice_weight: must be >= 0")
    if t.mask_loss_stride is not None and (t.mask_loss_stride not in (2, 4, 8, 16, 32)
                                           or t.mask_loss_stride > isb.fcn):
        raise ConfigError(f"train.mask_loss_stride: {t.mask_loss_stride} is not a power of two "
                          f"from 2 up to the branch output stride (isb.fcn: {isb.fcn})")
    lo, hi = (d.augment.crop_scale + [0, 0])[:2]
    if len(d.augment.crop_scale) != 2 or not 0 < lo <= hi <= 1:
        raise ConfigError("data.augment.crop_scale: expected [min, max] with 0 < min <= max <= 1")
    return cfg


def from_dict(data: dict, source: str = "config") -> Config:
    """Build and validate a :class:`Config` from a plain dict (e.g. a model's stored config)."""
    try:
        if isinstance(data, dict) and "model" in data and isinstance(data["model"], dict):
            size = data["model"].get("input_size")
            if isinstance(size, int) and not isinstance(size, bool):
                data = {**data, "model": {**data["model"], "input_size": [size, size]}}
        return validate(_build(Config, data, ""))
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def load_config(path: str | os.PathLike) -> Config:
    """Load and validate a YAML experiment config.

    Args:
        path: a YAML file, or the bare name of one in the repository's ``configs/`` folder
            (``multi_shape`` finds ``configs/multi_shape.yaml``).

    Returns:
        The validated :class:`Config`.

    Raises:
        ConfigError: the file is missing, is not YAML, or a key is unknown or out of range; the
            message starts with the file name and names the key.
    """
    path = resolve_config_path(path)
    name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: expected a mapping at the top level")
    data.setdefault("name", os.path.splitext(name)[0])
    return from_dict(data, source=name)


# What a trained model's weights depend on: a config given beside a model file must agree on
# these. Its postprocess (NMS, thresholds) is free: exports rebuild the graph from the config.
MODEL_SECTIONS = ("model", "isb")
RUNTIME_KEYS = ()


def config_differences(a: Config, b: Config, sections=MODEL_SECTIONS,
                       ignore=RUNTIME_KEYS) -> List[str]:
    """Dotted keys under ``sections`` whose values differ, as ``key: a-value != b-value``."""
    out: List[str] = []

    def walk(x, y, key):
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(set(x) | set(y)):
                walk(x.get(k), y.get(k), f"{key}.{k}")
        elif x != y and key not in ignore:
            out.append(f"{key}: {x!r} != {y!r}")

    da, db = a.to_dict(), b.to_dict()
    for section in sections:
        walk(da[section], db[section], section)
    return out


def data_root() -> str:
    """``$SSD_ISB_DATA``, else ``../shared/data`` beside the repository."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.environ.get("SSD_ISB_DATA",
                          os.path.join(os.path.dirname(here), "shared", "data"))


def pretrained_root() -> str:
    """``$SSD_ISB_PRETRAINED``, else ``pretrained`` beside the data root (``../shared``)."""
    return os.environ.get("SSD_ISB_PRETRAINED",
                          os.path.join(os.path.dirname(data_root()), "pretrained"))


def resolve_data_path(path: Optional[str]) -> Optional[str]:
    """Expand the ``{data}`` (and ``{pretrained}``) placeholders of a path."""
    if path is None:
        return None
    return os.path.normpath(path.replace("{data}", data_root())
                            .replace("{pretrained}", pretrained_root()))


def resolve_config_path(path: str | os.PathLike) -> str:
    """Return ``path`` if it exists, else try ``configs/<path>.yaml`` beside the repo or CWD."""
    path = os.fspath(path)
    if os.path.exists(path):
        return path
    stem = path if path.endswith((".yaml", ".yml")) else path + ".yaml"
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for folder in (os.path.join(os.getcwd(), "configs"), os.path.join(here, "configs")):
        candidate = os.path.join(folder, os.path.basename(stem))
        if os.path.exists(candidate):
            return candidate
    return path
