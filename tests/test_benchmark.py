"""``ssd-isb benchmark``: the report's structure and statistics on a real model and images."""

import json
import os

import numpy as np
import pytest

from conftest import DATA, need
from ssd_isb.measure.benchmark import STAGES
from ssd_isb.measure.host import stats


def test_stats_known_values():
    s = stats([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s == {"median": 3.0, "p90": pytest.approx(61.6), "min": 1.0, "max": 100.0}


def test_benchmark_report(tmp_path, capsys):
    pytest.importorskip("tensorflow")
    from ssd_isb.cli import main
    from ssd_isb.config import load_config
    from ssd_isb.model import build_model, save_model

    images = need(os.path.join(DATA, "pennfudan", "Images"))
    cfg = load_config("embedded_single_branch")
    path = save_model(build_model(cfg).inference_model, str(tmp_path / "esb.keras"), cfg,
                      params=3358647)
    out = tmp_path / "bench.json"
    assert main(["benchmark", "--model", path, "--runs", "4", "--warmup", "1", "--threads", "2",
                 "--images", images, "--output", str(out)]) == 0
    assert "FPS" in capsys.readouterr().out
    rep = json.loads(out.read_text())
    for key in ("backend", "threads", "runs", "input_size", "latency_ms", "fps_median",
                "peak_rss_mb", "model_bytes", "params", "versions", "cpu"):
        assert key in rep, key
    assert rep["backend"] == "keras" and rep["runs"] == 4 and rep["threads"] == 2
    assert rep["input_size"] == [320, 320] and rep["params"] == 3358647
    for stage in STAGES:
        s = rep["latency_ms"][stage]
        assert 0 <= s["min"] <= s["median"] <= s["p90"] <= s["max"]
    assert rep["latency_ms"]["total"]["median"] >= rep["latency_ms"]["inference"]["median"]
    assert np.isclose(rep["fps_median"], 1000 / rep["latency_ms"]["total"]["median"], rtol=0.01)
    assert rep["peak_rss_mb"] > 100 and rep["model_bytes"] > 1e6
    assert "numpy" in rep["versions"] and rep["cpu"]
    assert main(["benchmark", "--model", path, "--images", str(tmp_path / "none")]) == 2
