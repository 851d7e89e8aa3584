"""The evaluator against hand-built cases whose AP is known exactly."""

import math

import numpy as np
import pytest

pytest.importorskip("pycocotools")

from ssd_isb.evaluation.evaluate import load_ground_truth  # noqa: E402
from ssd_isb.evaluation.metrics import METRIC_KEYS, coco_metrics  # noqa: E402
from ssd_isb.runtime.rle import encode_mask  # noqa: E402

H, W = 200, 300


def _square(y, x, size=40):
    m = np.zeros((H, W), bool)
    m[y:y + size, x:x + size] = True
    return m


def _gt(tmp_path, squares_by_image):
    import json

    images, anns = [], []
    for image_id, squares in squares_by_image.items():
        images.append({"id": image_id, "file_name": f"{image_id}.jpg", "width": W, "height": H})
        for (y, x) in squares:
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": 1,
                         "iscrowd": 0, "area": 1600.0, "bbox": [x, y, 40, 40],
                         "segmentation": [[x, y, x + 40, y, x + 40, y + 40, x, y + 40]]})
    path = tmp_path / "gt.json"
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": 1, "name": "person"}]}))
    return load_ground_truth(str(path))


def _det(image_id, mask, score=0.9):
    ys, xs = np.nonzero(mask)
    return {"image_id": image_id, "category_id": 1, "score": score,
            "bbox": [float(xs.min()), float(ys.min()), float(np.ptp(xs) + 1),
                     float(np.ptp(ys) + 1)], "segmentation": encode_mask(mask)}


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
def test_perfect_prediction_scores_100(tmp_path, iou_type):
    gt = _gt(tmp_path, {1: [(50, 60)], 2: [(20, 200), (120, 30)]})
    dets = [_det(1, _square(50, 60)), _det(2, _square(20, 200)), _det(2, _square(120, 30))]
    m = coco_metrics(gt, dets, iou_type)
    assert set(m) == set(METRIC_KEYS)
    for key in ("AP", "AP50", "AP75", "AP50_medium", "AR10_50", "AR100_50", "AR50_medium"):
        assert m[key] == pytest.approx(100.0), key
    assert m["AR1_50"] == pytest.approx(100 * 2 / 3)  # one detection per image: 2 of 3 found
    assert math.isnan(m["AP50_small"]) and math.isnan(m["AP50_large"])  # no such objects


def test_shifted_mask_matches_only_low_thresholds(tmp_path):
    gt = _gt(tmp_path, {1: [(50, 60)]})
    # 8 px shift: overlap 32x40 -> IoU 1280 / 1920 = 0.667, a match for t = .50 .55 .60 .65.
    m = coco_metrics(gt, [_det(1, _square(50, 68))], "segm")
    assert m["AP50"] == pytest.approx(100.0)
    assert m["AP75"] == pytest.approx(0.0)
    assert m["AP"] == pytest.approx(40.0)


def test_half_recall_gives_51_of_101_points(tmp_path):
    gt = _gt(tmp_path, {1: [(50, 60), (100, 200)]})
    m = coco_metrics(gt, [_det(1, _square(50, 60))], "segm")
    assert m["AP50"] == pytest.approx(100 * 51 / 101)  # COCO's 101-point interpolation
    assert m["AR100_50"] == pytest.approx(50.0)


def test_empty_prediction_scores_zero(tmp_path):
    gt = _gt(tmp_path, {1: [(50, 60)]})
    assert all(v == 0.0 for v in coco_metrics(gt, [], "segm").values())


def test_only_evaluated_images_count(tmp_path):
    gt = _gt(tmp_path, {1: [(50, 60)], 2: [(20, 200)]})
    dets = [_det(1, _square(50, 60))]  # image 2 was not evaluated
    assert coco_metrics(gt, dets, "segm", image_ids=[1])["AP50"] == pytest.approx(100.0)
    assert coco_metrics(gt, dets, "segm")["AP50"] < 60  # scored against both, it would fail


def test_other_categories_are_ignored(tmp_path):
    gt = _gt(tmp_path, {1: [(50, 60)]})
    dets = [_det(1, _square(50, 60)), dict(_det(1, _square(120, 200), 0.99), category_id=3)]
    assert coco_metrics(gt, dets, "segm")["AP50"] == pytest.approx(100.0)
