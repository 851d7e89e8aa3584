"""SSD and mask losses on hand-made cases."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from ssd_isb.core.branches import BranchSpec  # noqa: E402
from ssd_isb.model.losses import detection_losses, mask_loss, mask_targets, smooth_l1  # noqa: E402
from ssd_isb.model.mask_head import BranchOutput  # noqa: E402


def test_smooth_l1_values():
    d = tf.constant([[0.5, -2.0, 0.0, 1.0]])
    np.testing.assert_allclose(smooth_l1(d).numpy(), [0.125 + 1.5 + 0 + 0.5])


def test_hard_negative_mining_and_normalization():
    a = 20
    cls = np.zeros((1, a), np.int32)
    cls[0, 0] = 1  # one positive
    cls[0, 1] = -1  # ignored
    logits = np.zeros((1, a, 2), np.float32)
    logits[0, 2:, 1] = np.linspace(0, 5, a - 2)  # negatives scoring person more and more
    logits[0, 1, 1] = 100.0  # an ignored anchor must cost nothing
    out = detection_losses(tf.zeros((1, a, 4)), tf.constant(logits), tf.constant(cls),
                           tf.zeros((1, a, 4)), "softmax", negative_ratio=3.0)
    ce = lambda z: np.log1p(np.exp(z))  # noqa: E731  softmax CE of [0, z] vs background
    expected = np.log(2) + sum(ce(z) for z in np.sort(logits[0, 2:, 1])[-3:])
    assert abs(float(out["class"]) - expected) < 1e-4  # 1 positive + its 3 hardest negatives
    assert float(out["positives"]) == 1 and float(out["box"]) == 0.0


def test_always_negative_anchors_count_mined_or_not():
    a = 20
    cls = np.zeros((1, a), np.int32)
    cls[0, 0] = 1
    cls[0, 1] = -1
    logits = np.zeros((1, a, 2), np.float32)
    logits[0, 2:, 1] = np.linspace(0, 5, a - 2)
    always = np.zeros(a, bool)
    always[[1, 2, 3]] = True  # an ignored anchor stays ignored; 2 and 3 are the easiest
    out = detection_losses(tf.zeros((1, a, 4)), tf.constant(logits), tf.constant(cls),
                           tf.zeros((1, a, 4)), "softmax", 3.0, always)
    ce = lambda z: np.log1p(np.exp(z))  # noqa: E731
    z = logits[0, :, 1]
    expected = np.log(2) + sum(ce(v) for v in np.sort(z[2:])[-3:]) + ce(z[2]) + ce(z[3])
    assert abs(float(out["class"]) - expected) < 1e-4


def test_mask_targets_crop_the_boxes_mask():
    masks = np.zeros((2, 40, 40), np.float32)
    masks[1, 8:16, 4:12] = 1.0  # box 1 fills window (y0=2, x0=1, 2x2 cells) at stride 8
    spec = BranchSpec((2, 2), "exact")
    t = mask_targets(tf.constant(masks), tf.constant([[2, 1, 2, 2]]), tf.constant([1]), spec, 8)
    assert t.shape == (1, 8, 8, 1)
    np.testing.assert_array_equal(t.numpy()[0, :, :, 0], np.ones((8, 8)))


def test_mask_loss_prefers_the_right_mask():
    masks = np.zeros((1, 40, 40), np.float32)
    masks[0, 8:16, 4:8] = 1.0
    spec = BranchSpec((2, 2), "exact")
    target = np.zeros((1, 8, 8, 1), np.float32)
    target[0, :, :4] = 1.0
    good = tf.constant(np.where(target > 0, 8.0, -8.0).astype(np.float32))
    bad = -good
    branch = lambda logits: BranchOutput(logits, tf.constant([0]),  # noqa: E731
                                         tf.constant([True]), tf.constant([0]),
                                         tf.constant([[2, 1, 2, 2]]))
    lo = float(mask_loss([branch(good)], tf.constant(masks), [spec], 8)["mask"])
    hi = float(mask_loss([branch(bad)], tf.constant(masks), [spec], 8)["mask"])
    assert lo < 0.01 < 7.9 < hi
    empty = [BranchOutput(good, tf.constant([0]), tf.constant([False]), tf.constant([1]),
                          tf.constant([[2, 1, 2, 2]]))]
    out = mask_loss(empty, tf.constant(masks), [spec], 8)
    assert float(out["mask"]) == 0.0 and float(out["mask_slots"]) == 0.0


def test_dice_term_rewards_overlap_whatever_the_size():
    """A tiny mask: BCE barely tells an empty prediction from a right one; Dice does."""
    from ssd_isb.model.losses import soft_dice_loss

    target = np.zeros((1, 16, 8, 1), np.float32)
    target[0, 6:9, 3:5] = 1.0  # 6 of 128 pixels
    right = tf.constant(np.where(target > 0, 4.0, -4.0).astype(np.float32))
    empty = tf.constant(np.full(target.shape, -4.0, np.float32))
    assert float(soft_dice_loss(target, right)[0]) < 0.2 < 0.7 < float(
        soft_dice_loss(target, empty)[0])
    masks = np.zeros((1, 40, 40), np.float32)
    masks[0, 6:9, 3:5] = 1.0
    spec = BranchSpec((4, 2), "exact")
    out = BranchOutput(right, tf.constant([0]), tf.constant([True]), tf.constant([0]),
                       tf.constant([[0, 0, 4, 2]]))
    plain = float(mask_loss([out], tf.constant(masks), [spec], 8)["mask"])
    with_dice = float(mask_loss([out], tf.constant(masks), [spec], 8, dice_weight=1.0)["mask"])
    assert with_dice > plain  # the term is added, never replaces the BCE


def test_finer_loss_stride_scores_upsampled_logits_as_the_paste_does():
    """train.mask_loss_stride 4 on an FCN-8 branch: stride-4 targets cropped from the same
    window, and the stride-8 logits upsampled exactly as runtime.paste resizes them (cv2)."""
    import cv2

    masks = np.zeros((1, 80, 80), np.float32)  # stride 4 on a 320 input
    masks[0, 17:31, 9:15] = 1.0  # edges off the stride-8 grid
    spec = BranchSpec((2, 2), "exact")
    window = tf.constant([[2, 1, 2, 2]])
    t = mask_targets(tf.constant(masks), window, tf.constant([0]), spec, 8,
                     target_stride=4, loss_stride=4)
    assert t.shape == (1, 16, 16, 1)
    np.testing.assert_array_equal(t.numpy()[0, :, :, 0], masks[0, 16:32, 8:24])
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(1, 8, 8, 1)).astype(np.float32)
    up = cv2.resize(logits[0, :, :, 0], (16, 16), interpolation=cv2.INTER_LINEAR)
    target = masks[0, 16:32, 8:24]
    expected = np.mean(np.maximum(up, 0) - up * target + np.log1p(np.exp(-np.abs(up))))
    out = BranchOutput(tf.constant(logits), tf.constant([0]), tf.constant([True]),
                       tf.constant([0]), window)
    got = float(mask_loss([out], tf.constant(masks), [spec], 8, target_stride=4,
                          loss_stride=4)["mask"])
    assert abs(got - expected) < 1e-5
    # the default still scores at the branch's own stride-8 grid (targets averaged down)
    coarse = float(mask_loss([out], tf.constant(masks), [spec], 8, target_stride=4)["mask"])
    assert abs(coarse - got) > 1e-3


def test_sigmoid_class_loss_ignores_the_background_column():
    # The zoo detector's background logit is untrained (about -5.5 everywhere); a sigmoid model
    # is scored by its class columns alone, so only they may carry loss or gradient.
    cls = tf.constant([[1, 0, 0, 0]], tf.int32)
    person = np.array([2.0, -1.0, 0.5, -3.0], np.float32)
    losses = []
    for background in (-5.5, 4.0):
        logits = tf.Variable(np.stack([np.full(4, background, np.float32), person], -1)[None])
        with tf.GradientTape() as tape:
            out = detection_losses(tf.zeros((1, 4, 4)), logits, cls, tf.zeros((1, 4, 4)),
                                   "sigmoid", negative_ratio=3.0)
        grad = tape.gradient(out["class"], logits).numpy()
        assert np.all(grad[..., 0] == 0) and np.any(grad[..., 1] != 0)
        losses.append(float(out["class"]))
    ce = lambda z, t: np.log1p(np.exp(-z)) if t else np.log1p(np.exp(z))  # noqa: E731
    expected = ce(2.0, 1) + ce(-1.0, 0) + ce(0.5, 0) + ce(-3.0, 0)
    np.testing.assert_allclose(losses, [expected, expected], rtol=1e-5)
