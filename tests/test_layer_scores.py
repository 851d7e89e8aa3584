"""Detections per anchor layer: the numpy replay of the detector's post-processing equals the
model's own, per-layer offsets move one layer's scores, and the script runs end to end."""

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import DATA, ROOT, need
from ssd_isb.config import load_config
from ssd_isb.evaluation.layer_scores import anchor_layers, f1_at, layer_table, nested, nms

MULTI = os.path.join(ROOT, "ssd_isb", "zoo", "ssd_isb_multi_shape.keras")


def test_anchor_layers_follow_the_predictor_order():
    cfg = load_config("embedded_multi_shape")
    layers = anchor_layers(cfg.model.anchors, (320, 320))
    counts = np.bincount(layers)
    # 20x20x3, 10x10x6, 5x5x6, 3x3x6, 2x2x6, 1x1x6 at 320
    np.testing.assert_array_equal(counts, [1200, 600, 150, 54, 24, 6])
    assert (np.diff(layers) >= 0).all()


def test_a_frame_sized_box_over_nobody_found_is_no_duplicate():
    det = {"boxes": np.array([[0, 0, 100, 100], [80, 80, 90, 90]], np.float32),
           "scores": np.array([0.6, 0.9]), "layers": np.array([5, 0])}
    gt = np.array([[0, 0, 40, 60], [80, 80, 90, 90]], np.float32)  # the first is not found
    rows = layer_table([det], [gt], [(100, 100)])
    assert rows[5]["false_large"] == 1 and rows[5]["false_large_duplicate"] == 0


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30]], np.float32)
    np.testing.assert_array_equal(nms(boxes, np.array([0.5, 0.9, 0.4]), 0.6, 10), [1, 2])
    np.testing.assert_array_equal(nms(boxes, np.array([0.5, 0.9, 0.4]), 0.6, 1), [1])


def test_nested_drops_only_a_worse_box_around_a_better_one():
    # score order: a person's box, a too-large box around it (IoU 0.5), a box beside it, and a
    # better-scored box that a worse one sits inside (the big box wins there: kept)
    boxes = np.array([[10, 10, 30, 30], [10, 10, 30, 50], [40, 10, 60, 30], [0, 0, 9, 9]],
                     np.float32)
    np.testing.assert_array_equal(nested(boxes, 0.3, 0.9), [False, True, False, False])
    # at IoU 0.6 the pair is left to the NMS
    np.testing.assert_array_equal(nested(boxes, 0.6, 0.9), [False, False, False, False])


def test_layer_table_counts_found_false_and_frame_sized():
    det = {"boxes": np.array([[0, 0, 10, 10], [0, 0, 100, 100], [50, 50, 60, 60]], np.float32),
           "scores": np.array([0.9, 0.6, 0.4]), "layers": np.array([0, 5, 1])}
    gt = np.array([[0, 0, 10, 10]], np.float32)
    rows = layer_table([det], [gt], [(100, 100)])
    assert rows[0] == {"layer": 0, "found": 1, "false": 0, "false_large": 0,
                       "false_large_duplicate": 0}
    # The frame-sized one overlaps the found person (IoU 0.01): a second box of it.
    assert rows[5] == {"layer": 5, "found": 0, "false": 1, "false_large": 1,
                       "false_large_duplicate": 1}
    assert rows[1]["false"] == 0  # below 0.5
    f1, tp, fp = f1_at([det], [gt])
    assert (tp, fp) == (1, 1) and f1 == pytest.approx(2 / 3)
    # The frame-sized false one costs 4: precision 1/5, recall 1.
    f1, tp, fp = f1_at([det], [gt], image_sizes=[(100, 100)], large_false_cost=4.0)
    assert (tp, fp) == (1, 1) and f1 == pytest.approx(2 * 0.2 / 1.2)


@pytest.fixture(scope="module")
def shipped():
    pytest.importorskip("tensorflow")
    from ssd_isb.core.metadata import model_config
    from ssd_isb.model import load_model

    return model_config(MULTI), load_model(MULTI)


def test_replay_equals_the_models_own_postprocess(shipped):
    import cv2

    from ssd_isb.evaluation.layer_scores import LayerDetections
    from ssd_isb.runtime.image_io import model_input

    cfg, model = shipped
    folder = need(os.path.join(DATA, "coco_person_val2017", "images"))
    replay = LayerDetections(cfg)
    for name in sorted(os.listdir(folder))[:4]:
        image = cv2.imread(os.path.join(folder, name))
        x = model_input(image, cfg.model.input_size)
        raw = model.get_layer("detector")(x, training=False)
        det = replay(np.asarray(raw["box_encodings"])[0], np.asarray(raw["class_logits"])[0],
                     image.shape[:2])
        out = model(x, training=False)
        n = int(np.asarray(out["count"])[0])
        h, w = image.shape[:2]
        want = np.asarray(out["boxes"])[0, :n] * [h, w, h, w]
        np.testing.assert_allclose(det["scores"][:n], np.asarray(out["scores"])[0, :n],
                                   rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(det["boxes"][:n], want[:, [1, 0, 3, 2]], atol=0.05)
        assert len(det["scores"]) == n
        # Only the candidates at or above 0.5: the same detections at or above 0.5.
        for offsets in ([0.0] * 6, [0.4, 0.0, 0.0, -0.3, 0.0, -0.8]):
            full = replay(np.asarray(raw["box_encodings"])[0],
                          np.asarray(raw["class_logits"])[0], image.shape[:2], offsets)
            fast = replay(np.asarray(raw["box_encodings"])[0],
                          np.asarray(raw["class_logits"])[0], image.shape[:2], offsets,
                          min_score=0.5)
            above = full["scores"] >= 0.5
            for key in ("boxes", "scores", "layers"):
                np.testing.assert_array_equal(fast[key], full[key][above])


def test_per_layer_offsets_move_only_their_layer(shipped, tmp_path):
    from ssd_isb.model import load_model
    from ssd_isb.training.score_calibration import shift_model_file

    out = str(tmp_path / "shifted.keras")
    offsets = [0.0, 0.0, 0.0, 0.0, 0.0, -1.5]
    shift_model_file(MULTI, out, offsets)
    before = shipped[1].get_layer("detector")
    after = load_model(out).get_layer("detector")
    for k in range(6):
        name = f"BoxPredictor_{k}_ClassPredictor"
        b0 = before.get_layer(name).get_weights()[1].reshape(-1, 2)
        b1 = after.get_layer(name).get_weights()[1].reshape(-1, 2)
        np.testing.assert_array_equal(b0[:, 0], b1[:, 0])  # background untouched
        np.testing.assert_allclose(b1[:, 1] - b0[:, 1], offsets[k], atol=1e-6)


@pytest.mark.slow
def test_score_by_layer_script_tunes_and_applies(tmp_path):
    pytest.importorskip("tensorflow")
    need(os.path.join(DATA, "coco_person_val2017"))
    out = tmp_path / "layers.json"
    model = tmp_path / "tuned.keras"
    res = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "score_by_layer.py"),
                          "--model", MULTI, "--split", "train", "--max-images", "40",
                          "--tune", "--steps", "-0.4", "0.4", "--apply", MULTI,
                          "--out-model", str(model), "--output", str(out),
                          "--cache", str(tmp_path / "raw.npz")],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    import json

    report = json.load(open(out))
    assert len(report["offsets"]) == 6 and report["after"]["f1"] >= report["before"]["f1"]
    assert model.exists() and "layer 5" in res.stdout
    # From the cache (the network does not run again), with a costlier
    # frame-sized false person: the same detections before tuning.
    again = tmp_path / "again.json"
    res = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "score_by_layer.py"),
                          "--model", MULTI, "--cache", str(tmp_path / "raw.npz"), "--tune",
                          "--steps", "-0.4", "--large-false-cost", "10", "--output", str(again)],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    second = json.load(open(again))
    assert second["before"] == report["before"] and second["large_false_cost"] == 10
