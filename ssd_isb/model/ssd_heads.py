"""SSD extra feature maps and box predictors (TF OD API ``ssd_mobilenet_v1`` layout).

Feature maps: Conv2d_11_pointwise, Conv2d_13_pointwise, then four 1x1 -> 3x3/2 pairs named
``Conv2d_13_pointwise_1_Conv2d_{i}_1x1_{d/2}`` / ``Conv2d_13_pointwise_2_Conv2d_{i}_3x3_s2_{d}``.
Each map has a 1x1 ``BoxPredictor_{k}_BoxEncodingPredictor`` and ``BoxPredictor_{k}_ClassPredictor``
(kernel size 1, as in the zoo model).
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

from keras import layers

from .mobilenet import KERNEL_INIT, conv_bn_relu6, scaled_depth

EXTRA_DEPTHS = (512, 256, 256, 128)


def extra_feature_maps(c32, depth_multiplier: float) -> List:
    """The four extra stride-2 feature maps on top of Conv2d_13_pointwise."""
    maps = []
    x = c32
    for i, depth in enumerate(EXTRA_DEPTHS, start=2):
        half = scaled_depth(depth // 2, depth_multiplier)
        full = scaled_depth(depth, depth_multiplier)
        x = conv_bn_relu6(x, layers.Conv2D(
            half, 1, use_bias=False, kernel_initializer=KERNEL_INIT, name=f"Conv2d_13_pointwise_1_Conv2d_{i}_1x1_{half}"))
        x = conv_bn_relu6(x, layers.Conv2D(
            full, 3, strides=2, padding="same", use_bias=False, kernel_initializer=KERNEL_INIT,
            name=f"Conv2d_13_pointwise_2_Conv2d_{i}_3x3_s2_{full}"))
        maps.append(x)
    return maps


def box_predictors(feature_maps: Sequence, anchors_per_layer: Sequence[int],
                   num_classes: int) -> Tuple:
    """Per-anchor box encodings [B, A, 4] and class logits [B, A, num_classes + 1].

    The predictors and what follows them are float32 even under a mixed-precision policy
    (``train.mixed_precision``): logits and box codes in float16 lose the small differences
    the losses and the NMS rank by."""
    boxes, classes = [], []
    f32 = {"dtype": "float32"}
    for k, (fmap, n) in enumerate(zip(feature_maps, anchors_per_layer)):
        b = layers.Conv2D(n * 4, 1, name=f"BoxPredictor_{k}_BoxEncodingPredictor", **f32)(fmap)
        c = layers.Conv2D(n * (num_classes + 1), 1, name=f"BoxPredictor_{k}_ClassPredictor",
                          **f32)(fmap)
        boxes.append(layers.Reshape((-1, 4), name=f"BoxPredictor_{k}_boxes", **f32)(b))
        classes.append(layers.Reshape((-1, num_classes + 1), name=f"BoxPredictor_{k}_classes",
                                      **f32)(c))
    box_encodings = layers.Concatenate(axis=1, name="box_encodings", **f32)(boxes)
    class_logits = layers.Concatenate(axis=1, name="class_logits", **f32)(classes)
    return box_encodings, class_logits
