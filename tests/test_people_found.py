"""People found at the application threshold (ssd_isb.measure.people_found and
benchmarks/people_found.py): counts with known answers, and the benchmark on real images."""

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import ROOT, SHARED

from ssd_isb.measure.people_found import Tally, count_people

GT = np.array([[0, 0, 10, 20], [50, 0, 60, 20], [100, 0, 110, 20]], np.float32)


def _model(boxes, scores):
    """A fixed answer in a Segmentation's shape: the counting is under test here."""
    return lambda frame: SimpleNamespace(boxes=np.asarray(boxes, np.float32),
                                         scores=np.asarray(scores, np.float32))


def test_recall_precision_and_the_share_of_the_peers_people():
    ours = _model([[0, 0, 10, 20], [50, 1, 60, 21], [200, 0, 210, 20], [100, 0, 110, 20]],
                  [0.9, 0.8, 0.7, 0.3])  # the last is under the threshold
    peer = _model([[0, 0, 10, 20], [100, 0, 110, 20]], [0.9, 0.6])
    rows = count_people({"ours": ours, "peer": peer}, [(None, GT)], 0.5, reference="peer")
    assert rows["ours"]["found"] == 2 and rows["ours"]["detections"] == 3
    assert rows["ours"]["recall"] == round(2 / 3, 4) and rows["ours"]["precision"] == round(2 / 3, 4)
    # The peer keeps 2 people; ours finds the first only (its box on the third scored 0.3).
    assert rows["ours"]["peer_people"] == 2 and rows["ours"]["share_of_peer_found"] == 0.5
    assert rows["peer"]["recall"] == round(2 / 3, 4) and "share_of_peer_found" not in rows["peer"]


def test_one_detection_finds_one_person():
    t = Tally()
    t.add(np.array([[0, 0, 10, 20]] * 2, np.float32), np.array([0.9, 0.8], np.float32), GT[:1])
    assert t.summary()["found"] == 1 and t.summary()["precision"] == 0.5


def test_an_unknown_reference_is_refused():
    with pytest.raises(ValueError, match="reference"):
        count_people({"ours": _model([], [])}, [], reference="peer")


def test_benchmark_on_real_images_skips_and_counts_the_bad_ones(mini_coco, tmp_path):
    out = tmp_path / "found.json"
    cmd = [sys.executable, os.path.join(ROOT, "benchmarks", "people_found.py"),
           "--annotations", mini_coco["annotations"], "--images", mini_coco["images"],
           "--tiles", "auto", "off", "--output", str(out)]
    peers = os.path.join(SHARED, "peers")
    if os.path.isdir(peers):
        cmd += ["--peer", peers]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["skipped_images"] == 2  # the corrupt JPEG and the missing file
    assert "corrupt.jpg" in run.stdout and "missing.jpg" in run.stdout
    auto, off = report["rows"]["tiles auto, zoom off"], report["rows"]["tiles off, zoom off"]
    assert auto["frames"] == off["frames"] == auto["frames"] > 10
    assert auto["people"] == off["people"] > 20
    for row in (auto, off):
        assert 0 < row["recall"] <= 1 and 0 < row["precision"] <= 1
    if os.path.isdir(peers):
        assert 0 < auto["share_of_peer_found"] <= 1


def _script(mini_coco, out, *extra):
    return [sys.executable, os.path.join(ROOT, "benchmarks", "people_found.py"),
            "--annotations", mini_coco["annotations"], "--images", mini_coco["images"],
            "--output", str(out), *extra]


def test_sigterm_keeps_the_frames_counted(mini_coco, tmp_path):
    import signal

    out = tmp_path / "found.json"
    # Slow enough to be stopped midway: every frame in three tile settings, one thread.
    proc = subprocess.Popen(_script(mini_coco, out, "--tiles", "auto", "2x3", "3x4",
                                    "--threads", "1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # frames are announced as they start
        if line.startswith("frame 3"):
            proc.send_signal(signal.SIGTERM)
            break
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 143, stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["stopped"] == "terminated"
    frames = {row["frames"] for row in report["rows"].values()}
    assert len(frames) == 1 and 2 <= frames.pop() < 20  # whole frames, for every setting alike


def test_an_unwritable_output_is_one_line_before_any_work(mini_coco, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    run = subprocess.run(_script(mini_coco, blocker / "found.json"), capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert str(blocker) in run.stderr and "frame 1" not in run.stderr
