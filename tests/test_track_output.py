"""Tracks on disk: one JSON line per person per frame with a COCO RLE pycocotools decodes,
and MOTChallenge rows (frames from 1) that match them."""

import json

import numpy as np
import pytest

from ssd_isb.utils.files import OutputError
from ssd_isb.runtime.result import Segmentation
from ssd_isb.tracking.output import TrackWriter, mot_path


def tracked(ids, size=(60, 80)):
    n = len(ids)
    masks = np.zeros((n,) + size, bool)
    boxes = []
    for i in range(n):
        masks[i, 10:40, 5 + 20 * i:15 + 20 * i] = True
        boxes.append([5 + 20 * i, 10, 15 + 20 * i, 40])
    return Segmentation(boxes=np.asarray(boxes, np.float32).reshape(-1, 4),
                        scores=np.linspace(0.9, 0.6, n).astype(np.float32),
                        class_ids=np.ones(n, np.int32), masks=masks, has_mask=np.ones(n, bool),
                        image_size=size, track_ids=np.asarray(ids, np.int64))


def test_json_lines_and_mot_rows(tmp_path):
    mask_utils = pytest.importorskip("pycocotools.mask")
    path = str(tmp_path / "tracks.jsonl")
    with TrackWriter(path) as w:
        w.write(0, tracked([1, 2]))
        w.write(1, tracked([]))
        w.write(2, tracked([2]))
    lines = [json.loads(line) for line in open(path)]
    assert [(e["frame"], e["track_id"]) for e in lines] == [(0, 1), (0, 2), (2, 2)]
    assert lines[0]["box"] == [5.0, 10.0, 10.0, 30.0]  # x, y, w, h
    rle = dict(lines[1]["segmentation"], counts=lines[1]["segmentation"]["counts"].encode())
    np.testing.assert_array_equal(mask_utils.decode(rle).astype(bool), tracked([1, 2]).masks[1])
    rows = [r.split(",") for r in open(mot_path(path)).read().split()]
    assert mot_path(path) == str(tmp_path / "tracks_mot.txt")
    assert [(int(r[0]), int(r[1])) for r in rows] == [(1, 1), (1, 2), (3, 2)]  # frames from 1
    assert [float(v) for v in rows[0][2:6]] == lines[0]["box"] and rows[0][7:] == ["-1"] * 3


def test_lines_are_on_disk_after_each_frame(tmp_path):
    """A run stopped mid-way (Ctrl-C, a lost stream) keeps the frames it finished."""
    path = str(tmp_path / "t.jsonl")
    w = TrackWriter(path, masks=False)
    w.write(0, tracked([1]))
    assert json.loads(open(path).readline()) == {"frame": 0, "track_id": 1,
                                                 "box": [5.0, 10.0, 10.0, 30.0], "score": 0.9}
    w.close()


def test_untracked_results_and_bad_paths_are_refused(tmp_path):
    w = TrackWriter(str(tmp_path / "t.jsonl"))
    r = tracked([1])
    r.track_ids = None
    with pytest.raises(ValueError, match="no track_ids"):
        w.write(0, r)
    w.close()
    with pytest.raises(OutputError, match="--tracks .*is a folder"):
        TrackWriter(str(tmp_path))
