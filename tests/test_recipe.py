"""The shipped model's recipe (``train.phases``) runs every phase, each from the last one's
model, and resumes after a kill in the phase it was in. A short schedule: the real recipe
(configs/ssd_isb_multi_shape.yaml) on Penn-Fudan, one update per phase."""

import dataclasses
import json
import os

import pytest

from conftest import DATA, ZOO_TFLITE, need

pytest.importorskip("tensorflow")

from ssd_isb.cli import main  # noqa: E402
from ssd_isb.config import DatasetSpec, load_config  # noqa: E402
from ssd_isb.training.recipe import run_recipe  # noqa: E402

pytestmark = pytest.mark.slow  # ~5 minutes: eight phases, each a real (one-update) training


def _short(cfg):
    """The recipe on Penn-Fudan (train side; its val side one batch), 4 images scored."""
    fudan = os.path.join(need(os.path.join(DATA, "pennfudan")))
    spec = DatasetSpec(name="pennfudan", masks=os.path.join(fudan, "PedMasks"),
                       images=os.path.join(fudan, "Images"), split="train")
    phases = [dataclasses.replace(p, calibrate_scores_images=4) for p in cfg.train.phases]
    return dataclasses.replace(
        cfg, data=dataclasses.replace(cfg.data, train=[spec],
                                      val=[dataclasses.replace(spec, split="val")]),
        train=dataclasses.replace(cfg.train, phases=phases, validation_batches=1))


def test_recipe_runs_every_phase_and_resumes_after_a_kill(tmp_path, capsys):
    weights = str(tmp_path / "zoo_person.weights.h5")
    assert main(["import-weights", "--source", need(ZOO_TFLITE), "--config",
                 "configs/ssd_isb_multi_shape.yaml", "--output", weights]) == 0
    cfg = _short(load_config("ssd_isb_multi_shape"))
    work = str(tmp_path / "recipe")
    report = run_recipe(cfg, work, weights, verbose=0, steps=1)
    rows = report["phases"]
    assert [r["phase"] for r in rows] == [p.name for p in cfg.train.phases]
    assert not any(r["skipped"] for r in rows) and all(r["steps"] == 1 for r in rows)
    # each phase starts from the one before (the first from the imported zoo detector)
    assert rows[0]["init"] == weights
    assert all(rows[i]["init"] == rows[i - 1]["model"] for i in range(1, len(rows)))
    calibrated, last = rows[-2], rows[-1]
    assert calibrated["model"].endswith("model_scores.keras") and os.path.exists(calibrated["model"])
    assert 0 < calibrated["score_calibration"]["threshold"] < 1
    # release 9: the last phase trains on zoomed views, then lowers the coarse layers' logits
    assert last["model"].endswith("model_layers.keras") and os.path.exists(last["model"])
    assert last["layer_score_offsets"] == [0, 0, 0, -0.8, -0.8, -0.8]
    assert os.path.exists(report["model"]) and os.path.exists(report["model"] + ".json")

    # Killed in the last phase after its checkpoint: run again, the eight done phases are
    # skipped and the last resumes from its checkpoint (no update is trained twice).
    folder = last["folder"]
    for name in ("phase.json", "model.keras", "model_layers.keras"):
        os.remove(os.path.join(folder, name))
    again = run_recipe(cfg, work, weights, verbose=0, steps=1)["phases"]
    assert [r["skipped"] for r in again] == [True] * 8 + [False]
    assert again[-1]["steps"] == 1 and os.path.exists(again[-1]["model"])
    with open(os.path.join(work, "recipe.json")) as fh:
        assert json.load(fh)["model"] == report["model"]

    # The Single-Branch recipe's last phase takes that recipe's detector.
    sb = _short(load_config("ssd_isb_single_branch"))
    last_sb = dataclasses.replace(sb.train.phases[-1], detector_from=work)
    sb = dataclasses.replace(sb, train=dataclasses.replace(sb.train, phases=[last_sb]))
    row = run_recipe(sb, str(tmp_path / "sb"), weights, verbose=0, steps=1)["phases"][0]
    assert row["detector_from"] == report["model"] and row["model"].endswith(
        "model_detector.keras")
    from ssd_isb.model import load_model

    ms, joined = load_model(report["model"]), load_model(row["model"])
    for a, b in zip(ms.get_layer("detector").weights, joined.get_layer("detector").weights):
        assert a.shape == b.shape and (a.numpy() == b.numpy()).all()
