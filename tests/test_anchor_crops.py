"""``isb.crop_source: anchors`` (thesis 3.1.4): training crops at the matched default anchor."""

import os

import numpy as np

from conftest import DATA, need
from ssd_isb.config import load_config
from ssd_isb.data import load_spec
from ssd_isb.data.examples import ExampleMaker, anchor_boxes
from ssd_isb.core.encompassing import encompassing_windows
from ssd_isb.core.boxes import iou_matrix


def test_crops_are_the_anchor_windows():
    need(os.path.join(DATA, "coco_person_val2017"))
    anchors_cfg = load_config(os.path.join(os.path.dirname(__file__), "..", "configs",
                                           "experiments", "anchor_crops.yaml"))
    boxes_cfg = load_config(os.path.join(os.path.dirname(__file__), "..", "configs",
                                         "experiments", "anchor_crops_control.yaml"))
    assert anchors_cfg.isb.crop_source == "anchors" and boxes_cfg.isb.crop_source == "boxes"
    records, _ = load_spec(anchors_cfg.data.train[0], 5, "train")
    by_anchor, by_box = ExampleMaker(anchors_cfg, False), ExampleMaker(boxes_cfg, False)
    grid = anchors_cfg.model.grid
    differs = 0
    for rec in [r for r in records if r.persons][:20]:
        a, b = by_anchor.make(rec), by_box.make(rec)
        n = int(a["gt_valid"].sum())
        gt = b["gt_boxes"][:n]
        best = iou_matrix(gt, by_anchor.anchor_corners).argmax(1)
        expected = np.clip(by_anchor.anchor_corners[best], 0, 1)
        np.testing.assert_allclose(a["gt_boxes"][:n], expected, atol=1e-6)
        win_a = encompassing_windows(a["gt_boxes"][:n], grid)
        np.testing.assert_array_equal(win_a, encompassing_windows(expected, grid))
        differs += int((win_a != encompassing_windows(gt, grid)).any(axis=1).sum())
        # Targets and masks are the same; only the windows move.
        np.testing.assert_array_equal(a["cls_targets"], b["cls_targets"])
        np.testing.assert_array_equal(a["gt_masks"], b["gt_masks"])
    assert differs > 0


def test_anchor_boxes_empty():
    assert anchor_boxes(np.zeros((0, 4), np.float32), np.ones((3, 4))).shape == (0, 4)
