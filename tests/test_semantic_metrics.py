"""Person IoU / mIoU, the evaluation loop on real images, and the MediaPipe selfie peer."""

import os

import numpy as np
import pytest

from conftest import DATA, need
from ssd_isb.evaluation.semantic import IoUAccumulator, evaluate_person_maps
from ssd_isb.runtime.person_map import PersonMap


def test_iou_by_hand():
    truth = np.zeros((4, 4), bool)
    truth[:2, :2] = True
    pred = np.zeros((4, 4), bool)
    pred[:2, :3] = True  # 4 hits, 2 false
    acc = IoUAccumulator()
    acc.add(pred, truth)
    r = acc.report()
    assert r["person_iou"] == pytest.approx(100 * 4 / 6, abs=0.01)
    assert r["background_iou"] == pytest.approx(100 * 10 / 12, abs=0.01)
    assert r["miou"] == pytest.approx((r["person_iou"] + r["background_iou"]) / 2, abs=0.01)
    known = np.ones((4, 4), bool)
    known[:, 2] = False  # the false pixels are ignored (a crowd)
    acc = IoUAccumulator()
    acc.add(pred, truth, known)
    assert acc.report()["person_iou"] == 100.0
    with pytest.raises(ValueError, match="differ"):
        acc.add(pred[:3], truth)


def test_person_map_from_masks():
    masks = np.zeros((2, 5, 5), bool)
    masks[0, 0, 0] = masks[1, 4, 4] = True
    pm = PersonMap.from_masks(masks, (5, 5))
    assert pm.mask.sum() == 2
    assert PersonMap.from_masks(masks[:0], (5, 5)).mask.sum() == 0


def coco():
    root = need(os.path.join(DATA, "coco_person_val2017"))
    return os.path.join(root, "annotations.json"), os.path.join(root, "images")


class Constant:
    """A 'model' that says every pixel is person: IoU = person share of the known pixels."""
    name, threshold = "constant", 0.5

    def __init__(self):
        self.last_timings = {"total": 0.0}

    def __call__(self, path):
        import cv2

        h, w = cv2.imread(path).shape[:2]
        return PersonMap(np.ones((h, w), np.float32))


def test_evaluation_loop_on_real_images(tmp_path):
    ann, images = coco()
    everything = evaluate_person_maps(Constant(), ann, images, "constant", max_images=5,
                                      split="train", output=str(tmp_path / "r.json"))
    s = everything["semantic"]
    assert everything["images"] == 5 and 0 < s["person_iou"] < 100 and s["background_iou"] == 0
    from ssd_isb.runtime.semantic import person_segmenter

    seg = person_segmenter(None, threads=2)  # the shipped instance model, masks merged
    union = evaluate_person_maps(seg, ann, images, "shipped", max_images=5, split="train")
    assert union["semantic"]["person_iou"] > s["person_iou"] + 20
    assert os.path.exists(tmp_path / "r.json")


def test_selfie_peer_runs_on_real_images():
    try:
        from ssd_isb.peers.selfie import SelfieSegmentation
        peer = SelfieSegmentation(threads=2)
    except Exception as err:  # the [teacher] extra is absent
        pytest.skip(f"MediaPipe selfie model not installed ({err})")
    ann, images = coco()
    r = evaluate_person_maps(peer, ann, images, "selfie", max_images=5, split="train")
    assert r["semantic"]["person_iou"] > 30 and peer.input_size == (256, 256)
