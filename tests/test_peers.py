"""Peers decoded as their authors specify: YOLOv8n-seg TFLite and the zoo detector (TF-free)."""

import json
import os

import numpy as np
import pytest

from conftest import DATA, SHARED, ZOO_TFLITE, need
from ssd_isb.peers import Yolo11Seg, YoloV8Seg, ZooBoxDetector
from ssd_isb.peers.yolo_seg import letterbox

PEER = os.path.join(SHARED, "peers", "yolov8n_seg", "yolov8n-seg_full_integer_quant.tflite")
PEER_FLOAT_IO = os.path.join(SHARED, "peers", "yolov8n_seg", "yolov8n-seg_integer_quant.tflite")
YOLO11 = os.path.join(SHARED, "peers", "yolo11n_seg", "yolo11n-seg_int8_nms.tflite")
CROWD = "000000001000.jpg"  # a dozen children on a tennis court


def _gt_masks(file_name):
    from pycocotools import mask as mask_utils

    ann_path = os.path.join(DATA, "coco_person_val2017", "annotations.json")
    with open(ann_path) as fh:
        data = json.load(fh)
    image = next(im for im in data["images"] if im["file_name"] == file_name)
    h, w = image["height"], image["width"]
    out = []
    for a in data["annotations"]:
        if a["image_id"] == image["id"] and not a.get("iscrowd"):
            rle = mask_utils.merge(mask_utils.frPyObjects(a["segmentation"], h, w))
            out.append(mask_utils.decode(rle).astype(bool))
    return out


def test_letterbox_geometry():
    image = np.full((480, 640, 3), 7, np.uint8)
    out, scale, (top, left) = letterbox(image, 640)
    assert out.shape == (640, 640, 3) and scale == 1.0 and (top, left) == (80, 0)
    assert (out[:80] == 114).all() and (out[560:] == 114).all() and (out[80:560] == 7).all()
    out, scale, (top, left) = letterbox(np.zeros((100, 50, 3), np.uint8), 640)
    assert scale == 6.4 and top == 0 and left == 160


def test_yolov8_seg_masks_follow_people():
    need(PEER)
    pytest.importorskip("pycocotools")
    image = need(os.path.join(DATA, "coco_person_val2017", "images", CROWD))
    peer = YoloV8Seg(PEER, threads=2)
    result = peer(image)
    assert 5 <= len(result) <= 30
    assert result.masks.shape[1:] == (480, 640)
    assert (np.diff(result.scores) <= 0).all()
    for box, mask in zip(result.boxes, result.masks):
        ys, xs = np.nonzero(mask)
        assert len(ys) > 0
        # Every mask pixel lies inside its (rounded-out) box: Ultralytics crops to the box.
        assert xs.min() >= np.floor(box[0]) and xs.max() < np.ceil(box[2])
        assert ys.min() >= np.floor(box[1]) and ys.max() < np.ceil(box[3])
    # The confident masks match real people: best IoU with a ground-truth mask.
    gts = _gt_masks(CROWD)
    ious = []
    for mask in result.masks[result.scores > 0.5]:
        ious.append(max((mask & g).sum() / (mask | g).sum() for g in gts))
    assert np.median(ious) > 0.6, ious
    assert 3.0e6 < peer.params < 3.8e6  # YOLOv8n-seg: 3.4 M parameters


def test_yolov8_seg_float_io_twin_agrees():
    need(PEER)
    need(PEER_FLOAT_IO)
    image = need(os.path.join(DATA, "coco_person_val2017", "images", CROWD))
    a = YoloV8Seg(PEER, threads=2)(image)
    b = YoloV8Seg(PEER_FLOAT_IO, threads=2)(image)
    assert len(a) == len(b)
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1.0)


def test_zoo_box_detector_matches_reference():
    need(ZOO_TFLITE)
    import cv2

    from ssd_isb.runtime import read_image
    from ssd_isb.runtime.tf_zoo_detector import TFZooDetector

    path = need(os.path.join(DATA, "coco_person_val2017", "images", CROWD))
    det = ZooBoxDetector(ZOO_TFLITE, threads=2, score_threshold=0.3)
    result = det(path)
    bgr = read_image(path)
    boxes, classes, scores = TFZooDetector(ZOO_TFLITE).detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    keep = (classes == 1) & (scores >= 0.3)
    assert len(result) == keep.sum() > 0
    np.testing.assert_allclose(result.boxes[:, 0], boxes[keep][:, 1] * 640, rtol=1e-5)
    assert not result.has_mask.any()
    assert set(det.last_timings) == {"preprocess", "inference", "postprocess", "total"}


def test_yolo11_seg_with_nms_in_the_graph_follows_people():
    """YOLO11n-seg exported with NMS inside: rows of normalized corners, score, class and
    coefficients; decoded like YOLOv8's masks (ORIGIN.md)."""
    need(YOLO11)
    pytest.importorskip("pycocotools")
    image = need(os.path.join(DATA, "coco_person_val2017", "images", CROWD))
    peer = Yolo11Seg(YOLO11, threads=2)
    result = peer(image)
    assert 5 <= len(result) <= 30 and (np.diff(result.scores) <= 0).all()
    assert peer.quantization == "int8" and 2.5e6 < peer.params < 3.3e6  # 2.9 M parameters
    gts = _gt_masks(CROWD)
    ious = [max((m & g).sum() / (m | g).sum() for g in gts)
            for m in result.masks[result.scores > 0.5]]
    assert len(ious) >= 5 and np.median(ious) > 0.6, ious
    with pytest.raises(Exception, match="not a YOLOv8-seg export"):
        YoloV8Seg(YOLO11)  # the heads are told apart, not misread
