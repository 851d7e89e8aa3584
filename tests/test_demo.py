"""``ssd-isb demo`` headless on a real video, a truncated file, and a stream that stops."""

import http.server
import os
import socketserver
import threading

import cv2
import numpy as np
import pytest

from conftest import ZOO_TFLITE, need, street_video
from ssd_isb.apps.smoothing import MaskSmoother

VIDEO = street_video()  # ../shared's street video, or a clip of the shipped photos


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    pytest.importorskip("tensorflow")
    from ssd_isb.cli import main

    need(ZOO_TFLITE)
    path = str(tmp_path_factory.mktemp("demo") / "zoo_person.keras")
    assert main(["import-weights", "--source", ZOO_TFLITE, "--config",
                 "embedded_single_branch", "--output", path]) == 0
    return path


def test_headless_video_100_frames(model, tmp_path):
    from ssd_isb.apps.demo import run_demo
    from ssd_isb.runtime import Segmenter

    out = str(tmp_path / "out.mp4")
    summary = run_demo(model, need(VIDEO), output=out, display=False, max_frames=100,
                       score_threshold=0.3)
    assert summary["frames"] == 100 and summary["ended_by"] == "max frames"
    assert summary["dropped"] == 0 and summary["instances_per_frame"] > 0
    written = cv2.VideoCapture(out)
    assert int(written.get(cv2.CAP_PROP_FRAME_COUNT)) == 100
    assert (written.get(cv2.CAP_PROP_FRAME_WIDTH), written.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (
        480, 360)
    # Masks were drawn: on a frame with people, the recorded pixels under the model's masks
    # differ from the source frame by the blend of the instance colours.
    source = cv2.VideoCapture(VIDEO)
    seg = Segmenter(model, score_threshold=0.3)
    changed = []
    for _ in range(100):
        ok_a, a = source.read()
        ok_b, b = written.read()
        assert ok_a and ok_b
        result = seg(a)
        masks = [m for m in result.masks if m.sum() > 30]
        if masks:
            region = np.any(masks, axis=0)
            changed.append(np.abs(a[region].astype(int) - b[region].astype(int)).mean())
    assert changed and np.median(changed) > 20


def test_truncated_file_ends_cleanly(model, tmp_path, caplog):
    """A file cut short (its header still says 795 frames) ends where it ends, said once
    (it once printed 'unreadable frame N skipped' 25 times for the same N)."""
    import logging

    from ssd_isb.apps.demo import run_demo

    cut = tmp_path / "cut.avi"
    data = open(need(VIDEO), "rb").read()
    cut.write_bytes(data[:len(data) // 10])
    with caplog.at_level(logging.WARNING, logger="ssd_isb.runtime.video"):
        summary = run_demo(model, str(cut), display=False, score_threshold=0.3)
    assert 0 < summary["frames"] < 795
    assert summary["ended_by"] == "file ends early" and summary["unreadable"] == 0
    said = [r.getMessage() for r in caplog.records if r.name == "ssd_isb.runtime.video"]
    assert len(said) == 1 and "before the 795 frames its header gives" in said[0], said


class _MJPEG(http.server.BaseHTTPRequestHandler):
    frames = []

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace;boundary=frame")
        self.end_headers()
        try:
            for frame in self.frames:
                jpg = cv2.imencode(".jpg", frame)[1].tobytes()
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                 + str(len(jpg)).encode() + b"\r\n\r\n" + jpg + b"\r\n")
                self.wfile.flush()
                threading.Event().wait(0.04)
        except (BrokenPipeError, ConnectionResetError):
            pass
        # The stream stops for good: no new connection will be accepted.
        server = self.server
        threading.Thread(target=lambda: (server.shutdown(), server.server_close())).start()

    def log_message(self, *args):
        pass


def test_stream_that_stops_mid_stream(model):
    """A live MJPEG stream on loopback sends 40 frames, then the server goes away: the demo
    retries with backoff for its bounded time, then ends cleanly with a summary."""
    from ssd_isb.apps.demo import run_demo

    cap = cv2.VideoCapture(need(VIDEO))
    _MJPEG.frames = [cap.read()[1] for _ in range(40)]
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _MJPEG)
    server.daemon_threads = True
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        summary = run_demo(model, f"http://127.0.0.1:{port}/stream.mjpg", display=False,
                           score_threshold=0.3, reconnect_seconds=2.0)
    finally:
        server.server_close()
    assert summary["frames"] >= 1
    assert summary["ended_by"] == "stream lost"
    assert summary["frames"] + summary["dropped"] <= 40


def test_mask_smoothing_follows_instances():
    from ssd_isb.runtime.result import Segmentation

    def result(mask):
        return Segmentation(np.array([[10, 10, 40, 40]], np.float32), np.array([0.9], np.float32),
                            np.array([1], np.int32), mask[None], np.array([True]), (50, 50))

    a = np.zeros((50, 50), bool)
    a[10:40, 10:40] = True
    b = a.copy()
    b[10:40, 35:40] = False  # one frame of flicker at the edge
    smoother = MaskSmoother(alpha=0.4)
    smoother(result(a))
    smoothed = smoother(result(b))
    assert smoothed.masks[0][10:40, 35:40].all()  # the flicker is smoothed away
    assert (MaskSmoother(alpha=1.0)(result(b)).masks[0] == b).all()
    with pytest.raises(ValueError):
        MaskSmoother(alpha=0)


def test_headless_demo_tracks_and_writes_them(tmp_path):
    """demo --track on the street video (the shipped TFLite model, no TensorFlow needed):
    the summary counts the IDs and the tracker's time, the tracks file has every frame."""
    from ssd_isb.apps.demo import run_demo, summary_line

    tracks = str(tmp_path / "t.jsonl")
    s = run_demo(None, need(VIDEO), display=False, max_frames=40, track=True, tracks=tracks,
                 smooth=True)
    assert s["frames"] == 40 and s["track_ids"] >= 1 and s["track_ms_median"] >= 0
    assert "track IDs" in summary_line(s) and s["tracks"] == tracks
    import json

    lines = [json.loads(x) for x in open(tracks)]
    assert lines and {e["frame"] for e in lines} <= set(range(40))
    with pytest.raises(Exception, match="--tracks needs --track"):
        run_demo(None, VIDEO, display=False, tracks=tracks)
    with pytest.raises(Exception, match="give a .jsonl file"):
        run_demo(None, VIDEO, display=False, track=True, tracks=str(tmp_path / "t.txt"))


def test_smoothing_by_track_id_survives_a_reorder_and_a_gap():
    from ssd_isb.runtime.result import Segmentation

    def result(masks, ids):
        n = len(ids)
        return Segmentation(np.tile(np.array([[10, 10, 40, 40]], np.float32), (n, 1)),
                            np.full(n, 0.9, np.float32), np.ones(n, np.int32), np.stack(masks),
                            np.ones(n, bool), (50, 50), track_ids=np.array(ids))

    a = np.zeros((50, 50), bool)
    a[10:40, 10:40] = True
    other = np.zeros((50, 50), bool)
    other[0:5, 0:5] = True
    flicker = a.copy()
    flicker[10:40, 35:40] = False
    smoother = MaskSmoother(alpha=0.4)
    smoother(result([a, other], [3, 7]))
    smoother(result([other], [7]))                     # person 3 unseen for a frame
    out = smoother(result([other, flicker], [7, 3]))   # back, in another row
    assert out.masks[1][10:40, 35:40].all()            # smoothed with its own mask
    assert out.masks[0].sum() == other.sum()


def test_overlay_colour_follows_the_track_id():
    from ssd_isb.runtime.draw import draw_segmentation, instance_color
    from ssd_isb.runtime.result import Segmentation

    mask = np.zeros((1, 60, 60), bool)
    mask[0, 10:50, 10:50] = True
    image = np.zeros((60, 60, 3), np.uint8)
    r = Segmentation(np.array([[10, 10, 50, 50]], np.float32), np.array([0.9], np.float32),
                     np.ones(1, np.int32), mask, np.ones(1, bool), (60, 60),
                     track_ids=np.array([5]))
    out = draw_segmentation(image, r, boxes=False, scores=False)
    expected = (np.array(instance_color(5)) * 0.5).astype(np.uint8)
    np.testing.assert_array_equal(out[30, 30], expected)
    assert not np.array_equal(instance_color(5), instance_color(0))
