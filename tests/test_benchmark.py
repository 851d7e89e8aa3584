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


def test_passes_report_has_every_setting_and_the_floor(tmp_path):
    """benchmarks/passes.py on real 720p frames: each setting's row, and the floor row counts
    the tile plan's passes (9 on a 1280x720 frame: the frame, its halves, a 2x3 grid)."""
    import subprocess
    import sys

    import cv2

    from conftest import ROOT

    photos = need(os.path.join(DATA, "coco_person_val2017", "images"))
    frames = tmp_path / "frames"
    frames.mkdir()
    for name in sorted(os.listdir(photos))[:2]:
        cv2.imwrite(str(frames / name), cv2.resize(cv2.imread(os.path.join(photos, name)),
                                                   (1280, 720)))
    out = tmp_path / "passes.json"
    run = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "passes.py"),
                          "--images", str(frames), "--count", "2", "--rounds", "1",
                          "--output", str(out)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(out.read_text())
    rows = report["settings"]
    assert set(rows) == {"tiles off, zoom off", "tiles auto, zoom off", "tiles off, zoom auto",
                         "tiles auto, zoom auto", "tiles auto: detect invokes only"}
    assert rows["tiles auto: detect invokes only"]["passes_per_frame"] == 9
    assert all("people_per_frame" in v for k, v in rows.items() if "invokes" not in k)
    assert all(v["frame_median_ms"] > 0 for v in rows.values())


def test_passes_refuses_an_unwritable_output_before_any_work(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    blocker = tmp_path / "file"
    blocker.write_text("")
    run = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "passes.py"),
                          "--count", "1", "--rounds", "1", "--output",
                          str(blocker / "passes.json")], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert str(blocker) in run.stderr and len(run.stderr.strip().splitlines()) == 1
