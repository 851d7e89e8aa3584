"""A ``keras.Model`` that trains an SSD-ISB with ``fit``: losses, accumulation, NaN guard."""

from __future__ import annotations

from typing import Dict

import keras
import tensorflow as tf

from ..branches import branch_specs
from ..config import Config
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

    def __init__(self, cfg: Config, model: SSDISB, batch_size: int, **kwargs):
        super().__init__(**kwargs)
        self.cfg = cfg
        self.ssdisb = model
        t = cfg.train
        self.net = model.training_model(batch_size, cfg.data.max_boxes,
                                        boxes_per_branch=cfg.isb.boxes_per_branch * batch_size)
        self.specs = branch_specs(cfg.isb)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in METRICS}
        self.weights_ = (t.box_loss_weight, t.class_loss_weight, t.mask_loss_weight)
        self.built = True  # every variable lives in the already-built functional net

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        return self.net(inputs, training=training)

    def compute_losses(self, x, y, training: bool) -> Dict[str, tf.Tensor]:
        out = self.net([x["image"], x["gt_boxes"], x["gt_valid"]], training=training)
        det = detection_losses(out["box_encodings"], out["class_logits"], y["cls_targets"],
                               y["box_targets"], self.cfg.model.score_converter,
                               self.cfg.train.negative_ratio)
        b = tf.shape(y["gt_masks"])
        flat_masks = tf.reshape(y["gt_masks"], [-1, b[2], b[3]])
        masks = mask_loss(out["branches"], flat_masks, self.specs, self.cfg.isb.fcn)
        wb, wc, wm = self.weights_
        total = wb * det["box"] + wc * det["class"] + wm * masks["mask"]
        return {"loss": total, "box_loss": det["box"], "class_loss": det["class"],
                "mask_loss": masks["mask"], "positives": det["positives"]}

    def train_step(self, data):
        x, y = data
        variables = self.net.trainable_variables
        with tf.GradientTape() as tape:
            losses = self.compute_losses(x, y, training=True)
            # Gradients are summed over replicas: scale the per-replica loss.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = losses["loss"] / replicas
        grads = tape.gradient(scaled, variables)
        finite = tf.math.is_finite(losses["loss"])
        for g in grads:
            if g is not None:
                finite = finite & tf.reduce_all(tf.math.is_finite(g))
        grads = [None if g is None else tf.where(finite, g, tf.zeros_like(g)) for g in grads]
        self.optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables)
                                        if g is not None])
        losses["nonfinite"] = 1.0 - tf.cast(finite, tf.float32)
        return self._update(losses, finite)

    def test_step(self, data):
        x, y = data
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
        return {name: t.result() for name, t in self.trackers.items()}
