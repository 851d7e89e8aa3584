"""Transplanting a detector: a shipped model's detector, its heads changed as a fine-tune on a
frozen backbone would, goes under the shipped Single-Branch branches."""

import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from conftest import ROOT  # noqa: E402
from ssd_isb.cli import main  # noqa: E402

ZOO = os.path.join(ROOT, "ssd_isb", "zoo")
MULTI = os.path.join(ZOO, "ssd_isb_multi_shape.keras")
SINGLE = os.path.join(ZOO, "ssd_isb_single_branch.keras")


def _modified(path, out, layer_name, delta=0.25):
    """``path``'s model with ``layer_name``'s first weight moved by ``delta``."""
    from ssd_isb.core.metadata import model_config
    from ssd_isb.model import load_model, save_model

    model = load_model(path)
    layer = model.get_layer("detector").get_layer(layer_name)
    weights = layer.get_weights()
    weights[0] = weights[0] + delta
    layer.set_weights(weights)
    return save_model(model, out, model_config(path))


@pytest.fixture(scope="module")
def tuned_heads(tmp_path_factory):
    """The Single-Branch model with a box predictor changed (the heads of a detector
    fine-tune)."""
    out = str(tmp_path_factory.mktemp("tuned") / "tuned.keras")
    return _modified(SINGLE, out, "BoxPredictor_0_BoxEncodingPredictor")


def test_the_branches_keep_their_weights_and_settings_under_the_new_detector(tmp_path,
                                                                             tuned_heads):
    from ssd_isb.core.metadata import model_config
    from ssd_isb.model import load_model
    from ssd_isb.training.transplant import transplant_detector

    out = str(tmp_path / "single.keras")
    report = transplant_detector(tuned_heads, SINGLE, out)
    assert report["changed_layers"] == {"SSD box predictors": 1}
    new, single, tuned = load_model(out), load_model(SINGLE), load_model(tuned_heads)
    for a, b in zip(new.get_layer("detector").weights, tuned.get_layer("detector").weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    assert [w.path for w in new.get_layer("mask_head").weights] == \
        [w.path for w in single.get_layer("mask_head").weights]
    for a, b in zip(new.get_layer("mask_head").weights, single.get_layer("mask_head").weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    assert model_config(out).to_dict() == model_config(SINGLE).to_dict()  # settings travel


def test_transplant_command_and_its_refusals(tmp_path, tuned_heads, capsys):
    out = str(tmp_path / "single.keras")
    assert main(["transplant-detector", "--detector", tuned_heads, "--branches", SINGLE,
                 "--output", out]) == 0
    assert "layers changed: 1 SSD box predictors" in capsys.readouterr().out
    # Release 7 shipped Single-Branch under Multi-Shape's tuned detector (model card).
    assert main(["transplant-detector", "--detector", MULTI, "--branches", SINGLE,
                 "--output", out]) == 0
    assert "none, same detector" in capsys.readouterr().out

    backbone = _modified(MULTI, str(tmp_path / "backbone.keras"), "Conv2d_13_pointwise")
    assert main(["transplant-detector", "--detector", backbone, "--branches", SINGLE,
                 "--output", out]) == 2
    err = capsys.readouterr().err.strip()
    assert "backbone differs" in err and "Conv2d_13_pointwise" in err and "\n" not in err
    assert "--allow-new-backbone" in err
    # A detector whose upper backbone learned, for branches that will be fine-tuned on it.
    assert main(["transplant-detector", "--detector", backbone, "--branches", SINGLE,
                 "--output", out, "--allow-new-backbone"]) == 0
    assert "fine-tune the branches on it" in capsys.readouterr().out
    from ssd_isb.model import load_model

    moved = load_model(out).get_layer("detector").get_layer("Conv2d_13_pointwise")
    want = load_model(backbone).get_layer("detector").get_layer("Conv2d_13_pointwise")
    np.testing.assert_array_equal(moved.get_weights()[0], want.get_weights()[0])
    assert main(["transplant-detector", "--detector", str(tmp_path / "none.keras"),
                 "--branches", SINGLE, "--output", out]) == 2
    assert "none.keras: no such .keras model" in capsys.readouterr().err
    assert main(["transplant-detector", "--detector", MULTI, "--branches", SINGLE,
                 "--output", str(tmp_path / "o.h5")]) == 2
    assert "o.h5: the new model must be a .keras file" in capsys.readouterr().err
