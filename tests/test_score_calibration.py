"""Score calibration: the operating point (matches, F1 per threshold) on hand-made cases, and the
class-logit shift on the shipped model (scores move, rankings, boxes and background do not)."""

import json
import math
import os

import numpy as np
import pytest

from conftest import DATA, ROOT, need
from ssd_isb.evaluation.operating_point import best_threshold, f1_table, match_detections

MULTI = os.path.join(ROOT, "ssd_isb", "zoo", "ssd_isb_multi_shape.keras")


def test_matches_are_greedy_by_score_and_one_per_person():
    gt = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float32)
    boxes = np.array([[0, 0, 10, 10],      # person 0
                      [1, 0, 11, 10],      # person 0 again: a duplicate, false
                      [20, 0, 30, 10],     # person 1
                      [50, 50, 60, 60]],   # nobody
                     np.float32)
    scores = np.array([0.6, 0.9, 0.5, 0.95])
    # The duplicate scores higher, so it takes person 0 and the exact box is the false one.
    np.testing.assert_array_equal(match_detections(boxes, scores, gt),
                                  [False, True, True, False])
    assert not match_detections(boxes[:0], scores[:0], gt).any()
    assert not match_detections(boxes, scores, gt[:0]).any()


def test_f1_table_and_best_threshold():
    scores = np.array([0.9, 0.8, 0.7, 0.45, 0.4, 0.3])
    found = np.array([True, True, False, True, False, False])
    rows = f1_table(scores, found, people=4, thresholds=[0.35, 0.5, 0.85])
    assert [(r["found"], r["false"]) for r in rows] == [(3, 2), (2, 1), (1, 0)]
    assert rows[0]["recall"] == 0.75 and rows[0]["precision"] == 0.6
    assert math.isclose(rows[0]["f1"], 2 * 0.6 * 0.75 / 1.35)
    threshold, best = best_threshold(rows)
    assert threshold == 0.35 and best is rows[0]
    tie = [{"threshold": 0.6, "f1": 0.5}, {"threshold": 0.4, "f1": 0.5}]
    assert best_threshold(tie)[0] == 0.4  # the lower one finds more people


def test_logit_offset_maps_the_threshold_to_the_target():
    from ssd_isb.utils.errors import UsageError
    from ssd_isb.training.score_calibration import logit_offset

    sigmoid = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    for t in (0.2, 0.42, 0.7):
        z = math.log(t / (1 - t))
        assert math.isclose(sigmoid(z + logit_offset(t)), 0.5, abs_tol=1e-12)
    assert logit_offset(0.5) == 0.0
    with pytest.raises(UsageError, match="threshold 1.0 must be strictly between 0 and 1"):
        logit_offset(1.0)


def test_shift_moves_every_class_logit_and_nothing_else(tmp_path):
    pytest.importorskip("tensorflow")
    from ssd_isb.model import load_model
    from ssd_isb.runtime.image_io import model_input, read_image
    from ssd_isb.samples import sample_images
    from ssd_isb.training.score_calibration import shift_model_file

    out = str(tmp_path / "shifted.keras")
    report = shift_model_file(MULTI, out, 0.3)
    assert report["layers"] == 6  # one class predictor per SSD map
    x = model_input(read_image(sample_images()[1]), (320, 320))
    before = load_model(MULTI).get_layer("detector")(x)
    after = load_model(out).get_layer("detector")(x)
    np.testing.assert_allclose(np.asarray(after["class_logits"])[..., 1],
                               np.asarray(before["class_logits"])[..., 1] + 0.3, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(after["class_logits"])[..., 0],
                                  np.asarray(before["class_logits"])[..., 0])
    for key in ("box_encodings", "stride8", "stride16", "stride32"):
        np.testing.assert_array_equal(np.asarray(after[key]), np.asarray(before[key]))


def test_shift_refuses_a_softmax_model_and_bad_paths(tmp_path):
    pytest.importorskip("tensorflow")
    from ssd_isb.config import from_dict
    from ssd_isb.utils.errors import UsageError
    from ssd_isb.model import build_model, save_model
    from ssd_isb.training.score_calibration import shift_model_file

    cfg = from_dict({"name": "soft", "model": {"input_size": 320, "depth_multiplier": 0.75,
                                               "score_converter": "softmax"},
                     "isb": {"variant": "multi_shape", "shapes": [[5, 3], [2, 1]]}})
    soft = save_model(build_model(cfg).inference_model, str(tmp_path / "soft.keras"), cfg)
    with pytest.raises(UsageError, match="needs a sigmoid score converter, not softmax"):
        shift_model_file(soft, str(tmp_path / "o.keras"), 0.3)
    with pytest.raises(UsageError, match="none.keras: no such .keras model"):
        shift_model_file(str(tmp_path / "none.keras"), str(tmp_path / "o.keras"), 0.3)
    with pytest.raises(UsageError, match="o.h5: the calibrated model must be a .keras file"):
        shift_model_file(MULTI, str(tmp_path / "o.h5"), 0.3)


def test_tune_score_script_picks_and_applies(tmp_path, capsys):
    """The script end to end on a few real training-side images with the shipped model."""
    pytest.importorskip("tensorflow")
    need(os.path.join(DATA, "coco_person_val2017"))
    import importlib.util

    spec = importlib.util.spec_from_file_location("tune_score",
                                                  os.path.join(ROOT, "scripts", "tune_score.py"))
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = str(tmp_path / "calibrated.keras")
    model = os.path.join(ROOT, "ssd_isb", "zoo", "ssd_isb_multi_shape_int8.tflite")
    assert script.main(["--model", model, "--split", "train", "--max-images", "12",
                        "--threads", "1", "--apply", MULTI, "--output", out]) == 0
    report = json.load(open(out + ".score.json"))
    assert report["images"] == 12 and report["people"] > 0
    best = report["best"]
    assert best["f1"] == max(r["f1"] for r in report["rows"])
    assert math.isclose(report["calibration"]["logit_offset"],
                        -math.log(best["threshold"] / (1 - best["threshold"])), abs_tol=1e-9)
    assert os.path.isfile(out) and "now reads 0.50" in capsys.readouterr().out
