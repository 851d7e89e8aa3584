"""Several sources in one process: each stream gets its frames, its files and its FPS line;
a live stream that dies ends alone while a file goes on; a source that cannot be opened is
one line before any work."""

import json
import os
import socketserver
import subprocess
import sys
import threading

import cv2
import pytest

from conftest import ROOT, need, street_video
from ssd_isb.apps.streams import run_streams
from ssd_isb.runtime.video import SourceError
from test_demo import _MJPEG

VIDEO = street_video()  # ../shared's street video, or a clip of the shipped photos


def test_two_files_each_get_every_frame_and_their_own_files(tmp_path):
    out, tracks = str(tmp_path / "out.mp4"), str(tmp_path / "t.jsonl")
    s = run_streams(None, [need(VIDEO), VIDEO], output=out, display=False, max_frames=30,
                    track=True, tracks=tracks, summary_path=str(tmp_path / "s.json"))
    assert [st["frames"] for st in s["streams"]] == [30, 30]
    assert all(st["dropped"] == 0 and st["ended_by"] == "max frames" for st in s["streams"])
    assert s["frames"] == 60 and s["fps_total"] > 0
    for k in (0, 1):
        cap = cv2.VideoCapture(str(tmp_path / f"out_{k}.mp4"))
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 30
        lines = [json.loads(x) for x in open(tmp_path / f"t_{k}.jsonl")]
        assert lines and max(e["frame"] for e in lines) == 29
        assert os.path.exists(tmp_path / f"t_{k}_mot.txt")
    # the same video twice, each with its own tracker: the same IDs on the same frames
    a, b = ([(e["frame"], e["track_id"]) for e in map(json.loads, open(tmp_path / f"t_{k}.jsonl"))]
            for k in (0, 1))
    assert a == b
    assert json.load(open(tmp_path / "s.json"))["frames"] == 60


def test_a_dead_stream_ends_alone(tmp_path):
    cap = cv2.VideoCapture(need(VIDEO))
    _MJPEG.frames = [cap.read()[1] for _ in range(30)]
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _MJPEG)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/stream.mjpg"
    try:
        s = run_streams(None, [url, VIDEO], display=False, max_frames=120,
                        reconnect_seconds=1.0)
    finally:
        server.server_close()
    live, video = s["streams"]
    assert live["ended_by"] == "stream lost" and 1 <= live["frames"] <= 30
    assert video["frames"] == 120 and video["ended_by"] == "max frames"


def test_a_source_that_cannot_be_opened_is_named_and_the_others_run(caplog):
    """Issue 37: one unopenable --source no longer aborts the others before they start."""
    s = run_streams(None, [need(VIDEO), "nowhere.mp4"], display=False, max_frames=5,
                    tiles="off", zoom="off")
    good, bad = s["streams"]
    assert good["frames"] == 5 and bad["frames"] == 0 and bad["ended_by"] == "error"
    assert any("nowhere.mp4: no such video file" in r.getMessage() for r in caplog.records)
    with pytest.raises(SourceError, match="nowhere.mp4: no such video file"):
        run_streams(None, ["nowhere.mp4"], display=False)


def test_demo_prints_a_line_per_stream():
    r = subprocess.run([sys.executable, "-m", "ssd_isb", "demo", "--source", need(VIDEO),
                        "--source", VIDEO, "--no-display", "--max-frames", "5", "--track"],
                       cwd=ROOT, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("[0] ") and lines[1].startswith("[1] ")
    assert "5 frames" in lines[0] and "track IDs" in lines[0]
    assert lines[2].startswith("all 2 streams: 10 frames")
