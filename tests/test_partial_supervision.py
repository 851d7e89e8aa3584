"""Partial supervision: box-only people train the detector and never the branches, a mask's
weight scales its share of the mask loss, and fully masked data trains exactly as before."""

import json
import os

import numpy as np
import pytest

from conftest import DATA, need
from ssd_isb.config import ConfigError, from_dict
from ssd_isb.data import load_coco
from ssd_isb.data.augment import InstancePool, Sample, hflip, resize, zoom_out
from ssd_isb.data.coco import nested_crowds
from ssd_isb.data.examples import ExampleMaker

BOXES = os.path.join(DATA, "coco_train_person_boxes")


def _cfg(**data):
    return from_dict({
        "name": "partial",
        "model": {"input_size": 320, "depth_multiplier": 0.75, "score_converter": "sigmoid"},
        "isb": {"variant": "multi_shape", "shapes": [[10, 5], [5, 3], [2, 1]],
                "boxes_per_branch": 4},
        "train": {"batch_size": 2, "mask_dice_weight": 1.0, "mask_loss_stride": 4},
        "data": {"max_boxes": 12, **data}})


@pytest.fixture(scope="module")
def box_records():
    need(BOXES)
    records, report = load_coco(os.path.join(BOXES, "annotations.json"),
                                os.path.join(BOXES, "images"), split="train", kind="boxes",
                                crowd_nesting=3)
    return records, report


@pytest.fixture(scope="module")
def partial_json(tmp_path_factory):
    """Real coco_person_val2017 annotations with every second person's mask removed and the
    rest weighted 0.5: what `ssd-isb pseudo-label` writes for uncertain people."""
    src = need(os.path.join(DATA, "coco_person_val2017"))
    with open(os.path.join(src, "annotations.json")) as fh:
        data = json.load(fh)
    counts = {}
    for a in data["annotations"]:
        counts[a["image_id"]] = counts.get(a["image_id"], 0) + (not a.get("iscrowd"))
    ids = sorted(i for i, n in counts.items() if n >= 2)[:6]
    images = [im for im in data["images"] if im["id"] in ids]
    anns = [dict(a) for a in data["annotations"] if a["image_id"] in ids and
            not a.get("iscrowd")]
    for k, a in enumerate(anns):
        if k % 2:
            del a["segmentation"]
        else:
            a["mask_weight"] = 0.5
    path = tmp_path_factory.mktemp("partial") / "annotations.json"
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": 1, "name": "person"}]}))
    return str(path), os.path.join(src, "images")


def test_box_only_dataset_loads_every_box_without_a_mask(box_records):
    records, report = box_records
    assert report.persons > 5000 and report.box_only == report.persons
    # No segmentation is not degenerate for kind: boxes; only boxes under a pixel wide are.
    with open(os.path.join(BOXES, "annotations.json")) as fh:
        data = json.load(fh)
    from ssd_isb.data.coco import is_holdout

    train_ids = {im["id"] for im in data["images"] if not is_holdout(im["file_name"], 5)}
    tiny = sum(1 for a in data["annotations"] if a["image_id"] in train_ids and
               min(a["bbox"][2:]) < 1)
    assert report.skipped_degenerate == tiny
    assert all(not p.has_mask for r in records for p in r.persons)
    assert 0 < report.crowd < 0.05 * report.persons  # the few boxes drawn around crowds


def test_nested_crowds_marks_a_box_around_others():
    people = np.array([[10, 10, 20, 40], [30, 10, 40, 40], [50, 10, 60, 40]], np.float32)
    crowd = np.array([[0, 0, 100, 50]], np.float32)
    big = np.array([[0, 0, 45, 45]], np.float32)  # holds two: a person in front of two others
    out = nested_crowds(np.concatenate([people, crowd, big]), 3)
    np.testing.assert_array_equal(out, [False, False, False, True, False])
    assert not nested_crowds(people, 3).any()


def test_partial_dataset_keeps_boxes_and_weights(partial_json):
    annotations, images = partial_json
    records, report = load_coco(annotations, images, kind="partial", mask_weight=0.8)
    persons = [p for r in records for p in r.persons]
    assert report.skipped_degenerate == 0 and report.box_only == len(persons) // 2
    weights = sorted({round(p.mask_weight, 6) for p in persons})
    assert weights == [0.0, 0.4]  # 0.8 (dataset) x 0.5 (annotation), or no mask
    _, strict = load_coco(annotations, images, kind="masks")
    assert strict.skipped_degenerate == report.box_only  # "masks" keeps today's rule
    _, unsure = load_coco(annotations, images, kind="partial", min_mask_weight=0.6)
    assert unsure.box_only == unsure.persons == len(persons)  # weight 0.5 < 0.6: box only


def test_box_only_example_trains_boxes_and_no_mask(box_records):
    records, _ = box_records
    cfg = _cfg()
    maker = ExampleMaker(cfg, training=False)
    rec = next(r for r in records if len(r.persons) >= 3 and not r.crowds)
    ex = maker.make(rec)
    n = len(rec.persons)
    assert ex["gt_valid"][:n].sum() == n and not ex["gt_mask_weights"].any()
    assert not ex["gt_masks"].any()
    assert (ex["cls_targets"] > 0).sum() >= n  # every box found its anchors
    # The rectangle travelled as the box: resized boxes equal the annotated ones (to a pixel).
    h, w = cfg.model.input_size
    got = ex["gt_boxes"][:n] * np.array([h, w, h, w])
    want = np.array([[p.box[1] * h / rec.height, p.box[0] * w / rec.width,
                      p.box[3] * h / rec.height, p.box[2] * w / rec.width]
                     for p in rec.persons])
    order = lambda b: b[np.lexsort(b.T[::-1])]  # noqa: E731
    np.testing.assert_allclose(order(got), order(want), atol=1.6)


def test_box_only_people_are_never_pasted_and_keep_weight_zero(box_records):
    records, _ = box_records
    rec = next(r for r in records if len(r.persons) >= 2)
    sample = ExampleMaker(_cfg(), training=False).load(rec)
    assert not sample.weights.any()
    pool = InstancePool(min_side=1)
    pool.add(resize(sample, (320, 320)))
    assert len(pool) == 0
    rng = np.random.default_rng(0)
    for moved in (hflip(sample), zoom_out(sample, rng, 2.0)):
        assert len(moved.weights) == len(moved.masks) == len(sample.masks)
        assert not moved.weights.any()


def test_zoom_out_keeps_boxes_and_masks_together():
    image = np.full((40, 60, 3), 200, np.uint8)
    mask = np.zeros((1, 40, 60), np.uint8)
    mask[0, 10:30, 20:30] = 1
    out = zoom_out(Sample(image, mask, np.array([[0, 0, 5, 5]], np.float32)),
                   np.random.default_rng(1), 3.0)
    ys, xs = np.nonzero(out.masks[0])
    y0, x0 = ys.min() - 10, xs.min() - 20
    assert out.image.shape[0] >= 40 and (out.image[y0:y0 + 40, x0:x0 + 60] == 200).all()
    np.testing.assert_array_equal(out.ignore, [[x0, y0, x0 + 5, y0 + 5]])
    assert out.masks[0].sum() == 200


@pytest.mark.parametrize("spec, key", [
    ({"masks": "m", "images": "i", "kind": "boxes"}, r"data.train\[0\].kind"),
    ({"annotations": "a.json", "images": "i", "mask_weight": 0}, r"data.train\[0\].mask_weight"),
    ({"annotations": "a.json", "images": "i", "kind": "maybe"}, r"data.train\[0\].kind"),
    ({"annotations": "a.json", "images": "i", "crowd_nesting": 0},
     r"data.train\[0\].crowd_nesting"),
])
def test_dataset_kind_errors_name_the_key(spec, key):
    with pytest.raises(ConfigError, match=key):
        _cfg(train=[spec])


def _batch(records, cfg):
    import tensorflow as tf

    maker = ExampleMaker(cfg, training=False)
    examples = [maker.make(r) for r in records]
    return {k: tf.constant(np.stack([e[k] for e in examples])) for k in examples[0]}


def _mask_gradients(trainer, x, y):
    import tensorflow as tf

    variables = trainer.ssdisb.mask_head.trainable_variables
    with tf.GradientTape() as tape:
        losses = trainer.compute_losses(x, y, training=True)
    grads = tape.gradient(losses["mask_loss"], variables)
    return losses, [np.zeros(v.shape) if g is None else np.asarray(g)
                    for g, v in zip(grads, variables)]


def test_mask_gradient_box_only_zero_masked_unchanged(partial_json):
    """The acceptance check of partial supervision, on a real model and real images: a batch
    of box-only people gives exactly zero mask gradient (and still a class and box loss); the
    same batch with human masks gives the very gradient the loss gave before weights existed;
    a weight of 0.5 on every mask leaves the weighted mean (and so the gradient) unchanged."""
    pytest.importorskip("tensorflow")
    from ssd_isb.model import build_model
    from ssd_isb.training.trainer import SSDISBTrainer

    annotations, images = partial_json
    cfg = _cfg()
    records, _ = load_coco(annotations, images, kind="masks")  # the masked people only
    records = [r for r in records if r.persons][:2]
    import keras

    keras.utils.set_random_seed(0)
    trainer = SSDISBTrainer(cfg, build_model(cfg), batch_size=2)
    batch = _batch(records, cfg)
    assert float(np.sum(batch["gt_mask_weights"])) > 0
    x = {k: batch[k] for k in ("image", "gt_boxes", "gt_valid", "record_index")}
    today = {k: batch[k] for k in ("gt_masks", "cls_targets", "box_targets")}
    ref_losses, ref = _mask_gradients(trainer, x, today)
    losses, grads = _mask_gradients(trainer, x, dict(today,
                                                     gt_mask_weights=batch["gt_mask_weights"]))
    assert float(ref_losses["mask_loss"]) > 0
    for a, b in zip(ref, grads):
        np.testing.assert_array_equal(a, b)
    half = dict(today, gt_mask_weights=0.5 * batch["gt_mask_weights"])
    _, grads_half = _mask_gradients(trainer, x, half)
    for a, b in zip(ref, grads_half):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-9)

    box_only = [r for r in load_coco(annotations, images, kind="boxes")[0] if r.persons][:2]
    batch = _batch(box_only, cfg)
    x = {k: batch[k] for k in ("image", "gt_boxes", "gt_valid", "record_index")}
    y = {k: batch[k] for k in ("gt_masks", "gt_mask_weights", "cls_targets", "box_targets")}
    losses, grads = _mask_gradients(trainer, x, y)
    assert float(losses["mask_loss"]) == 0.0
    assert all(not g.any() for g in grads)
    assert float(losses["class_loss"]) > 0 and float(losses["box_loss"]) > 0


def test_training_the_upper_backbone_freezes_the_rest():
    pytest.importorskip("tensorflow")
    from ssd_isb.core.layer_names import backbone_block, is_backbone
    from ssd_isb.model import build_model
    from ssd_isb.training.loop import freeze

    cfg = from_dict({"model": {"input_size": 320, "depth_multiplier": 0.75},
                     "isb": {"variant": "multi_shape", "shapes": [[10, 5], [2, 1]]},
                     "train": {"freeze_backbone": True, "train_backbone_from": 12}})
    model = build_model(cfg)
    freeze(model, cfg)
    trainable = {layer.name for layer in model.detector.layers
                 if is_backbone(layer.name) and layer.weights and layer.trainable}
    assert trainable and all(backbone_block(n) >= 12 for n in trainable)
    assert {"Conv2d_12_pointwise", "Conv2d_13_depthwise"} <= trainable
    assert backbone_block("Conv2d_13_pointwise_1_Conv2d_2_1x1_256") == -1  # an SSD extra layer
    with pytest.raises(ConfigError, match="train.train_backbone_from"):
        from_dict({"train": {"train_backbone_from": 12}})
