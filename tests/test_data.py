"""Datasets: COCO loading rules, instance-PNG conversion, hold-out split, examples, the stream."""

import json
import os

import numpy as np
import pytest

from conftest import DATA, need
from ssd_isb.config import from_dict
from ssd_isb.data import isb_shape_subset, load_coco, load_instance_masks
from ssd_isb.data.coco import DatasetError, decode_segmentation, is_holdout
from ssd_isb.data.convert import convert_instance_masks
from ssd_isb.data.examples import ExampleMaker
from ssd_isb.data.pipeline import ExampleStream


def _cfg(mini=None, **data):
    d = {"model": {"input_size": 320, "depth_multiplier": 0.75},
         "isb": {"variant": "multi_shape", "shapes": [[10, 5], [5, 3], [2, 1]]},
         "train": {"batch_size": 2}, "data": {"max_boxes": 12, **data}}
    return from_dict(d)


def test_load_coco_counts_every_case(mini_coco):
    records, rep = load_coco(mini_coco["annotations"], mini_coco["images"])
    assert rep.skipped_missing_images == 1
    assert rep.skipped_degenerate == 1
    assert rep.negatives == 1  # the synthetic negative is kept
    assert rep.crowd >= 1
    names = {r.file_name for r in records}
    assert {"gray.png", "alpha.png", "cmyk.jpg", "corrupt.jpg", "negative.jpg"} <= names
    crowd = next(r for r in records if r.file_name == mini_coco["crowd_image"])
    assert crowd.crowds and all(c.iscrowd for c in crowd.crowds)
    assert all(not p.iscrowd for p in crowd.persons)
    records, _ = load_coco(mini_coco["annotations"], mini_coco["images"], negatives=False)
    assert "negative.jpg" not in {r.file_name for r in records}


def test_not_coco_and_missing_files(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"hello": 1}))
    with pytest.raises(DatasetError, match=r"x\.json: not a COCO annotation file"):
        load_coco(str(bad), str(tmp_path))
    bad.write_text("{oops")
    with pytest.raises(DatasetError, match=r"x\.json: not JSON"):
        load_coco(str(bad), str(tmp_path))
    with pytest.raises(DatasetError, match="no such annotation file"):
        load_coco(str(tmp_path / "none.json"), str(tmp_path))


def test_polygon_and_rle_decode_agree():
    from pycocotools import mask as mask_utils

    poly = [[10, 10, 40, 10, 40, 30, 10, 30]]
    m = decode_segmentation(poly, 50, 60)
    assert m.shape == (50, 60) and 500 <= m.sum() <= 700
    rle = mask_utils.encode(np.asfortranarray(m))
    rle_str = {"size": rle["size"], "counts": rle["counts"].decode()}
    np.testing.assert_array_equal(decode_segmentation(rle_str, 50, 60), m)
    # Uncompressed RLE (as COCO stores some iscrowd regions).
    counts, prev, run = [], 0, 0
    for v in m.flatten(order="F"):
        if v == prev:
            run += 1
        else:
            counts.append(run)
            run, prev = 1, v
    counts.append(run)
    np.testing.assert_array_equal(decode_segmentation({"size": [50, 60], "counts": counts},
                                                      50, 60), m)


def test_holdout_split_is_deterministic_and_disjoint():
    ann = need(os.path.join(DATA, "coco_person_val2017", "annotations.json"))
    img = os.path.join(DATA, "coco_person_val2017", "images")
    train, _ = load_coco(ann, img, split="train")
    val, _ = load_coco(ann, img, split="val")
    allr, _ = load_coco(ann, img)
    assert len(train) + len(val) == len(allr)
    assert not {r.file_name for r in train} & {r.file_name for r in val}
    assert 0.12 < len(val) / len(allr) < 0.28  # about 1 in 5
    assert all(is_holdout(r.file_name, 5) for r in val)


def test_instance_masks_convert_to_coco(tmp_path):
    masks = need(os.path.join(DATA, "pennfudan", "PedMasks"))
    images = os.path.join(DATA, "pennfudan", "Images")
    records, rep = load_instance_masks(masks, images)
    data = convert_instance_masks(masks, images)
    assert len(data["images"]) == rep.images == 170
    assert len(data["annotations"]) == rep.persons == 423
    path = tmp_path / "pf.json"
    path.write_text(json.dumps(data))
    back, _ = load_coco(str(path), images)
    rec = back[0]
    src = next(r for r in records if r.file_name == rec.file_name)
    for a, b in zip(rec.persons, src.persons):
        np.testing.assert_array_equal(rec.instance_mask(a), b.mask.astype(np.uint8))
        np.testing.assert_allclose(a.box, b.box)


def test_examples_from_awkward_images(mini_coco):
    cfg = _cfg()
    records, _ = load_coco(mini_coco["annotations"], mini_coco["images"])
    maker = ExampleMaker(cfg, training=False)
    by_name = {r.file_name: r for r in records}
    ref = maker.make(by_name["alpha.png"])
    for name in ("gray.png", "cmyk.jpg"):
        ex = maker.make(by_name[name])
        assert ex["image"].shape == (320, 320, 3)
        np.testing.assert_array_equal(ex["gt_valid"], ref["gt_valid"])
        np.testing.assert_allclose(ex["gt_boxes"], ref["gt_boxes"], atol=1e-6)
    neg = maker.make(by_name["negative.jpg"])
    assert neg["gt_valid"].sum() == 0 and (neg["cls_targets"] == 0).all()
    augmenting = ExampleMaker(_cfg(augment={"copy_paste": True}), training=True)
    for seed in range(5):  # negatives go through every augmentation too
        neg = augmenting.make(by_name["negative.jpg"], np.random.default_rng(seed))
        assert neg["image"].shape == (320, 320, 3)
    fine = ExampleMaker(from_dict({**_cfg().to_dict(), "train": {"mask_loss_stride": 4}}),
                        training=False).make(by_name["alpha.png"])
    assert ref["gt_masks"].shape == (12, 40, 40) and fine["gt_masks"].shape == (12, 80, 80)
    crowd = maker.make(by_name[mini_coco["crowd_image"]])
    assert (crowd["cls_targets"] == -1).any()  # anchors inside the crowd region are ignored


def test_stream_skips_and_counts_corrupt_images(mini_coco, caplog):
    cfg = _cfg()
    records, _ = load_coco(mini_coco["annotations"], mini_coco["images"])
    stream = ExampleStream(records, cfg, training=False)
    with caplog.at_level("WARNING", logger="ssd_isb.data"):
        examples = list(stream)
    assert stream.skipped == 1 and stream.skipped_files[0].endswith("corrupt.jpg")
    assert len(examples) == len(records) - 1
    assert any("corrupt.jpg" in m and "not a readable image" in m for m in caplog.messages)


def test_training_stream_is_reproducible_and_resumable(mini_coco):
    cfg = _cfg(augment={"copy_paste": True, "copy_paste_probability": 1.0})
    records, _ = load_coco(mini_coco["annotations"], mini_coco["images"])
    records = [r for r in records if r.file_name != "corrupt.jpg"]

    def take(start, n):
        stream = ExampleStream(records, cfg, training=True, seed=7)
        stream.start = start
        it = iter(stream)
        return [next(it) for _ in range(n)], stream

    full, stream = take(0, 12)
    resumed, _ = take(stream.positions[4] + 1, 7)
    for a, b in zip(full[5:], resumed):
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["gt_masks"], b["gt_masks"])
    assert len({int(e["record_index"]) for e in full}) > 6  # a pass visits distinct images


def test_isb_shape_subset(mini_coco):
    records, _ = load_coco(mini_coco["annotations"], mini_coco["images"])
    shapes = [(3, 2), (2, 2), (2, 1)]
    subset = isb_shape_subset(records, shapes, (20, 20))
    only = isb_shape_subset(records, shapes, (20, 20), annotations_only=True)
    assert 0 < len(subset) == len(only) < len(records)
    from ssd_isb.data.coco import window_shape_counts_of

    assert set(window_shape_counts_of(only, (20, 20))) <= set(shapes)
    assert sum(len(r.persons) for r in only) < sum(len(r.persons) for r in subset)
