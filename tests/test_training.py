"""Training: a real short run lowers the held-out mask loss, a SIGKILLed run resumes exactly,
two replicas train under MirroredStrategy, non-finite batches stop training with their images."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

tf = pytest.importorskip("tensorflow")

from conftest import DATA, ROOT, ZOO_TFLITE, need  # noqa: E402
from ssd_isb.config import from_dict  # noqa: E402

PENNFUDAN = {"masks": "{data}/pennfudan/PedMasks", "images": "{data}/pennfudan/Images",
             "name": "pennfudan"}


def tiny_config(**train):
    return {
        "name": "tiny",
        "model": {"input_size": 320, "depth_multiplier": 0.75, "score_converter": "sigmoid"},
        "isb": {"variant": "multi_shape", "shapes": [[10, 5], [5, 3], [2, 1]],
                "boxes_per_branch": 4},
        "postprocess": {"max_detections": 20, "pre_nms_top_k": 100},
        "train": {"batch_size": 2, "gradient_accumulation_steps": 2, "steps": 4,
                  "checkpoint_every": 1, "validation_batches": 3, **train},
        "data": {"train": [{**PENNFUDAN, "split": "train"}],
                 "val": [{**PENNFUDAN, "split": "val"}], "max_boxes": 10},
    }


@pytest.fixture(scope="module")
def zoo_weights(tmp_path_factory):
    need(ZOO_TFLITE)
    need(os.path.join(DATA, "pennfudan"))
    from ssd_isb.config import load_config
    from ssd_isb.model import build_detector
    from ssd_isb.model.pretrained import import_into_detector, read_zoo_tflite

    detector = build_detector(load_config("embedded_multi_shape"))
    import_into_detector(detector, read_zoo_tflite(ZOO_TFLITE))
    path = str(tmp_path_factory.mktemp("init") / "zoo.weights.h5")
    detector.save_weights(path)
    return path


def _write_config(tmp_path, data, name="tiny.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.mark.slow
def test_short_run_lowers_held_out_mask_loss(tmp_path, zoo_weights):
    from ssd_isb.runtime import Segmenter
    from ssd_isb.training import train

    cfg = from_dict(tiny_config(steps=8, checkpoint_every=4, learning_rate=4e-4,
                                validation_batches=6))
    summary = train(cfg, str(tmp_path / "run"), init=zoo_weights, verbose=0)
    val = summary["history"]["val_mask_loss"]
    assert summary["steps"] == 8 and len(val) == 2
    assert val[-1] < val[0], f"held-out mask loss did not fall: {val}"
    assert summary["frozen"]["batch_norm"] == 35
    seg = Segmenter(summary["model"], score_threshold=0.3)
    import cv2

    image = cv2.imread(os.path.join(DATA, "pennfudan", "Images", "FudanPed00001.jpg"))
    assert len(seg(image)) >= 1  # the imported detector still finds the pedestrians


def _run(args, env=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "ssd_isb", "train", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "TF_DETERMINISTIC_OPS": "1",
                                 "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}, **kw)


def _weights(path):
    import h5py

    out = {}
    with h5py.File(path) as fh:
        fh.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                      if isinstance(obj, h5py.Dataset) else None)
    return out


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(tmp_path, zoo_weights):
    cfg = _write_config(tmp_path, tiny_config(steps=6))
    common = ["--config", cfg, "--init", zoo_weights, "--quiet"]
    killed = tmp_path / "killed"
    state_file = killed / "checkpoints" / "last.json"
    proc = _run(common + ["--workdir", str(killed)])
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if state_file.exists() and json.loads(state_file.read_text())["epoch"] >= 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stdout.read()
    state = json.loads(state_file.read_text())
    assert 2 <= state["epoch"] < 6 and state["step"] == state["epoch"]
    assert not (killed / "model.keras").exists()

    resumed = _run(common + ["--workdir", str(killed), "--resume"])
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out
    assert "trained to step 6" in out
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["initial_epoch"] == state["epoch"]
    # The last checkpoint, exported without training, is the model the run saved.
    from ssd_isb.model import load_model
    from ssd_isb.training.loop import checkpoint_to_model

    exported = checkpoint_to_model(from_dict(tiny_config(steps=6)), str(killed),
                                   str(tmp_path / "ckpt.keras"))
    saved, again = load_model(str(killed / "model.keras")), load_model(exported)
    assert len(saved.weights) == len(again.weights)
    for w1, w2 in zip(saved.weights, again.weights):
        np.testing.assert_array_equal(w1.numpy(), w2.numpy(), err_msg=w1.path)

    reference = _run(common + ["--workdir", str(tmp_path / "reference")])
    out, _ = reference.communicate(timeout=600)
    assert reference.returncode == 0, out
    a = _weights(killed / "checkpoints" / "last.weights.h5")
    b = _weights(tmp_path / "reference" / "checkpoints" / "last.weights.h5")
    assert a.keys() == b.keys()
    for key in a:  # same step, learning rate, optimizer slots and weights
        np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-6, err_msg=key)


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tmp_path, zoo_weights):
    cfg = _write_config(tmp_path, tiny_config(steps=2, checkpoint_every=2))
    script = f"""
import json, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from ssd_isb.config import load_config
from ssd_isb.training import train
s = train(load_config({cfg!r}), {str(tmp_path / "run")!r}, init={zoo_weights!r},
          devices=["/cpu:0", "/cpu:1"], verbose=0)
print("RESULT", json.dumps({{"replicas": s["replicas"], "steps": s["steps"],
                            "loss": s["history"]["loss"]}}))
"""
    res = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    line = next((x for x in res.stdout.splitlines() if x.startswith("RESULT")), None)
    assert line, res.stdout + res.stderr
    result = json.loads(line[len("RESULT "):])
    assert result["replicas"] == 2 and result["steps"] == 2
    assert all(np.isfinite(result["loss"]))


def test_nonfinite_batch_stops_with_step_and_images(zoo_weights):
    import keras

    from ssd_isb.model import build_model
    from ssd_isb.training.callbacks import NonFiniteGuard
    from ssd_isb.training.trainer import SSDISBTrainer

    cfg = from_dict(tiny_config())
    model = build_model(cfg)
    trainer = SSDISBTrainer(cfg, model, batch_size=2)
    trainer.compile(optimizer=keras.optimizers.RMSprop(1e-3))
    before = [v.numpy().copy() for v in trainer.net.trainable_variables]
    from ssd_isb.core.anchors import generate_anchors

    a = len(generate_anchors(cfg.model.anchors, (320, 320)))
    x = {"image": np.zeros((2, 320, 320, 3), np.float32),
         "gt_boxes": np.tile(np.array([[0.1, 0.1, 0.5, 0.3]], np.float32), (2, 10, 1)),
         "gt_valid": np.ones((2, 10), np.float32), "record_index": np.arange(2, dtype=np.int32)}
    y = {"gt_masks": np.ones((2, 10, 40, 40), np.float32),
         "cls_targets": np.ones((2, a), np.int32),
         "box_targets": np.full((2, a, 4), np.nan, np.float32)}  # a poisoned batch
    guard = NonFiniteGuard(lambda i: [f"pennfudan/img{i}a.jpg", f"pennfudan/img{i}b.jpg"])
    trainer.fit(tf.data.Dataset.from_tensors((x, y)).repeat(3), epochs=1, callbacks=[guard],
                verbose=0)
    assert guard.failure and "optimizer step 1" in guard.failure
    assert "pennfudan/img0a.jpg" in guard.failure
    assert guard.batches == 1  # stopped right after the bad batch
    after = [v.numpy() for v in trainer.net.trainable_variables]
    assert all(np.array_equal(a_, b_) for a_, b_ in zip(before, after))  # weights untouched


def test_resume_errors(tmp_path):
    from ssd_isb.training import TrainingError, train

    cfg = from_dict(tiny_config())
    with pytest.raises(TrainingError, match="no complete checkpoint"):
        train(cfg, str(tmp_path / "new"), resume=True, verbose=0)
    from ssd_isb.training.loop import checkpoint_to_model

    with pytest.raises(TrainingError, match="no complete checkpoint to export"):
        checkpoint_to_model(cfg, str(tmp_path / "new"), str(tmp_path / "x.keras"))
    ckpt = tmp_path / "old" / "checkpoints"
    ckpt.mkdir(parents=True)
    (ckpt / "last.weights.h5").write_bytes(b"x")
    (ckpt / "last.json").write_text(json.dumps({"epoch": 1}))
    with pytest.raises(TrainingError, match="already holds a checkpoint"):
        train(cfg, str(tmp_path / "old"), verbose=0)


@pytest.mark.slow
def test_init_from_a_whole_model_for_fine_tuning(tmp_path):
    from ssd_isb.config import load_config
    from ssd_isb.model import build_model, save_model
    from ssd_isb.training import TrainingError
    from ssd_isb.training.loop import _build_trainer

    cfg = from_dict(tiny_config())
    tf.keras.utils.set_random_seed(3)
    source = build_model(cfg).inference_model
    path = save_model(source, str(tmp_path / "trained.keras"), cfg)
    tf.keras.utils.set_random_seed(4)  # a different fresh initialization
    model, _, _ = _build_trainer(cfg, init=path)
    for a, b in zip(source.weights, model.inference_model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    with pytest.raises(TrainingError, match="do not match this config"):
        _build_trainer(load_config("embedded_single_branch"), init=path)


def test_detector_fine_tune_keeps_the_backbone_and_moves_the_heads(tmp_path, zoo_weights):
    """docs/releases/finetune_detector_multi_shape.yaml's freezing, on a real step: the backbone (the
    maps the branches crop) stays exactly as imported and the SSD heads learn."""
    from ssd_isb.core.layer_names import component
    from ssd_isb.model import build_detector, load_model
    from ssd_isb.training import train

    data = tiny_config(steps=1, freeze_backbone=True, freeze_detector=False,
                       box_loss_weight=0.1, class_loss_weight=0.1)
    data["data"]["val"] = []
    cfg = from_dict(data)
    summary = train(cfg, str(tmp_path / "run"), init=zoo_weights, verbose=0)
    assert summary["frozen"]["backbone"] > 0 and summary["frozen"]["detector"] == 0
    before = build_detector(cfg)
    before.load_weights(zoo_weights)
    after = load_model(summary["model"]).get_layer("detector")
    moved = {}
    for layer in before.layers:
        if not layer.weights:
            continue
        new = after.get_layer(layer.name).get_weights()
        changed = any(not np.array_equal(a, b) for a, b in zip(layer.get_weights(), new))
        moved.setdefault(component(layer.name), []).append(changed)
    assert not any(moved["MobileNet-v1 backbone"])
    assert any(moved["SSD box predictors"]) and any(moved["SSD extra feature layers"])
