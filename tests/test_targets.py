"""Anchor matching and target encoding."""

import numpy as np

from ssd_isb.core.anchors import center_to_corners, generate_anchors
from ssd_isb.core.box_coder import decode
from ssd_isb.config import AnchorConfig
from ssd_isb.data.targets import encode_targets, iou_matrix, match_anchors


def test_iou_matrix_hand_values():
    a = np.array([[0, 0, 2, 2]], np.float32)
    b = np.array([[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]], np.float32)
    np.testing.assert_allclose(iou_matrix(a, b), [[1 / 7, 1.0, 0.0]], atol=1e-6)


def test_matching_rules():
    anchors = np.array([[0.0, 0.0, 0.2, 0.2], [0.0, 0.0, 0.3, 0.3], [0.5, 0.5, 0.9, 0.9],
                        [0.52, 0.52, 0.9, 0.9], [0.0, 0.7, 0.1, 0.8]], np.float32)
    gt = np.array([[0.0, 0.0, 0.25, 0.25],  # IoU 0.64 with anchor 0, 0.69 with anchor 1
                   [0.8, 0.8, 0.95, 0.95]], np.float32)  # poor overlap: forced best anchor
    m = match_anchors(gt, anchors)
    assert m[0] == 0 and m[1] == 0  # both above 0.5
    assert m[3] == 1 or m[2] == 1  # the best anchor of the second box is forced
    assert m[4] == -1
    ignored = match_anchors(gt, anchors, ignore_boxes=np.array([[0.0, 0.65, 0.2, 0.9]]))
    assert ignored[4] == -2


def test_encoded_targets_decode_to_the_boxes():
    anchors = generate_anchors(AnchorConfig(), (320, 320))
    corners = center_to_corners(anchors)
    gt = np.array([[0.1, 0.2, 0.6, 0.4], [0.5, 0.55, 0.95, 0.9]], np.float32)
    cls, box = encode_targets(gt, np.array([1, 1]), anchors, corners)
    pos = cls > 0
    assert pos.sum() >= 2 and set(np.unique(cls)) <= {0, 1}
    decoded = decode(box[pos], anchors[pos])
    ious = iou_matrix(decoded, gt).max(1)
    assert (ious > 0.999).all()
    empty_cls, empty_box = encode_targets(np.zeros((0, 4), np.float32), np.zeros(0), anchors,
                                          corners)
    assert (empty_cls == 0).all() and (empty_box == 0).all()
