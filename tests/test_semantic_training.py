"""Training a semantic model: the loss, a real run on real images, and resume."""

import json
import os

import numpy as np
import pytest

from conftest import DATA, ZOO_TFLITE, need

tf = pytest.importorskip("tensorflow")

from ssd_isb.config import from_dict  # noqa: E402
from ssd_isb.training.semantic import person_cross_entropy, train_semantic  # noqa: E402


def test_loss_is_softmax_cross_entropy_over_known_pixels():
    logits = tf.constant(np.random.default_rng(0).normal(size=(2, 4, 4, 2)), tf.float32)
    target = np.random.default_rng(1).uniform(size=(2, 4, 4)).astype(np.float32)
    weight = np.ones((2, 4, 4), np.float32)
    weight[0, :2] = 0
    y = tf.constant(np.stack([target, weight], -1))
    p = tf.nn.softmax(logits).numpy()
    ce = -(target * np.log(p[..., 1]) + (1 - target) * np.log(p[..., 0]))
    expected = (ce * weight).sum() / weight.sum()
    np.testing.assert_allclose(float(person_cross_entropy(y, logits)), expected, rtol=1e-5)
    # An unknown pixel gives no gradient.
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = person_cross_entropy(y, logits)
    grad = tape.gradient(loss, logits).numpy()
    assert np.abs(grad[0, :2]).max() == 0 and np.abs(grad[0, 2:]).max() > 0


def tiny_config(tmp_path):
    need(ZOO_TFLITE)
    root = need(os.path.join(DATA, "pennfudan"))
    return from_dict({
        "name": "tiny_semantic",
        "model": {"task": "semantic", "input_size": 128, "depth_multiplier": 0.75},
        "semantic": {"method": "fcn", "stride": 16, "encoder": "zoo",
                     "zoo_weights": ZOO_TFLITE},
        "train": {"batch_size": 2, "gradient_accumulation_steps": 1, "learning_rate": 1e-3,
                  "steps": 4, "checkpoint_every": 2},
        "data": {"train": [{"name": "pf", "masks": os.path.join(root, "PedMasks"),
                            "images": os.path.join(root, "Images"), "split": "train"}]}})


def test_train_writes_a_model_and_resumes(tmp_path):
    cfg = tiny_config(tmp_path)
    work = str(tmp_path / "run")
    first = train_semantic(cfg, work, steps=2, verbose=0)
    assert first["steps"] == 2 and np.isfinite(first["loss"]).all()
    assert first["imported"]["layers"] == 27 and first["frozen_batch_norm"] == 27
    state = json.load(open(os.path.join(work, "checkpoints", "last.json")))
    assert state["step"] == 2
    with pytest.raises(FileExistsError, match="--resume"):
        train_semantic(cfg, work, steps=4, verbose=0)
    second = train_semantic(cfg, work, resume=True, steps=4, verbose=0)
    assert second["steps"] == 4 and second["resumed_at_epoch"] == 1
    from ssd_isb.runtime.backends import load_backend

    backend = load_backend(second["model"])
    assert backend.meta.task == "semantic" and backend.meta.variant == "fcn16"
    prob = backend.run(np.zeros((1, 128, 128, 3), np.float32))["probability"]
    assert prob.shape == (1, 128, 128) and 0 <= prob.min() and prob.max() <= 1
