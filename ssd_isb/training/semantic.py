"""Training a semantic person model (thesis 4.2.2) with Keras ``fit``.

Loss: softmax cross-entropy over (background, person) per pixel, against the share of each
target cell a person covers, averaged over the pixels whose truth is known (crowd regions and
mask-less persons weigh 0). RMSProp as in the thesis, with the config's decay and gradient
accumulation. Checkpoints (weights + optimizer) after every ``train.checkpoint_every`` updates,
by rename; ``resume`` continues from the last one with the data stream where it stopped.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Dict, Optional

import keras
import tensorflow as tf

from ..config import Config, resolve_data_path
from ..model.semantic import (
    build_semantic_inference_model,
    build_semantic_net,
    build_semantic_training_model,
)
from ..model.pretrained import import_encoder

log = logging.getLogger("ssd_isb.train")


@keras.saving.register_keras_serializable(package="ssd_isb")
def person_cross_entropy(y_true, logits):
    """Softmax CE; ``y_true[..., 0]`` the person share, ``y_true[..., 1]`` the pixel weight."""
    target, weight = y_true[..., 0], y_true[..., 1]
    labels = tf.stack([1.0 - target, target], axis=-1)
    ce = tf.nn.softmax_cross_entropy_with_logits(labels, tf.cast(logits, tf.float32))
    return tf.reduce_sum(ce * weight) / tf.maximum(tf.reduce_sum(weight), 1.0)


class PersonIoU(keras.metrics.Metric):
    """Running person IoU (probability > 0.5 vs target > 0.5, known pixels) of a fit."""

    def __init__(self, name="person_iou", **kwargs):
        super().__init__(name=name, **kwargs)
        self.inter = self.add_variable(shape=(), initializer="zeros", name="inter")
        self.union = self.add_variable(shape=(), initializer="zeros", name="union")

    def update_state(self, y_true, logits, sample_weight=None):
        known = y_true[..., 1] > 0
        truth = (y_true[..., 0] > 0.5) & known
        pred = (logits[..., 1] > logits[..., 0]) & known
        self.inter.assign_add(tf.reduce_sum(tf.cast(truth & pred, tf.float32)))
        self.union.assign_add(tf.reduce_sum(tf.cast(truth | pred, tf.float32)))

    def result(self):
        return self.inter / tf.maximum(self.union, 1.0)

    def reset_state(self):
        self.inter.assign(0.0)
        self.union.assign(0.0)


def freeze_batch_norm(model: keras.Model) -> int:
    """Make every BatchNormalization layer non-trainable (inference statistics); count them."""
    n = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
            n += 1
    return n


def train_semantic(cfg: Config, workdir: str, init: Optional[str] = None, resume: bool = False,
                   steps: Optional[int] = None, verbose: int = 1) -> Dict:
    """Train ``cfg`` (``model.task: semantic``); write ``workdir/model.keras`` and
    ``workdir/summary.json``.

    Args:
        cfg: the semantic config.
        workdir: checkpoints and outputs.
        init: encoder weights (a zoo ``detect.tflite`` or checkpoint); default the config's
            ``semantic.zoo_weights`` when ``semantic.encoder`` is "zoo". Ignored on resume.
        resume: continue from the last checkpoint in ``workdir``.
        steps: override ``train.steps`` (optimizer updates).
        verbose: Keras progress bar.
    """
    from ..data import load_datasets
    from ..data.semantic import TARGET_STRIDE, make_semantic_dataset, semantic_stream
    from ..model import save_model
    from .callbacks import CKPT_WEIGHTS, AtomicCheckpoint, EpochTimer, read_checkpoint_state

    t = cfg.train
    steps = int(steps or t.steps)
    ckpt_dir = os.path.join(workdir, "checkpoints")
    state = read_checkpoint_state(ckpt_dir) if resume else None
    if not resume and read_checkpoint_state(ckpt_dir) is not None:
        raise FileExistsError(f"{workdir}: holds a checkpoint; pass --resume to continue it or "
                              f"choose another --workdir")
    keras.utils.set_random_seed(t.seed)
    os.makedirs(workdir, exist_ok=True)
    import yaml

    with open(os.path.join(workdir, "config.yaml"), "w", encoding="utf-8") as fh:
        yaml.safe_dump(cfg.to_dict(), fh, sort_keys=False)
    records, report = load_datasets(cfg, "train")
    net = build_semantic_net(cfg)
    imported = None
    if state is None and cfg.semantic.encoder == "zoo":
        source = init or resolve_data_path(cfg.semantic.zoo_weights)
        if not os.path.exists(source):
            raise FileNotFoundError(f"{source}: no encoder weights (semantic.encoder: zoo); "
                                    f"pass --init or set semantic.encoder: scratch")
        imported = import_encoder(net, source)
    frozen = freeze_batch_norm(net) if t.freeze_batch_norm else 0
    model = build_semantic_training_model(cfg, TARGET_STRIDE, net)
    schedule = keras.optimizers.schedules.ExponentialDecay(
        t.learning_rate, t.decay_steps, t.decay_rate, staircase=True)
    accumulation = t.gradient_accumulation_steps
    optimizer = keras.optimizers.RMSprop(
        schedule, gradient_accumulation_steps=accumulation if accumulation > 1 else None)
    model.compile(optimizer=optimizer, loss=person_cross_entropy, metrics=[PersonIoU()])
    every = min(t.checkpoint_every, steps)
    micro_per_epoch = every * accumulation
    epochs = -(-steps // every)
    initial_epoch = 0
    if state is not None:
        optimizer.build(model.trainable_variables)
        model.load_weights(os.path.join(ckpt_dir, CKPT_WEIGHTS))
        initial_epoch = int(state["epoch"])
        log.info("resuming %s at epoch %d (update %d)", workdir, initial_epoch, state["step"])
    stream = semantic_stream(records, cfg, training=True, seed=t.seed)
    start = initial_epoch * micro_per_epoch * t.batch_size
    dataset = make_semantic_dataset(stream, t.batch_size, start=start)
    timer = EpochTimer()
    callbacks = [AtomicCheckpoint(ckpt_dir, {"config": cfg.name, "task": "semantic"}), timer]
    began = time.time()
    history = model.fit(dataset, epochs=epochs, initial_epoch=initial_epoch,
                        steps_per_epoch=micro_per_epoch, callbacks=callbacks, verbose=verbose)
    inference = build_semantic_inference_model(cfg, net)
    path = save_model(inference, os.path.join(workdir, "model.keras"), cfg,
                      params=int(inference.count_params()))
    summary = {
        "config": cfg.name, "task": "semantic", "steps": int(optimizer.iterations.numpy()),
        "epochs": epochs, "resumed_at_epoch": initial_epoch if state else None,
        "images": len(records), "skipped_images": stream.skipped,
        "skipped_files": stream.skipped_files[:20], "frozen_batch_norm": frozen,
        "encoder": cfg.semantic.encoder, "imported": imported,
        "loss": [float(v) for v in history.history.get("loss", [])],
        "person_iou_train": [float(v) for v in history.history.get("person_iou", [])],
        "epoch_seconds": [round(v, 1) for v in timer.seconds],
        "seconds": round(time.time() - began, 1),
        "params": int(inference.count_params()), "model": path, "data": report.line(),
    }
    with open(os.path.join(workdir, "summary.json"), "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=2)
    return summary
