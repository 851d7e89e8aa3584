"""The scripts' dataset arguments and split: the dev split is exactly the held-out images."""

import argparse
import os

import pytest

from conftest import DATA, need
from ssd_isb.evaluation.dataset_args import add_dataset_arguments, split_image_ids


def test_defaults_point_at_coco_person_val2017():
    p = argparse.ArgumentParser()
    add_dataset_arguments(p, split="val")
    args = p.parse_args([])
    assert args.split == "val" and args.max_images is None
    assert args.annotations.endswith(os.path.join("coco_person_val2017", "annotations.json"))
    assert args.images.endswith(os.path.join("coco_person_val2017", "images"))
    with pytest.raises(SystemExit):
        p.parse_args(["--split", "dev"])


def test_train_and_val_partition_the_images():
    need(os.path.join(DATA, "coco_person_val2017"))
    from ssd_isb.evaluation.evaluate import load_ground_truth

    gt = load_ground_truth(os.path.join(DATA, "coco_person_val2017", "annotations.json"))
    train, val = split_image_ids(gt, "train"), split_image_ids(gt, "val")
    assert len(val) == 174  # the dev split of the model card
    assert not set(train) & set(val) and sorted(train + val) == split_image_ids(gt, "all")
    assert split_image_ids(gt, "train", 5) == train[:5]
    with pytest.raises(ValueError, match="split must be one of all, train, val, got 'dev'"):
        split_image_ids(gt, "dev")
