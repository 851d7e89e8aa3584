"""benchmarks/compare.py: every model timed in one alternating run, AP on the same images, peers
decoded beside ours, one markdown table; peak memory of a fresh runtime-only process."""

import json
import os
import subprocess
import sys

import pytest

from conftest import DATA, ROOT, SHARED, ZOO_TFLITE, need
from ssd_isb.measure.comparison import markdown_table, model_files, peer_entries

PEERS = os.path.join(SHARED, "peers")
PEER = os.path.join(PEERS, "yolov8n_seg", "yolov8n-seg_full_integer_quant.tflite")


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory):
    pytest.importorskip("tensorflow")
    from ssd_isb.config import load_config
    from ssd_isb.model import build_model, save_model

    cfg = load_config("embedded_single_branch")
    folder = tmp_path_factory.mktemp("cmp")
    return save_model(build_model(cfg).inference_model, str(folder / "esb.keras"), cfg,
                      params=3358647)


def test_peer_entries_pick_full_integer_and_zoo():
    need(PEER)
    need(ZOO_TFLITE)
    entries = peer_entries(PEERS, os.path.dirname(os.path.dirname(ZOO_TFLITE)))
    kinds = [e.kind for e in entries]
    assert kinds == ["yolov8-seg", "yolo11-seg", "zoo-detector"]
    assert "full_integer" in entries[0].path and entries[-1].input_size == "300x300"


def test_model_files_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model file"):
        model_files([str(tmp_path / "nope.tflite")])
    with pytest.raises(FileNotFoundError, match="no model file with a sidecar"):
        model_files([str(tmp_path)])


def test_compare_script_end_to_end(keras_model, tmp_path):
    need(PEER)
    need(ZOO_TFLITE)
    ann = need(os.path.join(DATA, "coco_person_val2017", "annotations.json"))
    images = os.path.join(DATA, "coco_person_val2017", "images")
    out, md = tmp_path / "cmp.json", tmp_path / "cmp.md"
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import compare

    assert compare.main(["--models", keras_model, "--runs", "4", "--warmup", "1",
                         "--peer", PEERS, "--pretrained", os.path.dirname(
                             os.path.dirname(ZOO_TFLITE)),
                         "--annotations", ann, "--images", images, "--split", "val",
                         "--max-images", "6", "--no-memory", "--output", str(out),
                         "--markdown", str(md)]) == 0
    report = json.loads(out.read_text())
    rows = {r["kind"]: r for r in report["rows"]}
    assert set(rows) == {"ssd-isb", "yolov8-seg", "yolo11-seg", "zoo-detector"}
    for r in report["rows"]:
        lat = r["latency_ms"]["total"]
        assert 0 < lat["min"] <= lat["median"] <= lat["p90"] <= lat["max"]
        assert r["segm"]["AP50"] >= 0 and r["eval_images"] == 6
    assert rows["yolo11-seg"]["latency_vs_peer"] == 1.0  # the peer to beat
    assert rows["ssd-isb"]["params"] == 3358647 and rows["ssd-isb"]["precision"] == "fp32 (Keras)"
    # The peer really segments people: its masks score well on the same images.
    assert rows["yolov8-seg"]["segm"]["AP50"] > 20
    table = md.read_text()
    lines = [l for l in table.splitlines() if l.startswith("|")]
    assert len(lines) == 2 + 4 and "Latency / peer" in lines[0] and "Mask AP50" in lines[0]
    assert all(l.count("|") == lines[0].count("|") for l in lines)
    assert table == markdown_table(report)


def test_peer_adds_to_the_shipped_models():
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import compare
    from ssd_isb.zoo import ZOO_DIR

    # --peer alone once dropped the shipped models its help calls the default.
    assert compare.our_models(None) == [ZOO_DIR]
    assert compare.our_models([]) == [] and compare.our_models(["a.tflite"]) == ["a.tflite"]
    with pytest.raises(SystemExit):
        compare.main(["--models"])


def test_readme_block_is_replaced(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import compare

    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- compare:start -->\nold\n<!-- compare:end -->\ntail\n")
    compare.update_readme(str(readme), "| a |\n", "python benchmarks/compare.py --runs 3")
    text = readme.read_text()
    assert "old" not in text and "| a |" in text and text.endswith("tail\n")
    assert "python benchmarks/compare.py --runs 3" in text
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="no '<!-- compare:start -->'"):
        compare.update_readme(str(readme), "| a |\n", "cmd")


def test_memory_of_a_fresh_runtime_process():
    need(PEER)
    from ssd_isb.measure.benchmark import default_images
    from ssd_isb.measure.memory import measure_memory

    images = default_images()[:2]
    if not images:
        pytest.skip("no images in ../shared/data")
    mem = measure_memory(PEER, images, runs=2, kind="yolov8-seg", threads=1)
    # A fresh process, whatever this one holds: baseline is Python + numpy + OpenCV + LiteRT.
    assert 20 < mem["baseline_rss_mb"] < 300
    assert mem["model_rss_mb"] > 3 and not mem["tensorflow_imported"]


def test_compare_without_models_or_peers_fails_cleanly(tmp_path):
    script = os.path.join(ROOT, "benchmarks", "compare.py")
    res = subprocess.run([sys.executable, script, "--models", str(tmp_path / "x.tflite")],
                         capture_output=True, text=True)
    assert res.returncode == 1 and "no such model file" in res.stderr
