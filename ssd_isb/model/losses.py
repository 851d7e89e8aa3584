"""SSD-ISB training losses (thesis 3.2.1).

* boxes: smooth-L1 on positive anchors;
* classes: softmax cross-entropy (thesis) or per-class sigmoid cross-entropy over the class
  columns (zoo; a background anchor's target is all zeros), with SSD hard-negative mining (3
  negatives per positive, at least 3 per image); both normalized by the number of positive
  anchors;
* masks: sigmoid cross-entropy of each branch slot against the ground-truth mask of its box,
  cropped from the same encompassing window and resized to the branch output (before the final
  upsampling; or, with ``train.mask_loss_stride``, the logits upsampled to a finer ground
  truth), averaged over the filled slots of all branches, each slot weighted by its box's mask
  weight (1 for a human mask, a teacher's confidence for its mask; a box-only person takes no
  slot at all, so an image without masks adds exactly nothing to the mask loss).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import tensorflow as tf

from ..core.branches import BranchSpec
from ..config import fcn_skip_steps
from .crops import crop_windows
from .mask_head import BranchOutput

MIN_NEGATIVES = 3


def smooth_l1(diff):
    """Huber loss with delta 1, summed over the last axis."""
    a = tf.abs(diff)
    return tf.reduce_sum(tf.where(a < 1.0, 0.5 * a * a, a - 0.5), axis=-1)


def detection_losses(box_encodings, class_logits, cls_targets, box_targets,
                     score_converter: str = "softmax", negative_ratio: float = 3.0,
                     always_negative=None) -> Dict[str, tf.Tensor]:
    """Box and class losses over a batch.

    Args:
        box_encodings: [B, A, 4] predicted codes.
        class_logits: [B, A, C + 1].
        cls_targets: int32 [B, A]: 0 background, k class k, -1 ignore.
        box_targets: [B, A, 4] encoded targets.
        score_converter: "softmax" or "sigmoid".
        negative_ratio: hard negatives per positive.
        always_negative: optional bool [A]: anchors whose every negative counts, mined or not.

    Returns:
        dict with ``box``, ``class`` (scalars) and ``positives`` (count).
    """
    cls_targets = tf.cast(cls_targets, tf.int32)
    pos = cls_targets > 0
    neg = tf.equal(cls_targets, 0)
    pos_f = tf.cast(pos, tf.float32)
    num_pos = tf.reduce_sum(pos_f, axis=1)  # [B]
    normalizer = tf.maximum(tf.reduce_sum(num_pos), 1.0)
    box_loss = tf.reduce_sum(smooth_l1(box_targets - box_encodings) * pos_f) / normalizer

    labels = tf.maximum(cls_targets, 0)
    if score_converter == "softmax":
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=class_logits)
    else:
        # Only the class columns: the runtime scores a sigmoid model by them alone, and the zoo
        # detector's background column is untrained (logit about -5.5 everywhere), so scoring
        # it would cost ~5.5 per negative and pull the heads towards a column nothing reads.
        scores = class_logits[..., 1:]
        onehot = tf.one_hot(labels - 1, tf.shape(scores)[-1], dtype=class_logits.dtype)
        ce = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=onehot,
                                                                   logits=scores), -1)
    # Hard-negative mining per image: the k highest-loss negatives, k = ratio * positives.
    neg_ce = tf.where(neg, tf.stop_gradient(ce), -1.0)
    rank = tf.argsort(tf.argsort(neg_ce, axis=1, direction="DESCENDING"), axis=1)
    k = tf.maximum(tf.cast(negative_ratio * num_pos, tf.int32), MIN_NEGATIVES)
    hard = neg & (rank < k[:, None])
    if always_negative is not None:
        hard = hard | (neg & tf.convert_to_tensor(always_negative, tf.bool)[None, :])
    selected = tf.cast(pos | hard, tf.float32)
    class_loss = tf.reduce_sum(ce * selected) / normalizer
    return {"box": box_loss, "class": class_loss, "positives": tf.reduce_sum(num_pos)}


def _branch_stride(fcn: int) -> int:
    """Input pixels per cell of a branch's output logits."""
    return 32 // 2 ** fcn_skip_steps(fcn)


def mask_targets(gt_masks, slot_windows, slot_index, spec: BranchSpec, fcn: int,
                 target_stride: int = 8, loss_stride: Optional[int] = None):
    """Ground-truth masks of a branch's slots at the mask loss resolution.

    Args:
        gt_masks: [N, h, w] soft masks at ``target_stride``, one per flat ground-truth box.
        slot_windows: int32 [cap, 4] windows the branch cropped.
        slot_index: int32 [cap] flat box of each slot.
        spec: the branch.
        fcn: 8, 16 or 32 (branch output stride).
        target_stride: input pixels per cell of ``gt_masks``.
        loss_stride: input pixels per cell of the loss; None: the branch output stride.

    Returns:
        [cap, h', w', 1] targets in [0, 1], ``32 // loss_stride`` cells per stride-32 cell.
    """
    masks = gt_masks[..., None]
    loss_stride = loss_stride or _branch_stride(fcn)
    if loss_stride > target_stride:  # average the targets down to the loss stride
        f = loss_stride // target_stride
        masks = tf.nn.avg_pool2d(masks, f, f, "VALID")
    # Each box's mask is its own "image": batch index = the flat box index.
    return crop_windows(masks, slot_windows, slot_index, spec.shape, 32 // loss_stride,
                        resize=spec.resizes)


def upsample_logits(logits, factor: int):
    """Logits upsampled bilinearly by an integer factor with half-pixel centres, as
    ``runtime.paste`` resizes them (cv2 INTER_LINEAR) onto the image."""
    if factor == 1:
        return logits
    h, w = logits.shape[1], logits.shape[2]
    return tf.image.resize(logits, [h * factor, w * factor], method="bilinear")


def soft_dice_loss(target, logits, smooth: float = 1.0):
    """1 - soft Dice of sigmoid(logits) against the (soft) target, per slot: [cap]."""
    prob = tf.sigmoid(logits)
    inter = tf.reduce_sum(prob * target, axis=[1, 2, 3])
    total = tf.reduce_sum(prob, axis=[1, 2, 3]) + tf.reduce_sum(target, axis=[1, 2, 3])
    return 1.0 - (2.0 * inter + smooth) / (total + smooth)


def mask_loss(branches: List[BranchOutput], gt_masks, specs: Sequence[BranchSpec], fcn: int,
              dice_weight: float = 0.0, target_stride: int = 8,
              loss_stride: Optional[int] = None, gt_weights=None) -> Dict[str, tf.Tensor]:
    """Weighted mean per-slot sigmoid cross-entropy (plus ``dice_weight`` x soft Dice loss)
    over every filled slot of every branch, at ``loss_stride`` (None: the branch output
    stride). ``gt_weights`` [N]: each flat box's weight (None: all 1, the plain mean)."""
    factor = _branch_stride(fcn) // (loss_stride or _branch_stride(fcn))
    total = tf.constant(0.0)
    count = tf.constant(0.0)
    for spec, out in zip(specs, branches):
        target = mask_targets(gt_masks, out.slot_windows, out.slot_index, spec, fcn,
                              target_stride, loss_stride)
        logits = upsample_logits(out.logits[..., :1], factor)
        bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=logits)
        per_slot = tf.reduce_mean(bce, axis=[1, 2, 3])
        if dice_weight:
            per_slot += dice_weight * soft_dice_loss(target, logits)
        valid = tf.cast(out.slot_valid, tf.float32)
        if gt_weights is not None:
            valid *= tf.gather(gt_weights, out.slot_index)
        total += tf.reduce_sum(per_slot * valid)
        count += tf.reduce_sum(valid)
    # A batch without any mask (box-only images) divides 0 by 1: exactly no mask gradient.
    return {"mask": total / tf.maximum(count, 1.0), "mask_slots": count}
