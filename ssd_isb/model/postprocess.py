"""Detection post-processing inside the graph: scores, top-k, decode, NMS, fixed-size outputs.

Batch size 1 (the deployment case). NMS is ``NonMaxSuppressionV4`` with padding, which converts
to a builtin TFLite op and keeps every output shape static.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import keras
import tensorflow as tf

from ..core.anchors import generate_anchors
from ..core.box_coder import DEFAULT_SCALE_FACTORS, decode
from ..config import AnchorConfig, PostprocessConfig
from .graph_ops import ops

_ANCHORS, _POST = AnchorConfig(), PostprocessConfig()
ANCHOR_KEYS = tuple(f.name for f in dataclasses.fields(AnchorConfig))
NMS_KEYS = ("max_detections", "pre_nms_top_k", "iou_threshold", "score_threshold")


@keras.saving.register_keras_serializable(package="ssd_isb")
class DetectionPostprocess(keras.layers.Layer):
    """Box encodings + class logits of one image -> the top detections.

    Scores are the best foreground class probability (sigmoid per class or softmax with
    background, per ``score_converter``); NMS is class-agnostic, which for the person-only
    models is plain person NMS. Defaults are those of :class:`~ssd_isb.config.AnchorConfig`
    and :class:`~ssd_isb.config.PostprocessConfig`.

    Args:
        input_size: (h, w) of the image the anchors cover.
        max_detections, pre_nms_top_k, iou_threshold, score_threshold: the NMS.
        score_converter: "softmax" or "sigmoid".
        scale_factors: box coder (y, x, h, w) scales.
        num_layers, min_scale, max_scale, aspect_ratios, interpolated_scale_aspect_ratio,
            reduce_boxes_in_lowest_layer: the anchor generator.

    Returns:
        boxes [1, N, 4] (ymin, xmin, ymax, xmax) normalized and clipped, scores [1, N],
        classes int32 [1, N] (1-based, 0 for padding), count int32 [1]; N = max_detections.
    """

    def __init__(self, input_size, max_detections: int = _POST.max_detections,
                 pre_nms_top_k: int = _POST.pre_nms_top_k,
                 iou_threshold: float = _POST.iou_threshold,
                 score_threshold: float = _POST.score_threshold,
                 score_converter: str = "softmax",
                 scale_factors: Sequence[float] = DEFAULT_SCALE_FACTORS,
                 num_layers: int = _ANCHORS.num_layers, min_scale: float = _ANCHORS.min_scale,
                 max_scale: float = _ANCHORS.max_scale,
                 aspect_ratios: Sequence[float] = tuple(_ANCHORS.aspect_ratios),
                 interpolated_scale_aspect_ratio: float =
                 _ANCHORS.interpolated_scale_aspect_ratio,
                 reduce_boxes_in_lowest_layer: bool = _ANCHORS.reduce_boxes_in_lowest_layer,
                 **kwargs):
        super().__init__(**kwargs)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.max_detections = int(max_detections)
        self.pre_nms_top_k = int(pre_nms_top_k)
        self.iou_threshold = float(iou_threshold)
        self.score_threshold = float(score_threshold)
        self.score_converter = str(score_converter)
        self.scale_factors = tuple(float(s) for s in scale_factors)
        self.anchor_config = AnchorConfig(
            num_layers=int(num_layers), min_scale=float(min_scale), max_scale=float(max_scale),
            aspect_ratios=[float(a) for a in aspect_ratios],
            interpolated_scale_aspect_ratio=float(interpolated_scale_aspect_ratio),
            reduce_boxes_in_lowest_layer=bool(reduce_boxes_in_lowest_layer))
        self.anchors = generate_anchors(self.anchor_config, self.input_size)

    def call(self, box_encodings, class_logits):
        n = self.max_detections
        logits = class_logits[0]
        if self.score_converter == "sigmoid":
            probs = tf.sigmoid(logits[:, 1:])
        else:
            probs = tf.nn.softmax(logits, axis=-1)[:, 1:]
        scores = tf.reduce_max(probs, axis=-1)
        classes = tf.cast(tf.argmax(probs, axis=-1), tf.int32) + 1
        k = min(self.pre_nms_top_k, self.anchors.shape[0])
        top_scores, top_index = tf.math.top_k(scores, k=k)
        anchors = tf.gather(tf.constant(self.anchors), top_index)
        codes = tf.gather(box_encodings[0], top_index)
        boxes = tf.clip_by_value(decode(codes, anchors, self.scale_factors, xp=ops),
                                 0.0, 1.0)
        selected, count = tf.raw_ops.NonMaxSuppressionV4(
            boxes=boxes, scores=top_scores, max_output_size=n,
            iou_threshold=self.iou_threshold, score_threshold=self.score_threshold,
            pad_to_max_output_size=True)
        valid = tf.range(n) < count
        out_boxes = tf.where(valid[:, None], tf.gather(boxes, selected), 0.0)
        out_scores = tf.where(valid, tf.gather(top_scores, selected), 0.0)
        out_classes = tf.where(valid, tf.gather(tf.gather(classes, top_index), selected), 0)
        return (out_boxes[None], out_scores[None], out_classes[None],
                tf.reshape(count, [1]))

    def get_config(self):
        return {**super().get_config(), "input_size": list(self.input_size),
                **{k: getattr(self, k) for k in NMS_KEYS},
                "score_converter": self.score_converter,
                "scale_factors": list(self.scale_factors),
                **dataclasses.asdict(self.anchor_config)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # Saved before the layers took scalars: ``anchors`` and ``postprocess`` dicts.
        config.update(config.pop("anchors", {}))
        config.update({k: v for k, v in config.pop("postprocess", {}).items() if k in NMS_KEYS})
        return cls(**config)
