"""Detection post-processing inside the graph: scores, top-k, decode, NMS, fixed-size outputs.

Batch size 1 (the deployment case). NMS is ``NonMaxSuppressionV4`` with padding, which converts
to a builtin TFLite op and keeps every output shape static.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from ..anchors import generate_anchors
from ..box_coder import decode
from ..config import AnchorConfig, PostprocessConfig, _build
from .graph_ops import ops


@keras.saving.register_keras_serializable(package="ssd_isb")
class DetectionPostprocess(keras.layers.Layer):
    """Box encodings + class logits of one image -> the top detections.

    Scores are the best foreground class probability (sigmoid per class or softmax with
    background, per ``score_converter``); NMS is class-agnostic, which for the person-only
    models is plain person NMS.

    Returns:
        boxes [1, N, 4] (ymin, xmin, ymax, xmax) normalized and clipped, scores [1, N],
        classes int32 [1, N] (1-based, 0 for padding), count int32 [1]; N = max_detections.
    """

    def __init__(self, input_size, anchors: dict, postprocess: dict, score_converter="softmax",
                 scale_factors=(10.0, 10.0, 5.0, 5.0), **kwargs):
        super().__init__(**kwargs)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.anchors_dict = dict(anchors)
        self.postprocess_dict = dict(postprocess)
        self.score_converter = score_converter
        self.scale_factors = tuple(float(s) for s in scale_factors)
        self.pp = _build(PostprocessConfig, self.postprocess_dict, "postprocess")
        anchor_cfg = _build(AnchorConfig, self.anchors_dict, "model.anchors")
        self.anchors = generate_anchors(anchor_cfg, self.input_size)

    def call(self, box_encodings, class_logits):
        n = self.pp.max_detections
        logits = class_logits[0]
        if self.score_converter == "sigmoid":
            probs = tf.sigmoid(logits[:, 1:])
        else:
            probs = tf.nn.softmax(logits, axis=-1)[:, 1:]
        scores = tf.reduce_max(probs, axis=-1)
        classes = tf.cast(tf.argmax(probs, axis=-1), tf.int32) + 1
        k = min(self.pp.pre_nms_top_k, self.anchors.shape[0])
        top_scores, top_index = tf.math.top_k(scores, k=k)
        anchors = tf.gather(tf.constant(self.anchors), top_index)
        codes = tf.gather(box_encodings[0], top_index)
        boxes = tf.clip_by_value(decode(codes, anchors, self.scale_factors, xp=ops),
                                 0.0, 1.0)
        selected, count = tf.raw_ops.NonMaxSuppressionV4(
            boxes=boxes, scores=top_scores, max_output_size=n,
            iou_threshold=self.pp.iou_threshold, score_threshold=self.pp.score_threshold,
            pad_to_max_output_size=True)
        valid = tf.range(n) < count
        out_boxes = tf.where(valid[:, None], tf.gather(boxes, selected), 0.0)
        out_scores = tf.where(valid, tf.gather(top_scores, selected), 0.0)
        out_classes = tf.where(valid, tf.gather(tf.gather(classes, top_index), selected), 0)
        return (out_boxes[None], out_scores[None], out_classes[None],
                tf.reshape(count, [1]))

    def get_config(self):
        return {**super().get_config(), "input_size": list(self.input_size),
                "anchors": self.anchors_dict, "postprocess": self.postprocess_dict,
                "score_converter": self.score_converter,
                "scale_factors": list(self.scale_factors)}


def numpy_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float,
              max_output: int) -> np.ndarray:
    """Greedy NMS reference (indices in score order), used to test the in-graph NMS."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order.size and len(keep) < max_output:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        yy0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        xx0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        yy1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        xx1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(yy1 - yy0, 0, None) * np.clip(xx1 - xx0, 0, None)
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-12)
        order = rest[iou <= iou_threshold]
    return np.array(keep, dtype=np.int64)
