"""The mask head: bucketing boxes into branches, padded crops, the ISBs and un-padding.

:class:`MaskHead` holds the branches. Given encompassing windows (from ground-truth boxes in
training, from the detections at inference) it assigns each to a branch, takes each branch's boxes
in order up to ``boxes_per_branch`` (zero-padded to that cap so every shape is static), crops the
stride-32/16/8 maps without interpolation (or resamples, for resizing branches), stops the
gradient at the crop (thesis 3.2.1: each ISB trains on its own, the maps train from detection)
and runs the branch. :class:`InstanceMasks` puts the per-branch outputs back in detection order
(un-padding) at one common mask size.
"""

from __future__ import annotations

from typing import List

import keras
import tensorflow as tf

from ..branches import assign_branches, branch_slots, branch_specs
from ..config import ISBConfig, _build
from ..encompassing import windows_to_boxes
from .crops import crop_windows
from .graph_ops import ops
from .isb import ISBBranch

LEVELS = (1, 2, 4)  # stride-32, -16, -8 maps relative to the stride-32 grid


def _isb_config(config: dict) -> ISBConfig:
    return _build(ISBConfig, config, "isb")


@keras.saving.register_keras_serializable(package="ssd_isb")
class MaskHead(keras.layers.Layer):
    """Per-branch mask logits for a set of windows.

    Args:
        isb: the ``isb`` config section as a dict.
        grid: (rows, cols) of the stride-32 map.
        num_classes: mask channels per branch.
        boxes_per_branch: slots per branch (defaults to ``isb.boxes_per_branch``; training
            uses a larger cap because it sees a whole batch of ground-truth boxes).
    """

    def __init__(self, isb: dict, grid, num_classes: int = 1, boxes_per_branch: int | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.isb_dict = dict(isb)
        self.isb = _isb_config(self.isb_dict)
        self.grid = (int(grid[0]), int(grid[1]))
        self.num_classes = int(num_classes)
        self.cap = int(boxes_per_branch or self.isb.boxes_per_branch)
        self.specs = branch_specs(self.isb)
        self.steps = {32: 0, 16: 1, 8: 2}[self.isb.fcn]
        self.branches = [ISBBranch(fcn=self.isb.fcn, depth=self.isb.depth,
                                   upsample_depth=self.isb.upsample_depth,
                                   num_classes=self.num_classes, name=spec.name)
                         for spec in self.specs]

    def build(self, input_shape):
        maps = input_shape["features"]
        for spec, branch in zip(self.specs, self.branches):
            h, w = spec.shape
            shapes = [(None, LEVELS[i] * h, LEVELS[i] * w, maps[i][-1])
                      for i in range(self.steps + 1)]
            branch.build(shapes)
        self.built = True

    def call(self, inputs, boxes_per_branch: int | None = None) -> List:
        """Run every branch.

        Args:
            inputs: dict with ``features`` [stride-32, stride-16, stride-8 maps], ``windows``
                int32 [N, 4] (y0, x0, h, w) cells, ``batch_index`` int32 [N], ``valid`` bool [N].
            boxes_per_branch: slots per branch for this call (default: the layer's cap).

        Returns:
            For each branch, a list [logits [cap, h', w', classes], slot_index int32 [cap] into
            N, slot_valid bool [cap], rank int32 [N] (slot of each window, >= cap if none),
            slot_windows int32 [cap, 4] (the windows cropped; in-grid even for padding)].
        """
        maps = [tf.stop_gradient(m) for m in inputs["features"][:self.steps + 1]]
        windows = tf.cast(inputs["windows"], tf.int32)
        batch_index = tf.cast(inputs["batch_index"], tf.int32)
        valid = tf.cast(inputs["valid"], tf.bool)
        assignment = assign_branches(windows[:, 2], windows[:, 3], self.specs, xp=ops)
        cap = int(boxes_per_branch or self.cap)
        outputs = []
        for b, (spec, branch) in enumerate(zip(self.specs, self.branches)):
            slot_index, slot_valid, rank = branch_slots(assignment, valid, b, cap,
                                                        xp=ops)
            slot_windows = tf.gather(windows, slot_index)
            slot_batch = tf.gather(batch_index, slot_index)
            if not spec.resizes:
                # Padding slots must still read in-grid cells of this exact shape.
                slot_windows = tf.where(slot_valid[:, None], slot_windows,
                                        tf.constant([[0, 0, spec.shape[0], spec.shape[1]]]))
            crop_shape = (spec.shape[0] * spec.pool, spec.shape[1] * spec.pool)
            crops = []
            for i in range(self.steps + 1):
                crop = crop_windows(maps[i], slot_windows, slot_batch, crop_shape, LEVELS[i],
                                    resize=spec.resizes)
                if spec.pool > 1:
                    crop = tf.nn.max_pool2d(crop, spec.pool, spec.pool, "VALID")
                crops.append(crop)
            outputs.append([branch(crops), slot_index, slot_valid, rank, slot_windows])
        return outputs

    def get_config(self):
        return {**super().get_config(), "isb": self.isb_dict, "grid": list(self.grid),
                "num_classes": self.num_classes, "boxes_per_branch": self.cap}


@keras.saving.register_keras_serializable(package="ssd_isb")
class InstanceMasks(keras.layers.Layer):
    """Per-detection mask logits [N, S, S] and their windows, in detection order.

    Each branch's logits are resized to S x S; a detection's mask is the slot its branch gave
    it. A detection with no mask (no branch for its shape, or past the branch's cap) gets zero
    logits and an empty window (all zeros), which the runtime reads as "no mask".
    """

    def __init__(self, isb: dict, grid, mask_size: int, **kwargs):
        super().__init__(**kwargs)
        self.isb_dict = dict(isb)
        self.isb = _isb_config(self.isb_dict)
        self.grid = (int(grid[0]), int(grid[1]))
        self.mask_size = int(mask_size)

    def call(self, inputs):
        """Put branch outputs back in detection order.

        Args:
            inputs: dict with ``branches`` (the MaskHead output), ``windows`` int32 [N, 4],
                ``valid`` bool [N] and ``classes`` int32 [1, N] (1-based).

        Returns:
            (masks [1, N, S, S] logits, windows [1, N, 4] normalized, zero where no mask).
        """
        size = self.mask_size
        windows = tf.cast(inputs["windows"], tf.int32)
        valid = tf.cast(inputs["valid"], tf.bool)
        n = windows.shape[0]
        classes = tf.reshape(tf.cast(inputs["classes"], tf.int32), [n])
        stacked, offset = [], 0
        index = tf.fill([n], -1)
        for logits, _, _, rank, _ in inputs["branches"]:
            cap = logits.shape[0]
            resized = tf.image.resize(logits, (size, size), method="bilinear")
            stacked.append(resized)
            index = tf.where(rank < cap, rank + offset, index)
            offset += cap
        num_classes = stacked[0].shape[-1]
        stacked.append(tf.zeros([1, size, size, num_classes], stacked[0].dtype))
        has_mask = (index >= 0) & valid
        index = tf.where(has_mask, index, offset)
        masks = tf.gather(tf.concat(stacked, axis=0), index)
        if num_classes == 1:
            masks = masks[..., 0]
        else:
            onehot = tf.one_hot(tf.maximum(classes - 1, 0), num_classes, dtype=masks.dtype)
            masks = tf.reduce_sum(masks * onehot[:, None, None, :], axis=-1)
        boxes = windows_to_boxes(windows, self.grid, xp=ops)
        boxes = tf.where(has_mask[:, None], boxes, tf.zeros_like(boxes))
        return masks[None], boxes[None]

    def get_config(self):
        return {**super().get_config(), "isb": self.isb_dict, "grid": list(self.grid),
                "mask_size": self.mask_size}
