"""Pseudo-labels: the flip check, the selection rules, and a real labelled video that the
training data loader reads back."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import DATA, ROOT, need

from ssd_isb.utils.errors import UsageError
from ssd_isb.data.pseudo_labels import (
    LabelCounts,
    PseudoLabeller,
    PseudoLabelSettings,
    flip_agreement,
    select,
    unflip,
    video_frames,
)
from ssd_isb.runtime.result import Segmentation

VIDEO = os.path.join(DATA, "videos", "pedestrians_480x360.avi")
SCRIPT = os.path.join(ROOT, "experiments", "pseudo_label.py")


def _result(boxes, scores, masks, size=(40, 60)):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    return Segmentation(boxes, np.asarray(scores, np.float32), np.ones(len(boxes), np.int32),
                        np.asarray(masks, bool).reshape(-1, *size), np.ones(len(boxes), bool),
                        size)


def _box_mask(box, size=(40, 60)):
    m = np.zeros(size, bool)
    x0, y0, x1, y1 = box
    m[y0:y1, x0:x1] = True
    return m


def test_unflip_maps_boxes_and_masks_back():
    box = (5, 2, 20, 30)
    flipped_box = (60 - 20, 2, 60 - 5, 30)
    flipped = _result([flipped_box], [0.9], [_box_mask(flipped_box)])
    boxes, masks = unflip(flipped)
    assert boxes[0].tolist() == list(box)
    assert np.array_equal(masks[0], _box_mask(box))


def test_flip_agreement_is_mask_iou_with_the_mirrored_partner():
    a, b = (5, 2, 20, 30), (30, 5, 50, 38)
    result = _result([a, b], [0.9, 0.8], [_box_mask(a), _box_mask(b)])
    # The flipped image finds a exactly and b's box, but with b's mask half empty.
    fa = (60 - 20, 2, 60 - 5, 30)
    fb = (60 - 50, 5, 60 - 30, 38)
    half = _box_mask(fb)
    half[:, 60 - 40:] = False
    agreement = flip_agreement(result, _result([fb, fa], [0.8, 0.9], [half, _box_mask(fa)]))
    assert agreement[0] == pytest.approx(1.0)
    assert agreement[1] == pytest.approx(0.5)
    assert flip_agreement(result, _result([], [], np.zeros((0, 40, 60)))).tolist() == [0, 0]


def test_selection_rules_and_counts():
    settings = PseudoLabelSettings(min_score=0.7, min_flip_iou=0.8, min_height=10, ignore_score=0.3)
    boxes = [(0, 0, 10, 20), (0, 0, 10, 20), (0, 0, 10, 5), (0, 0, 10, 20), (0, 0, 10, 20)]
    result = _result(boxes, [0.9, 0.9, 0.9, 0.5, 0.1], np.zeros((5, 40, 60)))
    counts = LabelCounts()
    kept, ignored = select(result, np.array([0.9, 0.5, 0.9, 0.9, 0.9]), settings, counts)
    assert kept == [0] and ignored == [1, 2, 3]
    assert (counts.detections, counts.kept, counts.ignored) == (4, 1, 3)
    assert (counts.rejected_flip, counts.rejected_small) == (1, 1)


def test_settings_are_checked():
    with pytest.raises(UsageError, match="--min-score 1.5"):
        PseudoLabelSettings(min_score=1.5)
    with pytest.raises(UsageError, match="--ignore-score 0.8 is above --min-score 0.7"):
        PseudoLabelSettings(ignore_score=0.8)


def test_real_video_labels_load_as_training_data(tmp_path):
    from ssd_isb.data.coco import load_coco
    from ssd_isb.runtime import Segmenter
    from ssd_isb.zoo import default_model_path

    need(VIDEO)
    teacher = Segmenter(default_model_path(), threads=1, score_threshold=0.3)
    settings = PseudoLabelSettings(min_score=0.6, min_flip_iou=0.6)
    images = tmp_path / "images"
    images.mkdir()
    labeller = PseudoLabeller(teacher, settings, str(images))
    frames = list(video_frames(VIDEO, every=100))
    assert [n for n, _ in frames][:2] == ["pedestrians_480x360_00000.jpg",
                                          "pedestrians_480x360_00100.jpg"]
    for name, frame in frames:
        labeller.add(name, frame)
    c = labeller.counts
    assert c.images == len(frames) == 8
    assert c.kept >= 3, "a street of walking people should give a few sure labels"
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(labeller.dataset()))
    records, report = load_coco(str(path), str(images), "pseudo")
    assert report.images == c.images_kept and report.persons == c.kept
    assert report.crowd <= c.ignored  # ignore regions are written for kept images only
    for rec in records:
        assert os.path.exists(rec.path)
        for inst in rec.instances:
            mask = rec.instance_mask(inst)
            assert mask.shape == (360, 480) and mask.sum() > 0


def test_teacher_threshold_must_admit_ignore_regions():
    from ssd_isb.runtime import Segmenter
    from ssd_isb.zoo import default_model_path

    teacher = Segmenter(default_model_path(), threads=1, score_threshold=0.5)
    with pytest.raises(UsageError, match="above --ignore-score 0.3"):
        PseudoLabeller(teacher, PseudoLabelSettings())


def test_script_errors_are_one_line(tmp_path):
    def run(*args):
        p = subprocess.run([sys.executable, SCRIPT, "--output", str(tmp_path / "o"), *args],
                           capture_output=True, text=True, cwd=ROOT)
        return p.returncode, p.stderr.strip().splitlines()

    code, err = run()
    assert code == 2 and err == ["error: give at least one --video or --images"]
    code, err = run("--video", str(tmp_path / "none.avi"))
    assert code == 2 and err == [f"error: {tmp_path / 'none.avi'}: no such video file"]
    code, err = run("--images", str(tmp_path), "--every", "0")
    assert code == 2 and err == ["error: --every 0: must be >= 1"]
