"""Box-encoding calibration: the zoo detector's 300x300 box regression, run at 320x320, has a
systematic offset that the calibration measures on training images and removes on held-out ones."""

import os

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from conftest import DATA, ZOO_TFLITE, need  # noqa: E402

from ssd_isb.core.anchors import generate_anchors  # noqa: E402
from ssd_isb.config import load_config  # noqa: E402
from ssd_isb.training.box_calibration import (  # noqa: E402
    anchor_groups,
    apply_offsets,
    bias_offsets,
    calibrate_box_encoding,
    encoding_residuals,
)


@pytest.fixture(scope="module")
def zoo_model():
    """Embedded Multi-Shape (320x320) with the zoo detector imported, branches untrained."""
    from ssd_isb.model import build_model
    from ssd_isb.model.pretrained import import_into_detector, read_zoo_tflite

    cfg = load_config("embedded_multi_shape")
    model = build_model(cfg)
    import_into_detector(model.detector, read_zoo_tflite(need(ZOO_TFLITE)))
    return cfg, model


@pytest.fixture(scope="module")
def records():
    """60 training-side and 40 dev-split coco_person_val2017 images."""
    from ssd_isb.data import load_datasets

    need(os.path.join(DATA, "coco_person_val2017"))
    cfg = load_config("embedded_multi_shape")
    train, _ = load_datasets(cfg, "train")
    val, _ = load_datasets(cfg, "val")
    train = [r for r in train if r.dataset == "coco_person_val2017"]
    return train[:60], val[:40]


def test_groups_follow_the_anchor_order():
    cfg = load_config("embedded_multi_shape")
    groups = anchor_groups(cfg)
    assert groups.shape[0] == generate_anchors(cfg.model.anchors, cfg.model.input_size).shape[0]
    # 20x20 cells x 3 anchors first, anchor types cycling fastest
    assert groups[:6].tolist() == [0, 1, 2, 0, 1, 2]
    assert groups[20 * 20 * 3] == 16 and groups[-1] == 5 * 16 + 5


def test_offsets_land_on_their_bias_channels(zoo_model):
    cfg, model = zoo_model
    layer = model.detector.get_layer("BoxPredictor_1_BoxEncodingPredictor")
    kernel, bias = layer.get_weights()
    try:
        apply_offsets(model.detector, {16 + 4: np.array([1.0, 2.0, 3.0, 4.0])})
        moved = layer.get_weights()[1] - bias
        assert np.allclose(moved[16:20], [1, 2, 3, 4]) and np.allclose(np.delete(moved, range(16, 20)), 0)
        image = np.zeros((1, 320, 320, 3), np.float32)
        codes = np.asarray(model.detector(image)["box_encodings"])[0]
        groups = anchor_groups(cfg)
        layer.set_weights([kernel, bias])
        base = np.asarray(model.detector(image)["box_encodings"])[0]
        diff = codes - base
        assert np.allclose(diff[groups == 20], [1, 2, 3, 4], atol=1e-4)
        assert np.allclose(diff[groups != 20], 0, atol=1e-4)
    finally:
        layer.set_weights([kernel, bias])


def test_rare_groups_keep_their_bias():
    residuals = {0: np.ones((40, 4)), 1: np.ones((5, 4))}
    assert set(bias_offsets(residuals, min_count=30)) == {0}


def test_calibration_removes_the_offset_on_held_out_images(zoo_model, records):
    from ssd_isb.data.pipeline import ExampleStream

    cfg, model = zoo_model
    train, val = records
    groups = anchor_groups(cfg)
    saved = {k: model.detector.get_layer(f"BoxPredictor_{k}_BoxEncodingPredictor").get_weights()
             for k in range(6)}

    def held_out():
        res = encoding_residuals(model.detector, ExampleStream(val, cfg, training=False), groups)
        return np.concatenate(list(res.values()))

    try:
        before = held_out()
        report = calibrate_box_encoding(model, cfg, train, min_count=20)
        after = held_out()
    finally:
        for k, w in saved.items():
            model.detector.get_layer(f"BoxPredictor_{k}_BoxEncodingPredictor").set_weights(w)
    assert report["corrected_groups"] >= 5
    # The zoo's regression at 320 places centres up and left of the people: a positive median
    # ty/tx residual on held-out images, which the calibration (fitted elsewhere) shrinks.
    assert np.median(before[:, 0]) > 0.1 and np.median(before[:, 1]) > 0.1
    assert np.all(np.abs(np.median(after, 0)) < np.abs(np.median(before, 0)))
    assert np.abs(after).mean() < np.abs(before).mean()


def test_calibrate_boxes_command_errors(tmp_path, capsys):
    from ssd_isb.cli import main

    assert main(["calibrate-boxes", "--weights", str(tmp_path / "none.keras"),
                 "--output", str(tmp_path / "out.keras")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "none.keras: no such .keras model" in err[0]
    model = tmp_path / "m.keras"
    model.write_bytes(b"")
    assert main(["calibrate-boxes", "--weights", str(model), "--output", str(tmp_path / "o.h5")]) == 2
    assert "o.h5: the calibrated model must be a .keras file" in capsys.readouterr().err
    assert main(["calibrate-boxes", "--weights", str(model), "--output", str(tmp_path / "o.keras"),
                 "--min-count", "0"]) == 2
    assert "--min-count 0: must be >= 1" in capsys.readouterr().err
