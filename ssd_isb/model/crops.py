"""Static-shape crops of encompassing windows from the stride-32/16/8 feature maps.

No RoIAlign and no ``crop_and_resize`` (Flex ops in TFLite, a Loop in ONNX): a crop is one
``tf.gather`` of flat pixel indices, which stays a builtin op in TFLite fp32/fp16/int8. Resizing
branches sample the window bilinearly with four such gathers (half-pixel centres, clamped to the
window, at the sample positions of :func:`ssd_isb.runtime.crops.resize_samples`); a window
already of the target shape reads exactly its cells.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from ..runtime.crops import resize_samples
from .graph_ops import ops


def _flat_index(batch_index, ys, xs, height: int, width: int):
    """[K, Ty, Tx] flat indices into a [B * H * W, C] view of the map."""
    return (batch_index[:, None, None] * (height * width)
            + ys[:, :, None] * width + xs[:, None, :])


def crop_windows(feature, windows, batch_index, out_shape: Sequence[int], level: int = 1,
                 resize: bool = False):
    """Crop cell windows from a feature map.

    Args:
        feature: [B, H, W, C] map whose stride is ``32 / level`` (level 1, 2, 4 or 8 for the
            stride-32, -16, -8 and -4 maps), so H = level x the stride-32 grid rows.
        windows: int32 [K, 4] (y0, x0, h, w) in stride-32 cells.
        batch_index: int32 [K] image of each window.
        out_shape: (th, tw) in stride-32 cells; the crop is [K, level*th, level*tw, C].
        level: map resolution relative to the stride-32 grid.
        resize: sample the window bilinearly to ``out_shape``; if False, read ``out_shape``
            cells from the window's top-left (the window must have that shape).

    Returns:
        [K, level * th, level * tw, C] crops, same dtype as ``feature``.
    """
    shape = feature.shape
    height, width, channels = int(shape[1]), int(shape[2]), int(shape[3])
    ty, tx = int(out_shape[0]) * level, int(out_shape[1]) * level
    flat = tf.reshape(feature, [-1, channels])
    windows = tf.cast(windows, tf.int32)
    y0 = windows[:, 0] * level
    x0 = windows[:, 1] * level
    if not resize:
        ys = y0[:, None] + tf.range(ty, dtype=tf.int32)[None, :]
        xs = x0[:, None] + tf.range(tx, dtype=tf.int32)[None, :]
        return tf.gather(flat, _flat_index(batch_index, ys, xs, height, width))

    wh = windows[:, 2] * level
    ww = windows[:, 3] * level
    # The sample positions are the runtime's (numpy two-stage crops): one recipe for both.
    ylo, yhi, fy = resize_samples(y0, wh, ty, xp=ops)
    xlo, xhi, fx = resize_samples(x0, ww, tx, xp=ops)
    # The weights in the feature's dtype (float16 under mixed precision).
    fy = tf.cast(fy[:, :, None, None], feature.dtype)
    fx = tf.cast(fx[:, None, :, None], feature.dtype)
    top = ((1.0 - fx) * tf.gather(flat, _flat_index(batch_index, ylo, xlo, height, width))
           + fx * tf.gather(flat, _flat_index(batch_index, ylo, xhi, height, width)))
    bottom = ((1.0 - fx) * tf.gather(flat, _flat_index(batch_index, yhi, xlo, height, width))
              + fx * tf.gather(flat, _flat_index(batch_index, yhi, xhi, height, width)))
    return (1.0 - fy) * top + fy * bottom
