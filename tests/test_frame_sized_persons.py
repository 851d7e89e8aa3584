"""Issue 26's regression: the shipped models report no frame-sized false person.

Release 8 put a "person" box over more than half of many frames (the sea, a table, a suitcase
lid) at scores 0.50-0.64: the coarsest anchor layers' background response, lifted over 0.5 by a
score calibration sized for the finest layers (``experiments/score_by_layer.py``). Release 9
lowers those layers' logits and suppresses at NMS IoU 0.5 (docs/experiments.md, "Release 9"). On real frames,
at the default threshold, a detection covering more than half its frame must be a person:
matched at box IoU >= 0.5 to a ground-truth person of that image. The shared street video has
no annotations, and none of its people covers half a frame.
"""

import json
import os

import cv2
import numpy as np
import pytest

from conftest import DATA, ROOT, need
from ssd_isb.core.boxes import iou_matrix

ZOO = os.path.join(ROOT, "ssd_isb", "zoo")
MODELS = ("ssd_isb_multi_shape_int8.tflite", "ssd_isb_multi_shape_fp32.tflite",
          "ssd_isb_single_branch_int8.tflite")
VIDEO = os.path.join(DATA, "videos", "pedestrians_480x360.avi")
pytestmark = pytest.mark.slow  # ~1 minute: 311 photos through three models, 100 video frames


def _frame_sized(result, min_fraction: float = 0.5):
    h, w = result.image_size
    area = (result.boxes[:, 2] - result.boxes[:, 0]) * (result.boxes[:, 3] - result.boxes[:, 1])
    return np.nonzero(area > min_fraction * h * w)[0]


@pytest.fixture(scope="module")
def coco_images():
    """Every third image of coco_person_val2017 (both sides of the split: this checks the
    shipped files, it chooses nothing), with their person boxes."""
    root = need(os.path.join(DATA, "coco_person_val2017"))
    with open(os.path.join(root, "annotations.json")) as fh:
        data = json.load(fh)
    boxes = {}
    for a in data["annotations"]:
        x, y, w, h = a["bbox"]
        boxes.setdefault(a["image_id"], []).append([x, y, x + w, y + h])
    images = sorted(data["images"], key=lambda i: i["id"])[::3]
    return [(os.path.join(root, "images", im["file_name"]),
             np.array(boxes.get(im["id"], []), np.float32).reshape(-1, 4)) for im in images]


@pytest.mark.parametrize("name", MODELS)
def test_no_frame_sized_false_person_on_coco_images(name, coco_images):
    from ssd_isb.runtime import Segmenter

    seg = Segmenter(os.path.join(ZOO, name), threads=2)
    false = []
    for path, gt in coco_images:
        result = seg(path)
        for k in _frame_sized(result):
            if not len(gt) or iou_matrix(result.boxes[k:k + 1], gt).max() < 0.5:
                false.append((os.path.basename(path), round(float(result.scores[k]), 3)))
    assert len(coco_images) > 300
    assert not false, f"{len(false)} frame-sized false persons: {false[:10]}"


@pytest.mark.parametrize("name", MODELS[:1])
def test_no_frame_sized_person_on_the_street_video(name):
    from ssd_isb.runtime import Segmenter

    cap = cv2.VideoCapture(need(VIDEO))
    seg = Segmenter(os.path.join(ZOO, name), threads=2)
    frames, found, big = 0, 0, []
    index = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if index % 5 == 0:
            result = seg(frame)
            frames += 1
            found += len(result)
            big += [(index, round(float(result.scores[k]), 3)) for k in _frame_sized(result)]
        index += 1
    assert frames > 100 and found > frames  # people are found: the check is not vacuous
    assert not big, f"frame-sized persons at (frame, score): {big[:10]}"
