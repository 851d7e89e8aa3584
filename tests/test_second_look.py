"""The second look per person with the shipped model (issue 38): a zoomed view's masks."""

import json
import os

import numpy as np
import pytest

from conftest import DATA, need
from ssd_isb.runtime import Segmenter
from ssd_isb.runtime.zoom import ZoomSettings
from test_sliced_inference import Counting

PHOTOS = os.path.join(DATA, "coco_person_val2017")
ALWAYS = ZoomSettings(context=1.0, min_gain=0.0, min_score=0.0)  # a zoom of 1, for everyone


def _annotation(annotation_id):
    from pycocotools import mask as mask_utils

    with open(os.path.join(PHOTOS, "annotations.json")) as fh:
        data = json.load(fh)
    ann = next(a for a in data["annotations"] if a["id"] == annotation_id)
    image = next(im for im in data["images"] if im["id"] == ann["image_id"])
    h, w = image["height"], image["width"]
    mask = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(ann["segmentation"], h,
                                                                     w))).astype(bool)
    x, y, bw, bh = ann["bbox"]
    return os.path.join(PHOTOS, "images", image["file_name"]), [x, y, x + bw, y + bh], mask


def _iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def test_a_zoom_of_one_gives_the_plain_mask(person_images):
    plain = Segmenter(tiles="off", zoom="off", threads=2)
    zoomed = Segmenter(tiles="off", zoom=ALWAYS, threads=2)
    for path in person_images[:2]:
        h, w = plain.read(path)[0].shape[:2]
        whole = [[0, 0, w, h]]  # its square of context 1 is the frame itself
        a, b = plain.segment_boxes(path, whole), zoomed.segment_boxes(path, whole)
        assert zoomed.last_zoomed == 1 and plain.last_zoomed == 0
        assert a.masks[0].any()
        np.testing.assert_array_equal(a.masks, b.masks)


# People at the frame's left (443341, 206218, 1731888) and bottom (1257927) edges.
@pytest.mark.parametrize("annotation_id", [443341, 206218, 1731888, 1257927])
def test_a_view_cut_by_the_frame_edge_is_pasted_in_place(annotation_id):
    """The square around a person at the edge is moved inside the frame, so the person is off
    its centre: their mask must still land on them."""
    path, box, truth = _annotation(annotation_id)
    need(path)
    zoomed = Segmenter(tiles="off", zoom="auto", threads=2)
    result = zoomed.segment_boxes(path, [box])
    assert zoomed.last_zoomed == 1
    mask = result.masks[0]
    plain = Segmenter(tiles="off", zoom="off", threads=2).segment_boxes(path, [box]).masks[0]
    assert _iou(mask, truth) >= 0.65 and _iou(mask, truth) >= _iou(plain, truth) - 0.05
    ys, xs = np.nonzero(mask)
    ty, tx = np.nonzero(truth)
    assert abs(xs.mean() - tx.mean()) < 0.1 * (box[2] - box[0])
    assert abs(ys.mean() - ty.mean()) < 0.1 * (box[3] - box[1])


def test_cost_follows_people():
    """One features call a frame, as many views as people zoomed, none without people; each
    branch called once."""
    seg = Segmenter(tiles="off", zoom="auto", threads=2)
    assert seg.backend.has_features, "the shipped model has a features stage"
    seg.backend = Counting(seg.backend)
    path = need(os.path.join(PHOTOS, "images", "000000001000.jpg"))
    result = seg(path)
    features = [c for c in seg.backend.calls if c[0] == "features"]
    assert seg.last_zoomed >= 5 and len(features) == 1
    assert features[0][1] == (seg.last_zoomed, 320, 320, 3)
    branches = [c[0] for c in seg.backend.calls if c[0].startswith("ISB_")]
    assert len(branches) == len(set(branches)) and result.has_mask.all()
    seg.backend.calls.clear()
    seg(np.full((480, 640, 3), 127, np.uint8))
    assert [c[0] for c in seg.backend.calls] == ["detect"]
