"""Assemble the SSD-ISB models from a :class:`~ssd_isb.config.Config`.

Three Keras models share one set of layers:

* the **detector**: image -> stride-8/16/32 maps (and stride 4 for FCN-4), box encodings and
  class logits per anchor;
* the **training model**: image + ground-truth boxes -> detector outputs + per-branch mask logits
  for the ground-truth encompassing windows (thesis 3.2.1: ISB crops come from ground truth);
* the **inference model** (batch 1): image -> boxes, scores, classes, count, per-detection mask
  logits and the windows they cover; everything from NMS to the masks is in the graph.

Images enter as float RGB in [0, 255]; the ``x / 128 - 1`` normalization is the first layer.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import keras
import tensorflow as tf
from keras import layers

from ..core.anchors import anchors_per_layer
from ..core.branches import native_mask_size
from ..config import Config
from ..core.layer_names import STRIDE4, STRIDE8, STRIDE16, STRIDE32
from ..core.stages import feature_names
from .graph_ops import ops
from .mask_head import InstanceMasks, MaskHead
from .mobilenet import mobilenet_v1
from .postprocess import DetectionPostprocess
from .ssd_heads import box_predictors, extra_feature_maps


@keras.saving.register_keras_serializable(package="ssd_isb")
class BoxWindows(keras.layers.Layer):
    """Normalized boxes [B, N, 4] -> flat encompassing windows for the mask head.

    ``valid`` may be a mask or the classes (0 = padding). Returns a dict with ``windows`` int32
    [B*N, 4] (y0, x0, h, w) cells, ``batch_index`` int32 [B*N] and ``valid`` bool [B*N].
    """

    def __init__(self, grid, **kwargs):
        super().__init__(**kwargs)
        self.grid = (int(grid[0]), int(grid[1]))

    def call(self, boxes, valid):
        from ..core.encompassing import encompassing_windows

        b, n = boxes.shape[0], boxes.shape[1]
        windows = encompassing_windows(tf.reshape(boxes, [b * n, 4]), self.grid, xp=ops)
        batch_index = tf.repeat(tf.range(b, dtype=tf.int32), n)
        flat_valid = tf.reshape(tf.cast(valid, tf.int32) > 0, [b * n])
        return {"windows": windows, "batch_index": batch_index, "valid": flat_valid}

    def get_config(self):
        return {**super().get_config(), "grid": list(self.grid)}


# Detector output name -> the backbone layer that gives it.
FEATURE_LAYERS = {"stride4": STRIDE4, "stride8": STRIDE8, "stride16": STRIDE16,
                  "stride32": STRIDE32}


def build_detector(cfg: Config, batch_size: Optional[int] = None,
                   input_size: Optional[tuple] = None) -> keras.Model:
    """MobileNet-v1 SSD: image [B, H, W, 3] (RGB 0-255) -> dict of maps and predictions.

    ``input_size`` overrides the config's (the detector alone runs at any size, e.g. the zoo
    model's 300x300; the ISB needs multiples of 32).
    """
    m = cfg.model
    size = tuple(input_size or m.input_size)
    image = keras.Input((size[0], size[1], 3), batch_size=batch_size, name="image")
    x = layers.Rescaling(1.0 / 128.0, offset=-1.0, name="preprocess")(image)
    ends = mobilenet_v1(x, m.depth_multiplier)
    maps = [ends[STRIDE16], ends[STRIDE32]] + extra_feature_maps(ends[STRIDE32],
                                                                  m.depth_multiplier)
    box_encodings, class_logits = box_predictors(maps, anchors_per_layer(m.anchors),
                                                 m.num_classes)
    outputs = {"stride8": ends[STRIDE8], "stride16": ends[STRIDE16], "stride32": ends[STRIDE32],
               "box_encodings": box_encodings, "class_logits": class_logits}
    if cfg.isb.skip_steps > 2:  # FCN-4 branches also crop the stride-4 map
        outputs["stride4"] = ends[STRIDE4]
    return keras.Model(image, outputs, name="detector")


def _features(detector_outputs, cfg: Config):
    """The maps the configured branches crop, coarsest first."""
    return [detector_outputs[k] for k in feature_names(cfg.isb.skip_steps)]


# The layer factories: the only code that reads a Config into layer arguments.


def build_mask_head(cfg: Config) -> MaskHead:
    """The ISBs of the configured variant."""
    isb = cfg.isb
    return MaskHead(isb.variant, isb.shapes, isb.rest_shape, isb.pool, isb.fcn, isb.depth,
                    isb.upsample_depth, grid=cfg.model.grid,
                    num_classes=cfg.model.num_classes, boxes_per_branch=isb.boxes_per_branch,
                    name="mask_head")


def build_postprocess(cfg: Config, input_size: Optional[tuple] = None) -> DetectionPostprocess:
    """Decode, top-k and NMS of the configured detector (at ``input_size``, default the
    config's)."""
    m, pp = cfg.model, cfg.postprocess
    return DetectionPostprocess(
        tuple(input_size or m.input_size), max_detections=pp.max_detections,
        pre_nms_top_k=pp.pre_nms_top_k, iou_threshold=pp.iou_threshold,
        score_threshold=pp.score_threshold, score_converter=m.score_converter,
        scale_factors=m.box_scale_factors, **dataclasses.asdict(m.anchors), name="postprocess")


def build_instance_masks(cfg: Config) -> InstanceMasks:
    """Un-padding of the branch outputs into per-detection masks of the native size."""
    return InstanceMasks(cfg.model.grid, native_mask_size(cfg.isb), name="instance_masks")


class SSDISB:
    """Detector and mask head of one config, and the models built from them.

    Attributes:
        config: the experiment config.
        detector: the SSD Keras model.
        mask_head: the :class:`MaskHead` (branch weights).
    """

    def __init__(self, cfg: Config, detector: Optional[keras.Model] = None,
                 mask_head: Optional[MaskHead] = None):
        self.config = cfg
        self.detector = detector or build_detector(cfg)
        self.mask_head = mask_head or build_mask_head(cfg)
        self._inference = None

    @property
    def inference_model(self) -> keras.Model:
        """The batch-1 inference graph (built once, sharing weights)."""
        if self._inference is None:
            self._inference = build_inference_model(self.config, self.detector, self.mask_head)
        return self._inference

    def training_model(self, batch_size: int, max_boxes: int,
                       boxes_per_branch: Optional[int] = None) -> keras.Model:
        """Training graph sharing this model's weights (see :func:`build_training_model`)."""
        return build_training_model(self.config, batch_size, max_boxes, self.detector,
                                    self.mask_head, boxes_per_branch)

    def count_params(self) -> int:
        """Weights of the whole model (detector and every branch), as the thesis counts them."""
        return self.inference_model.count_params()


def build_detection_model(cfg: Config, detector: Optional[keras.Model] = None,
                          input_size: Optional[tuple] = None) -> keras.Model:
    """Batch-1 detection-only graph (no masks): ``image`` -> boxes, scores, classes, count.

    Runs at any input size (the detector's weights do not depend on it), e.g. at 300x300 to
    compare with the zoo TFLite model. ``detector`` must have been built at that size if given.
    """
    m = cfg.model
    size = tuple(input_size or m.input_size)
    detector = detector or build_detector(cfg, input_size=size)
    image = keras.Input((size[0], size[1], 3), batch_size=1, name="image")
    d = detector(image)
    boxes, scores, classes, count = build_postprocess(cfg, size)(d["box_encodings"],
                                                                 d["class_logits"])
    return keras.Model(image, {"boxes": boxes, "scores": scores, "classes": classes,
                               "count": count}, name=f"ssd_{cfg.name}")


def build_inference_model(cfg: Config, detector: Optional[keras.Model] = None,
                          mask_head: Optional[MaskHead] = None) -> keras.Model:
    """Batch-1 inference graph.

    Returns:
        A Keras model from ``image`` [1, H, W, 3] (RGB 0-255) to a dict: ``boxes`` [1, N, 4]
        normalized (ymin, xmin, ymax, xmax), ``scores`` [1, N], ``classes`` int32 [1, N],
        ``count`` int32 [1], ``masks`` [1, N, S, S] mask logits over ``mask_windows`` [1, N, 4]
        (normalized encompassing windows; all zero where a detection has no mask).
    """
    m = cfg.model
    detector = detector or build_detector(cfg)
    mask_head = mask_head or build_mask_head(cfg)
    image = keras.Input((m.input_size[0], m.input_size[1], 3), batch_size=1, name="image")
    d = detector(image)
    boxes, scores, classes, count = build_postprocess(cfg)(d["box_encodings"],
                                                           d["class_logits"])
    win = BoxWindows(m.grid, name="windows")(boxes, classes)
    branches = mask_head({"features": _features(d, cfg), **win},
                         project_first=True)
    masks, mask_windows = build_instance_masks(cfg)(
        {"logits": [b.logits for b in branches], "ranks": [b.rank for b in branches],
         "windows": win["windows"], "valid": win["valid"], "classes": classes})
    outputs = {"boxes": boxes, "scores": scores, "classes": classes, "count": count,
               "masks": masks, "mask_windows": mask_windows}
    return keras.Model(image, outputs, name=f"ssd_isb_{cfg.name}")


def build_training_model(cfg: Config, batch_size: int, max_boxes: int,
                         detector: Optional[keras.Model] = None,
                         mask_head: Optional[MaskHead] = None,
                         boxes_per_branch: Optional[int] = None) -> keras.Model:
    """Training graph: ISB crops come from ground-truth boxes; gradients stop at the crop.

    Args:
        cfg: experiment config.
        batch_size: static batch size (the crops index a fixed number of windows).
        max_boxes: ground-truth boxes per image (padded).
        detector, mask_head: layers to share (built from ``cfg`` if absent).
        boxes_per_branch: slots per branch for the whole batch.

    Returns:
        Model from ``image`` [B, H, W, 3], ``gt_boxes`` [B, G, 4] normalized and ``gt_valid``
        [B, G] to a dict with ``box_encodings``, ``class_logits`` and ``branches`` (per branch:
        logits, slot_index into the B*G flat boxes, slot_valid, rank).
    """
    m = cfg.model
    detector = detector or build_detector(cfg)
    mask_head = mask_head or build_mask_head(cfg)
    image = keras.Input((m.input_size[0], m.input_size[1], 3), batch_size=batch_size,
                        name="image")
    gt_boxes = keras.Input((max_boxes, 4), batch_size=batch_size, name="gt_boxes")
    gt_valid = keras.Input((max_boxes,), batch_size=batch_size, name="gt_valid")
    d = detector(image)
    win = BoxWindows(m.grid, name="gt_windows")(gt_boxes, gt_valid)
    branches = mask_head({"features": _features(d, cfg), **win},
                         boxes_per_branch=boxes_per_branch)
    outputs = {"box_encodings": d["box_encodings"], "class_logits": d["class_logits"],
               "branches": branches}
    return keras.Model([image, gt_boxes, gt_valid], outputs, name=f"ssd_isb_train_{cfg.name}")


def build_model(cfg: Config) -> SSDISB:
    """Build detector and mask head for a config."""
    return SSDISB(cfg)
