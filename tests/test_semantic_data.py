"""Semantic targets: the union of person masks, crowds and mask-less persons unknown."""

import os

import numpy as np

from conftest import DATA, need
from ssd_isb.config import from_dict
from ssd_isb.data import load_spec
from ssd_isb.data.semantic import (SemanticExampleMaker, person_union, semantic_stream,
                                   unknown_regions)


def test_union_and_unknown_regions():
    masks = np.zeros((3, 10, 10), np.uint8)
    masks[0, 1:3, 1:3] = 1
    masks[1, 5:8, 5:8] = 1
    masks[2, 0:2, 7:10] = 1  # a box-only person (weight 0)
    weights = np.array([1.0, 0.5, 0.0])
    union = person_union(masks, weights, (10, 10))
    assert union.sum() == 4 + 9 and union[0, 8] == 0
    unknown = unknown_regions(np.array([[0, 8, 3, 10]]), masks, weights, (10, 10))
    assert unknown[0:2, 7:10].all() and unknown[8:10, 0:3].all()
    assert unknown.sum() == 6 + 6


def cfg():
    return from_dict({"name": "t", "model": {"task": "semantic", "input_size": 320}})


def test_real_image_targets_follow_the_masks():
    root = need(os.path.join(DATA, "coco_person_val2017"))
    spec = from_dict({"data": {"train": [{"name": "c", "annotations":
                                          os.path.join(root, "annotations.json"),
                                          "images": os.path.join(root, "images")}]}}
                     ).data.train[0]
    records, _ = load_spec(spec, 5, "train")
    rec = next(r for r in records if r.persons and r.crowds)  # an image with a crowd region
    ex = SemanticExampleMaker(cfg(), training=False).make(rec)
    assert ex["image"].shape == (320, 320, 3) and ex["target"].shape == (160, 160)
    assert 0.0 <= ex["target"].min() and ex["target"].max() <= 1.0
    assert ex["target"].sum() > 10  # persons are there
    assert (ex["weight"] == 0).any() and (ex["weight"] == 1).any()  # the crowd is unknown
    # The target is the union: every person's own mask is inside it.
    plain = SemanticExampleMaker(cfg(), training=False).inner.make(rec)
    person_cells = plain["gt_masks"][plain["gt_valid"] > 0].max(0) > 0.5  # stride 8
    coarse = ex["target"].reshape(40, 4, 40, 4).mean((1, 3)) > 0.25
    assert (coarse | ~person_cells).mean() > 0.97


def test_stream_skips_a_corrupt_image_and_counts_it(mini_coco):
    spec = from_dict({"data": {"train": [{"name": "m", "annotations": mini_coco["annotations"],
                                          "images": mini_coco["images"]}]}}).data.train[0]
    records, _ = load_spec(spec, 5, "all")
    stream = semantic_stream(records, cfg(), training=False)
    examples = list(stream)
    assert stream.skipped >= 1 and any("corrupt" in p for p in stream.skipped_files)
    assert len(examples) == len(records) - stream.skipped
