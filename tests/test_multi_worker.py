"""Multi-worker training with real processes: two workers on 127.0.0.1 (CPU) train a small
config under MultiWorkerMirroredStrategy and end with the same weights; a killed worker ends
the run, and both restarted with --resume finish at the right step."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("tensorflow")

from conftest import ROOT  # noqa: E402
from test_training import _write_config, tiny_config, zoo_weights  # noqa: E402,F401


def _free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _workers(tmp_path, cfg, init, workdir, ports, extra=()):
    procs = []
    addresses = [f"127.0.0.1:{p}" for p in ports]
    for index in range(len(ports)):
        tf_config = {"cluster": {"worker": addresses}, "task": {"type": "worker",
                                                                "index": index}}
        log = open(tmp_path / f"worker{index}_{len(list(tmp_path.iterdir()))}.log", "w+")
        env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "CUDA_VISIBLE_DEVICES": "",
               "TF_CPP_MIN_LOG_LEVEL": "2"}
        procs.append((subprocess.Popen(
            [sys.executable, "-m", "ssd_isb", "train", "--config", cfg, "--init", init,
             "--workdir", str(workdir), "--quiet", "--strategy", "multi-worker", *extra],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True, env=env), log))
    return procs


def _finish(procs, timeout=900):
    outs = []
    for proc, log in procs:
        proc.wait(timeout=timeout)
        log.seek(0)
        outs.append((proc.returncode, log.read()))
        log.close()
    return outs


def _fingerprint(out):
    line = next(x for x in out.splitlines() if x.startswith("trained to step"))
    return line.rsplit("weights ", 1)[1].rstrip(")")


def _config(tmp_path, steps):
    # 1 update per checkpoint; a collective waits 30 s for a lost worker.
    return _write_config(tmp_path, tiny_config(steps=steps, checkpoint_every=1,
                                               validation_batches=1,
                                               worker_timeout_seconds=30))


@pytest.mark.slow
def test_two_workers_train_and_agree_on_the_weights(tmp_path, zoo_weights):  # noqa: F811
    workdir = tmp_path / "run"
    outs = _finish(_workers(tmp_path, _config(tmp_path, 2), zoo_weights, workdir,
                            _free_ports(2)))
    for code, out in outs:
        assert code == 0, out[-3000:]
    assert "trained to step 2" in outs[0][1] and "worker 1 of 2" in outs[1][1]
    assert "global batch 4" in outs[0][1]
    assert _fingerprint(outs[0][1]) == _fingerprint(outs[1][1])
    # Only the chief's files stay: checkpoints, the model, the summary; worker 1's went.
    assert (workdir / "model.keras").exists() and (workdir / "checkpoints" / "last.json").exists()
    assert not (workdir / ".worker_1").exists()
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["workers"] == 2 and summary["replicas"] == 2 and summary["steps"] == 2
    # Sharded: each worker read half of the training images.
    assert summary["train_images"] in (66, 67)  # of the 133 Penn-Fudan train images


@pytest.mark.slow
def test_a_killed_worker_resumes_with_the_other_from_the_last_checkpoint(
        tmp_path, zoo_weights):  # noqa: F811
    cfg, workdir = _config(tmp_path, 4), tmp_path / "run"
    state_file = workdir / "checkpoints" / "last.json"
    procs = _workers(tmp_path, cfg, zoo_weights, workdir, _free_ports(2))
    deadline = time.time() + 600
    while time.time() < deadline and procs[1][0].poll() is None:
        if state_file.exists() and json.loads(state_file.read_text())["epoch"] >= 1:
            procs[1][0].send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    # The chief notices the lost worker (its collective times out) and stops by itself.
    outs = _finish(procs, timeout=300)
    assert outs[1][0] == -signal.SIGKILL, outs[1][1][-2000:]
    assert outs[0][0] != 0, outs[0][1][-2000:]
    assert "a worker was lost; restart every worker with --resume" in outs[0][1]
    assert not (workdir / "model.keras").exists()
    state = json.loads(state_file.read_text())
    assert 1 <= state["epoch"] < 4 and state["step"] == state["epoch"]

    outs = _finish(_workers(tmp_path, cfg, zoo_weights, workdir, _free_ports(2),
                            extra=["--resume"]))
    for code, out in outs:
        assert code == 0, out[-3000:]
        assert "trained to step 4" in out
    assert _fingerprint(outs[0][1]) == _fingerprint(outs[1][1])
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["initial_epoch"] == state["epoch"] and summary["steps"] == 4
