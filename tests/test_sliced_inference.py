"""Sliced inference with the shipped model: the frame and its tiles, merged (issue 34)."""

import json
import os

import numpy as np
from conftest import DATA, need
from ssd_isb.runtime import Segmenter
from ssd_isb.core.boxes import iou_matrix
from ssd_isb.runtime.regions import full_region

PHOTOS = os.path.join(DATA, "coco_person_val2017")


class Counting:
    """The real backend, with its calls counted (instrumentation, not a stand-in)."""

    def __init__(self, backend):
        self.backend, self.calls = backend, []

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def detect(self, x):
        self.calls.append(("detect", x.shape))
        return self.backend.detect(x)

    def features(self, x):
        self.calls.append(("features", x.shape))
        return self.backend.features(x)

    def run_branch(self, name, crops):
        self.calls.append((name, crops[0].shape))
        return self.backend.run_branch(name, crops)


def _ground_truth(file_name):
    with open(os.path.join(PHOTOS, "annotations.json")) as fh:
        data = json.load(fh)
    image = next(im for im in data["images"] if im["file_name"] == file_name)
    return np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                      a["bbox"][1] + a["bbox"][3]] for a in data["annotations"]
                     if a["image_id"] == image["id"] and not a.get("iscrowd")], np.float32)


def test_tiles_find_a_small_person_the_single_pass_misses():
    path = need(os.path.join(PHOTOS, "images", "000000013546.jpg"))
    gt = _ground_truth("000000013546.jpg")
    small = gt[np.argmin((gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1]))]  # 19 x 57 px
    one = Segmenter(tiles="off", zoom="off", threads=2)(path)
    tiled = Segmenter(tiles="auto", zoom="off", threads=2)(path)
    assert not len(one) or iou_matrix(small[None], one.boxes).max() < 0.3
    best = int(np.argmax(iou_matrix(small[None], tiled.boxes)[0]))
    assert iou_matrix(small[None], tiled.boxes)[0, best] >= 0.6
    assert tiled.scores[best] >= 0.5 and tiled.has_mask[best] and tiled.masks[best].any()
    # Its mask lies on them, pasted from the tile into the frame.
    x0, y0, x1, y1 = (int(v) for v in small)
    inside = tiled.masks[best][y0:y1, x0:x1].sum()
    assert inside >= 0.8 * tiled.masks[best].sum()


def test_off_is_the_single_pass(person_images):
    seg = Segmenter(tiles="off", zoom="off", threads=2)
    frame_only = Segmenter(tiles="off", zoom="off", threads=2)
    frame_only.backend = Counting(frame_only.backend)
    for path in person_images[:3]:
        a, b = seg(path), frame_only(path)
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.masks, b.masks)
    assert [c for c in frame_only.backend.calls if c[0] == "detect"] == [
        ("detect", (1, 320, 320, 3))] * 3


def test_each_branch_runs_once_a_frame_on_the_people_of_every_tile(person_images):
    seg = Segmenter(tiles="auto", zoom="off", threads=2)
    seg.backend = Counting(seg.backend)
    path = need(os.path.join(PHOTOS, "images", "000000001000.jpg"))  # 640 x 480, a crowd
    result = seg(path)
    detects = [c for c in seg.backend.calls if c[0] == "detect"]
    branches = [c[0] for c in seg.backend.calls if c[0].startswith("ISB_")]
    assert len(detects) == len(seg.last_plan) == 5  # the frame and 2 x 2 tiles
    assert len(branches) == len(set(branches))  # each branch once, whatever the tiles
    assert sum(seg.mask_stage.calls.values()) == len(result) and len(result) >= 10
    assert result.has_mask.all()
    # No two people of the result are one person seen twice.
    iou = iou_matrix(result.boxes, result.boxes)
    np.fill_diagonal(iou, 0)
    assert iou.max() < 0.6


def test_a_frame_without_people_and_a_tiny_frame():
    seg = Segmenter(tiles="auto", zoom="auto", threads=2)
    empty = seg(np.full((720, 1280, 3), 127, np.uint8))
    assert len(empty) == 0 and empty.masks.shape == (0, 720, 1280)
    assert seg.plan((100, 80)) == [full_region((100, 80))]  # smaller than the input: one pass
