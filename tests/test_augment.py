"""Augmentation keeps images, masks, boxes and ignore regions consistent."""

import numpy as np

from ssd_isb.config import AugmentConfig
from ssd_isb.data.augment import (InstancePool, Sample, augment, copy_paste, hflip, masks_to_boxes,
                                  random_crop, resize)


def _sample():
    image = np.zeros((120, 160, 3), np.uint8)
    masks = np.zeros((2, 120, 160), np.uint8)
    masks[0, 20:80, 30:60] = 1
    masks[1, 50:110, 100:150] = 1
    image[masks[0] > 0] = (0, 0, 255)
    image[masks[1] > 0] = (0, 255, 0)
    return Sample(image, masks, np.array([[0, 0, 10, 10]], np.float32))


def test_flip_mirrors_everything():
    s = hflip(_sample())
    np.testing.assert_array_equal(masks_to_boxes(s.masks), [[100, 20, 130, 80], [10, 50, 60, 110]])
    np.testing.assert_allclose(s.ignore, [[150, 0, 160, 10]])
    assert (s.image[s.masks[0] > 0] == (0, 0, 255)).all()


def test_resize_scales_masks_and_ignore():
    s = resize(_sample(), (60, 80))
    assert s.image.shape == (60, 80, 3) and s.masks.shape == (2, 60, 80)
    np.testing.assert_allclose(masks_to_boxes(s.masks)[0], [15, 10, 30, 40], atol=1)
    np.testing.assert_allclose(s.ignore, [[0, 0, 5, 5]])


def test_crop_drops_mostly_cut_people_into_ignore():
    rng = np.random.default_rng(0)
    for _ in range(20):
        s = random_crop(_sample(), rng, (0.5, 0.7))
        h, w = s.image.shape[:2]
        assert s.masks.shape[1:] == (h, w)
        for m in s.masks:  # kept people keep their colour under their mask
            assert m.any()
        for x0, y0, x1, y1 in s.ignore:
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h


def test_copy_paste_occludes_and_adds_people():
    rng = np.random.default_rng(1)
    pool = InstancePool(min_side=10)
    donor = _sample()
    pool.add(donor)
    assert len(pool) == 2
    target = Sample(np.full((120, 160, 3), 50, np.uint8), np.zeros((0, 120, 160), np.uint8))
    out = copy_paste(target, pool, rng, max_instances=2)
    assert 1 <= len(out.masks) <= 2
    for m in out.masks:  # pasted pixels carry the donor colours
        colours = {tuple(c) for c in out.image[m > 0]}
        assert colours <= {(0, 0, 255), (0, 255, 0)}
    # Pasting over a person removes the covered pixels from its mask.
    covered = Sample(donor.image.copy(), donor.masks.copy())
    out = copy_paste(covered, pool, np.random.default_rng(5), max_instances=3)
    union = np.zeros((120, 160), np.int32)
    for m in out.masks:
        union += m
    assert union.max() <= 1  # instance masks never overlap after pasting


def test_negative_sample_survives_every_step():
    empty = Sample(np.full((120, 160, 3), 80, np.uint8), np.zeros((0, 120, 160), np.uint8))
    rng = np.random.default_rng(0)
    for _ in range(10):
        s = augment(empty, AugmentConfig(copy_paste=True), rng, (64, 96), InstancePool())
        assert s.masks.shape == (0, 64, 96) or s.masks.shape[1:] == (64, 96)


def test_full_augment_shapes():
    cfg = AugmentConfig(copy_paste=True, copy_paste_probability=1.0)
    rng = np.random.default_rng(2)
    pool = InstancePool(min_side=5)
    for _ in range(5):
        s = augment(_sample(), cfg, rng, (64, 96), pool)
        assert s.image.shape == (64, 96, 3) and s.masks.shape[1:] == (64, 96)


def test_window_jitter_moves_edges_within_the_bound():
    from ssd_isb.data.examples import jitter_boxes

    boxes = np.array([[0.2, 0.3, 0.6, 0.5], [0.0, 0.0, 0.1, 0.05]], np.float32)
    rng = np.random.default_rng(0)
    out = np.stack([jitter_boxes(boxes, 0.1, rng) for _ in range(200)])
    size = np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, axis=1)
    assert (np.abs(out - boxes)[:, 0] <= 0.1 * size[0] + 1e-6).all()  # inside the image: free
    assert out[:, 0].std(axis=0).min() > 0.005  # it does move
    assert ((out >= 0) & (out <= 1)).all() and (out[..., 2:] > out[..., :2]).all()
    assert (jitter_boxes(boxes[:0], 0.1, rng) == boxes[:0]).all()
