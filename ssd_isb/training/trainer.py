"""A ``keras.Model`` that trains an SSD-ISB with ``fit``: losses, accumulation, NaN guard."""

from __future__ import annotations

from typing import Dict

import keras
import tensorflow as tf

from ..core.anchors import anchor_layers
from ..core.branches import branch_specs
from ..config import Config, mask_target_stride
from ..model import SSDISB
from ..model.losses import detection_losses, mask_loss

METRICS = ("loss", "box_loss", "class_loss", "mask_loss", "positives", "nonfinite")


class SSDISBTrainer(keras.Model):
    """Wraps the training graph of an :class:`~ssd_isb.model.SSDISB`.

    Data: ``(features, targets)`` from :func:`ssd_isb.data.pipeline.make_dataset`.
    Loss: box + class + ``mask_loss_weight`` x mask (thesis: 150 multi-branch, 30 single).
    A batch whose loss or gradients are not finite contributes zero gradients and raises the
    ``nonfinite`` metric, which :class:`~ssd_isb.training.callbacks.NonFiniteGuard` turns into
    a stop naming the step and the images.
    """

    def __init__(self, cfg: Config, model: SSDISB, batch_size: int,
                 in_step_accumulation: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.cfg = cfg
        self.ssdisb = model
        # Keras' optimizer-side accumulation syncs replicas inside a cond, which
        # MirroredStrategy rejects; with several replicas each step instead takes
        # ``in_step_accumulation`` micro-batches and averages their gradients.
        self.in_step_accumulation = int(in_step_accumulation)
        self.mixed_precision = bool(cfg.train.mixed_precision)
        t = cfg.train
        self.replica_batch = int(batch_size) * self.in_step_accumulation
        self.net = model.training_model(batch_size, cfg.data.max_boxes,
                                        boxes_per_branch=cfg.isb.boxes_per_branch * batch_size)
        self.specs = branch_specs(cfg.isb)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in METRICS}
        # Anchors whose every negative enters the class loss (train.all_negatives_from_layer).
        self.always_negative = None if t.all_negatives_from_layer is None else (
            anchor_layers(cfg.model.anchors, cfg.model.input_size) >= t.all_negatives_from_layer)
        self.weights_ = (t.box_loss_weight, t.class_loss_weight, t.mask_loss_weight)
        self.built = True  # every variable lives in the already-built functional net

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Every variable exists already (the built functional net and optimizer). Under a
        # strategy Keras would build again from the first batch reduced across replicas,
        # which MultiWorkerMirroredStrategy cannot do for a dict of features.
        return

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        return self.net(inputs, training=training)

    def compute_losses(self, x, y, training: bool) -> Dict[str, tf.Tensor]:
        # Every box trains the detector (its targets are in cls/box_targets); only boxes with a
        # mask take branch slots, so box-only people cost the branches nothing.
        weights = y.get("gt_mask_weights")
        isb_valid = x["gt_valid"] if weights is None else x["gt_valid"] * tf.cast(
            weights > 0, x["gt_valid"].dtype)
        out = self.net([x["image"], x["gt_boxes"], isb_valid], training=training)
        det = detection_losses(out["box_encodings"], out["class_logits"], y["cls_targets"],
                               y["box_targets"], self.cfg.model.score_converter,
                               self.cfg.train.negative_ratio, self.always_negative)
        b = tf.shape(y["gt_masks"])
        flat_masks = tf.reshape(y["gt_masks"], [-1, b[2], b[3]])
        masks = mask_loss(out["branches"], flat_masks, self.specs, self.cfg.isb.fcn,
                          self.cfg.train.mask_dice_weight,
                          mask_target_stride(self.cfg.train, self.cfg.isb),
                          self.cfg.train.mask_loss_stride,
                          None if weights is None else tf.reshape(weights, [-1]))
        wb, wc, wm = self.weights_
        total = wb * det["box"] + wc * det["class"] + wm * masks["mask"]
        return {"loss": total, "box_loss": det["box"], "class_loss": det["class"],
                "mask_loss": masks["mask"], "positives": det["positives"]}

    def train_step(self, data):
        x, y = _static_batch(data, self.replica_batch)
        variables = self.net.trainable_variables
        # Gradients are summed over replicas: scale the per-replica loss.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        n = self.in_step_accumulation
        grads, parts = None, []
        chunks = zip(_split(x, n), _split(y, n)) if n > 1 else [(x, y)]
        for cx, cy in chunks:
            with tf.GradientTape() as tape:
                part = self.compute_losses(cx, cy, training=True)
                scaled = part["loss"] / (replicas * n)
                if self.mixed_precision:
                    scaled = self.optimizer.scale_loss(scaled)
            g = tape.gradient(scaled, variables)
            grads = g if grads is None else [a if b is None else (b if a is None else a + b)
                                             for a, b in zip(grads, g)]
            parts.append(part)
        losses = {k: tf.add_n([p[k] for p in parts]) / len(parts) for k in parts[0]}
        finite = tf.math.is_finite(losses["loss"])
        if not self.mixed_precision:
            # With loss scaling an overflowing gradient is expected now and then: the
            # LossScaleOptimizer skips that update and lowers the scale; only a non-finite
            # loss is a fault.
            for g in grads:
                if g is not None:
                    finite = finite & tf.reduce_all(tf.math.is_finite(g))
            grads = [None if g is None else tf.where(finite, g, tf.zeros_like(g))
                     for g in grads]
        self.optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables)
                                        if g is not None])
        losses["nonfinite"] = 1.0 - tf.cast(finite, tf.float32)
        return self._update(losses, finite)

    def test_step(self, data):
        x, y = _static_batch(data, self.replica_batch)
        n = self.in_step_accumulation
        if n > 1:
            parts = [self.compute_losses(cx, cy, training=False)
                     for cx, cy in zip(_split(x, n), _split(y, n))]
            losses = {k: tf.add_n([p[k] for p in parts]) / n for k in parts[0]}
        else:
            losses = self.compute_losses(x, y, training=False)
        finite = tf.math.is_finite(losses["loss"])
        losses["nonfinite"] = 1.0 - tf.cast(finite, tf.float32)
        return self._update(losses, finite)

    def _update(self, losses, finite):
        for name, tracker in self.trackers.items():
            value = losses[name]
            if name != "nonfinite":  # keep the running means readable after a bad batch
                value = tf.where(finite, value, tf.zeros_like(value))
            tracker.update_state(value)
        results = {name: t.result() for name, t in self.trackers.items()}
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras averages multi-worker step results along axis 0, which a scalar lacks.
            results = {name: tf.reshape(v, [1]) for name, v in results.items()}
        return results


def _static_batch(data, size: int):
    """The batch axis made static: a multi-worker pipeline's per-replica batches arrive with
    an unknown one, and the crop layers need it."""
    return tuple({k: tf.ensure_shape(v, [size] + list(v.shape[1:])) for k, v in part.items()}
                 for part in data)


def _split(tensors: Dict, n: int):
    """Split every tensor of a dict into n equal parts along the batch axis."""
    pieces = {k: tf.split(v, n, axis=0) for k, v in tensors.items()}
    return [{k: pieces[k][i] for k in tensors} for i in range(n)]
