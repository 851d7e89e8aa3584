"""The two-stage runtime on the shipped model: no cap on masks, empty and crowded frames, the
sidecar contract, TF-free (ssd_isb.runtime.mask_stage, the TFLite signatures)."""

import os

import cv2
import numpy as np
import pytest

from conftest import DATA, need
from ssd_isb.core.metadata import read_sidecar
from ssd_isb.runtime import Segmenter
from ssd_isb.runtime.mask_stage import MaskStage
from ssd_isb.core.stages import FEATURES
from ssd_isb.zoo import ZOO_DIR

INT8 = os.path.join(ZOO_DIR, "ssd_isb_multi_shape_int8.tflite")


@pytest.fixture(scope="module")
def seg():
    return Segmenter(INT8, threads=2)


def _persons(count, size=(192, 128)):
    """Real people: the largest annotated person of each of the first ``count`` images."""
    import json

    root = need(os.path.join(DATA, "coco_person_val2017"))
    with open(os.path.join(root, "annotations.json")) as fh:
        data = json.load(fh)
    best = {}
    for a in data["annotations"]:
        if not a.get("iscrowd") and a["area"] > best.get(a["image_id"], {"area": 4000})["area"]:
            best[a["image_id"]] = a
    files = {im["id"]: im["file_name"] for im in data["images"]}
    out = []
    for image_id, a in sorted(best.items())[:count]:
        x, y, w, h = (int(v) for v in a["bbox"])
        crop = cv2.imread(os.path.join(root, "images", files[image_id]))[y:y + h, x:x + w]
        out.append(cv2.resize(crop, (size[1], size[0])))
    return out


def test_sidecar_describes_the_two_stages():
    meta = read_sidecar(INT8)
    assert meta.graph == "two_stage" and meta.format_version == 2
    assert meta.skip_steps == 2 and meta.grid == [10, 10] and meta.max_detections == 100
    assert [b["name"] for b in meta.branches] == ["ISB_10x5", "ISB_10x4", "ISB_8x3", "ISB_5x3",
                                                  "ISB_4x2", "ISB_2x2", "ISB_2x1"]
    assert [s.mode for s in meta.branch_specs()] == ["threshold"] * 7


def test_a_frame_without_people(seg):
    result = seg(np.full((480, 640, 3), 127, np.uint8))
    assert len(result) == 0 and result.masks.shape == (0, 480, 640)
    assert seg.mask_stage.calls == {}  # no branch ran


def test_a_crowd_of_40_every_detection_gets_a_mask(seg):
    """40 real people tiled 8 x 5: far more than the single graph's 10 slots per branch."""
    tiles = _persons(40)
    rows = [np.concatenate(tiles[r * 8:(r + 1) * 8], axis=1) for r in range(5)]
    frame = np.concatenate(rows, axis=0)  # 960 x 1024
    seg.score_threshold = 0.3
    try:
        result = seg(frame)
    finally:
        seg.score_threshold = 0.5
    assert len(result) >= 25, len(result)
    assert result.has_mask.all()
    assert all(m.any() for m in result.masks)
    assert max(seg.mask_stage.calls.values()) > 10  # one branch call took them all
    assert sum(seg.mask_stage.calls.values()) == len(result)


def test_branch_batches_have_no_cap(seg, person_images):
    """A hundred detections in one branch: one call with all 100 crops, 100 masks."""
    x = cv2.resize(cv2.imread(person_images[0]), (320, 320))[None].astype(np.float32)
    detections = seg.backend.detect(x)
    boxes = np.tile(np.array([[0.1, 0.2, 0.35, 0.3]], np.float32), (100, 1))  # 3x1 -> ISB_4x2
    fake = {"boxes": boxes[None], "scores": np.full((1, 100), 0.9, np.float32),
            "classes": np.ones((1, 100), np.int32), "count": np.array([100], np.int32),
            **{k: detections[k] for k in FEATURES[:seg.meta.skip_steps + 1]}}
    stage = MaskStage(seg.meta.branch_specs(), seg.meta.grid, seg.meta.skip_steps)
    out = stage(fake, seg.backend.run_branch, 0.5)
    assert stage.calls == {"ISB_4x2": 100}
    f = 2 ** seg.meta.skip_steps  # branch output cells per stride-32 cell
    assert len(out.logits) == 100 and all(lg.shape == (4 * f, 2 * f) for lg in out.logits)
    # The same crop gives the same logits whatever the batch it runs in.
    np.testing.assert_allclose(out.logits[0], out.logits[99], atol=1e-5)
    alone = stage({**fake, "count": np.array([1], np.int32)}, seg.backend.run_branch, 0.5)
    np.testing.assert_allclose(alone.logits[0], out.logits[0], atol=0.05)
