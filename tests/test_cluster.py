"""TF_CONFIG is checked before TensorFlow starts: each fault is one line, the good cluster
parses, --strategy auto follows TF_CONFIG, and ``ssd-isb train`` refuses a bad one at once."""

import json
import os
import socket
import subprocess
import sys

import pytest

from conftest import ROOT
from ssd_isb.training.cluster import ClusterError, parse_tf_config, resolve_strategy


def _config(workers, index=0, kind="worker", chief=None):
    cluster = {"worker": workers}
    if chief:
        cluster["chief"] = chief
    return json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}})


def test_a_good_cluster_ranks_the_chief_first():
    c = parse_tf_config(_config(["h2:2222", "h3:2222"], index=1, chief=["h1:2222"]),
                        check_port=False)
    assert c.workers == ["h1:2222", "h2:2222", "h3:2222"]
    assert (c.index, c.size, c.is_chief, c.address) == (2, 3, False, "h3:2222")
    c = parse_tf_config(_config(["a:1", "b:2"]), check_port=False)
    assert c.is_chief and c.address == "a:1"


@pytest.mark.parametrize("text, words", [
    ("", "not set"),
    ("{cluster: 1", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    (json.dumps({"task": {"type": "worker", "index": 0}}), "no 'cluster'"),
    (json.dumps({"cluster": {"worker": ["a:1"]}}), "no 'task'"),
    (_config(["a:1"], index=3), "task index 3 is not in cluster.worker"),
    (_config(["a:1"], kind="ps"), "task type 'ps'"),
    (_config(["a"]), "'a' is not host:port"),
    (_config(["a:1", "a:1"]), "appears twice"),
    (json.dumps({"cluster": {"ps": ["a:1"], "worker": ["b:1"]},
                 "task": {"type": "worker", "index": 0}}), "job 'ps'"),
])
def test_each_fault_is_one_line(text, words):
    with pytest.raises(ClusterError) as err:
        parse_tf_config(text, check_port=False)
    message = str(err.value)
    assert words in message and "\n" not in message


def test_a_port_in_use_or_a_foreign_address():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ClusterError, match="in use by another process"):
            parse_tf_config(_config([f"127.0.0.1:{port}", "127.0.0.1:1"]))
    with pytest.raises(ClusterError, match="not an address of this machine"):
        parse_tf_config(_config(["192.0.2.1:2222"]))  # TEST-NET-1: never this machine's


def test_strategy_choice(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert resolve_strategy(None) == "auto" and resolve_strategy("mirrored") == "mirrored"
    monkeypatch.setenv("TF_CONFIG", _config(["a:1"]))
    assert resolve_strategy("auto") == "multi-worker"
    assert resolve_strategy("default") == "default"
    with pytest.raises(ClusterError, match="--strategy ring"):
        resolve_strategy("ring")


def test_train_refuses_a_bad_tf_config_before_any_training(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        for tf_config, words in [("{oops", "not valid JSON"),
                                 (_config([f"127.0.0.1:{port}", "127.0.0.1:1"]), "in use"),
                                 (json.dumps({"cluster": {"worker": ["a:1"]}}), "no 'task'")]:
            res = subprocess.run(
                [sys.executable, "-m", "ssd_isb", "train", "--config",
                 "configs/embedded_multi_shape.yaml", "--workdir", str(tmp_path / "w"),
                 "--strategy", "multi-worker"], cwd=ROOT, capture_output=True, text=True,
                env={**os.environ, "TF_CONFIG": tf_config}, timeout=120)
            assert res.returncode == 2, res.stderr
            lines = res.stderr.strip().splitlines()
            assert len(lines) == 1 and words in lines[0], res.stderr
            assert "tensorflow" not in res.stderr.lower()
    assert not (tmp_path / "w").exists()  # nothing was written


def test_help_shows_strategy():
    res = subprocess.run([sys.executable, "-m", "ssd_isb", "train", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert "--strategy" in res.stdout and "multi-worker" in res.stdout


def test_the_coco_recipe_loads():
    from ssd_isb.config import load_config

    cfg = load_config(os.path.join(ROOT, "configs", "coco_person_multiworker.yaml"))
    assert cfg.train.mixed_precision and cfg.train.batch_size % 8 == 0
    assert cfg.data.train[0].annotations.endswith("instances_train2017.json")
