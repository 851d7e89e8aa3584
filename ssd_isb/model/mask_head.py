"""The mask head: bucketing boxes into branches, padded crops, the ISBs and un-padding.

:class:`MaskHead` holds the branches. Given encompassing windows (from ground-truth boxes in
training, from the detections at inference) it assigns each to a branch, takes each branch's boxes
in order up to ``boxes_per_branch`` (zero-padded to that cap so every shape is static), crops the
stride-32/16/8 (/4) maps without interpolation (or resamples, for resizing branches), stops the
gradient at the crop (thesis 3.2.1: each ISB trains on its own, the maps train from detection)
and runs the branch. :class:`InstanceMasks` puts the per-branch outputs back in detection order
(un-padding) at one common mask size.
"""

from __future__ import annotations

from typing import Any, List, NamedTuple, Optional, Sequence

import keras
import tensorflow as tf

from ..core.branches import assign_branches, branch_slots, variant_specs
from ..config import fcn_skip_steps
from ..core.boxes import cells_to_normalized
from ..core.stages import LEVELS  # the stride-32, -16, -8, -4 maps relative to the stride-32 grid
from .crops import crop_windows
from .graph_ops import ops
from .isb import ISBBranch

# The ``isb`` config keys a MaskHead takes as its own arguments.
HEAD_KEYS = ("variant", "shapes", "rest_shape", "pool", "fcn", "depth", "upsample_depth")


class BranchOutput(NamedTuple):
    """What one branch gives for a set of windows (tensors).

    Attributes:
        logits: [cap, h', w', classes] mask logits of the branch's slots.
        slot_index: int32 [cap] index of each slot's window among the N windows.
        slot_valid: bool [cap], False for padding slots.
        rank: int32 [N] slot of each window in this branch (>= cap if it has none).
        slot_windows: int32 [cap, 4] the windows cropped (in-grid even for padding).
    """

    logits: Any
    slot_index: Any
    slot_valid: Any
    rank: Any
    slot_windows: Any


def _legacy_isb(config: dict) -> dict:
    """Configs saved before the layers took scalars held an ``isb`` dict: flatten it."""
    isb = config.pop("isb", None)
    if isb is not None:
        config.update({k: isb[k] for k in HEAD_KEYS if k in isb})
        config.setdefault("boxes_per_branch", isb.get("boxes_per_branch"))
    return config


@keras.saving.register_keras_serializable(package="ssd_isb")
class MaskHead(keras.layers.Layer):
    """Per-branch mask logits for a set of windows.

    Args:
        variant: "single_branch", "single_shape", "single_shape_plus" or "multi_shape".
        shapes: branch shapes (h, w) in stride-32 cells (see :class:`~ssd_isb.config.ISBConfig`).
        rest_shape: the Single-Shape+ resizing branch, else None.
        pool: Single-Branch crop-and-pool factor.
        fcn: 4, 8, 16 or 32.
        depth: depth of each branch's separable conv.
        upsample_depth: depth of the transposed and skip convs.
        grid: (rows, cols) of the stride-32 map.
        num_classes: mask channels per branch.
        boxes_per_branch: slots per branch (training uses a larger cap because it sees a whole
            batch of ground-truth boxes).
    """

    def __init__(self, variant: str, shapes: Sequence[Sequence[int]],
                 rest_shape: Optional[Sequence[int]] = None, pool: int = 1, fcn: int = 8,
                 depth: int = 128, upsample_depth: int = 32, grid=(20, 20), num_classes: int = 1,
                 boxes_per_branch: int = 30, **kwargs):
        super().__init__(**kwargs)
        self.variant = str(variant)
        self.shapes = [tuple(int(v) for v in s) for s in shapes]
        self.rest_shape = None if rest_shape is None else tuple(int(v) for v in rest_shape)
        self.pool = int(pool)
        self.fcn = int(fcn)
        self.depth = int(depth)
        self.upsample_depth = int(upsample_depth)
        self.grid = (int(grid[0]), int(grid[1]))
        self.num_classes = int(num_classes)
        self.cap = int(boxes_per_branch)
        self.specs = variant_specs(self.variant, self.shapes, self.rest_shape, self.pool)
        self.steps = fcn_skip_steps(self.fcn)
        self.branches = [ISBBranch(fcn=self.fcn, depth=self.depth,
                                   upsample_depth=self.upsample_depth,
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

    def call(self, inputs, boxes_per_branch: Optional[int] = None,
             project_first: bool = False) -> List[BranchOutput]:
        """Run every branch.

        Args:
            inputs: dict with ``features`` [stride-32, -16, -8 (, -4) maps], ``windows``
                int32 [N, 4] (y0, x0, h, w) cells, ``batch_index`` int32 [N], ``valid`` bool [N].
            boxes_per_branch: slots per branch for this call (default: the layer's cap).
            project_first: apply each branch's skip 1x1 convs to the whole stride-16/8 maps
                and crop the 32-channel results (the single inference graph). A 1x1 conv and a
                crop, or a bilinear resample whose weights sum to one, commute, so the logits
                are the same while the crops carry 32 channels instead of hundreds. Not for
                crop-and-pool branches: a max-pool does not commute with a conv.

        Returns:
            One :class:`BranchOutput` per branch, in config order.
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
            projected = project_first and spec.pool == 1
            sources = [maps[0]] + [branch.skip[i](maps[i + 1]) if projected else maps[i + 1]
                                   for i in range(self.steps)]
            crops = []
            for i in range(self.steps + 1):
                crop = crop_windows(sources[i], slot_windows, slot_batch, crop_shape,
                                    LEVELS[i], resize=spec.resizes)
                if spec.pool > 1:
                    crop = tf.nn.max_pool2d(crop, spec.pool, spec.pool, "VALID")
                crops.append(crop)
            outputs.append(BranchOutput(branch(crops, projected=projected), slot_index,
                                        slot_valid, rank, slot_windows))
        return outputs

    def get_config(self):
        return {**super().get_config(), "variant": self.variant,
                "shapes": [list(s) for s in self.shapes],
                "rest_shape": None if self.rest_shape is None else list(self.rest_shape),
                "pool": self.pool, "fcn": self.fcn, "depth": self.depth,
                "upsample_depth": self.upsample_depth, "grid": list(self.grid),
                "num_classes": self.num_classes, "boxes_per_branch": self.cap}

    @classmethod
    def from_config(cls, config):
        return cls(**_legacy_isb(dict(config)))


@keras.saving.register_keras_serializable(package="ssd_isb")
class InstanceMasks(keras.layers.Layer):
    """Per-detection mask logits [N, S, S] and their windows, in detection order.

    Each branch's logits are resized to S x S; a detection's mask is the slot its branch gave
    it. A detection with no mask (no branch for its shape, or past the branch's cap) gets zero
    logits and an empty window (all zeros), which the runtime reads as "no mask".
    """

    def __init__(self, grid, mask_size: int, **kwargs):
        super().__init__(**kwargs)
        self.grid = (int(grid[0]), int(grid[1]))
        self.mask_size = int(mask_size)

    def call(self, inputs):
        """Put branch outputs back in detection order.

        Args:
            inputs: dict with ``logits`` and ``ranks`` (per branch, from the
                :class:`BranchOutput` s), ``windows`` int32 [N, 4], ``valid`` bool [N] and
                ``classes`` int32 [1, N] (1-based).

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
        if "branches" in inputs:  # a model saved before BranchOutput: positional lists
            inputs = {**inputs, "logits": [b[0] for b in inputs["branches"]],
                      "ranks": [b[3] for b in inputs["branches"]]}
        for logits, rank in zip(inputs["logits"], inputs["ranks"]):
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
        if num_classes == 1:  # a reshape: a [..., 0] slice is a costly STRIDED_SLICE in TFLite
            masks = tf.reshape(masks, [n, size, size])
        else:
            onehot = tf.one_hot(tf.maximum(classes - 1, 0), num_classes, dtype=masks.dtype)
            masks = tf.reduce_sum(masks * onehot[:, None, None, :], axis=-1)
        boxes = cells_to_normalized(windows, self.grid, xp=ops)
        boxes = tf.where(has_mask[:, None], boxes, tf.zeros_like(boxes))
        return masks[None], boxes[None]

    def get_config(self):
        return {**super().get_config(), "grid": list(self.grid), "mask_size": self.mask_size}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("isb", None)  # saved before the layers took scalars; unused here
        return cls(**config)
