"""MobileNet-v1 feature extractor with the TF Object Detection API's layer names.

Layer names follow ``FeatureExtractor/MobilenetV1/MobilenetV1/Conv2d_N_{depthwise,pointwise}``
with the scope dropped (Keras names cannot hold '/'): ``Conv2d_0``, ``Conv2d_1_depthwise``,
``Conv2d_1_pointwise``, ... and ``<conv>_BatchNorm`` for each batch norm, so pretrained weights
map one to one. Depths are ``max(int(d * depth_multiplier), 16)`` as in the TF OD API.
"""

from __future__ import annotations

from typing import Dict

import keras
from keras import layers

# (kind, stride, depth) of MobileNet-v1 conv layers 0..13.
CONV_DEFS = [("conv", 2, 32), ("ds", 1, 64), ("ds", 2, 128), ("ds", 1, 128), ("ds", 2, 256),
             ("ds", 1, 256), ("ds", 2, 512)] + [("ds", 1, 512)] * 5 + [("ds", 2, 1024),
                                                                     ("ds", 1, 1024)]
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.9997
MIN_DEPTH = 16
KERNEL_INIT = "he_normal"
# Keras counts a depthwise kernel's fan-in as 9 x channels; each output sees only 9 inputs.
DEPTHWISE_INIT = keras.initializers.RandomNormal(stddev=(2.0 / 9.0) ** 0.5)


def scaled_depth(depth: int, depth_multiplier: float) -> int:
    """TF OD API depth scaling."""
    return max(int(depth * depth_multiplier), MIN_DEPTH)


def conv_bn_relu6(x, conv: layers.Layer):
    """conv -> BatchNorm (named after the conv) -> ReLU6.

    Convs are built with He-normal kernels (see ``KERNEL_INIT``): with Glorot the signal of an
    untrained model dies out over 27 ReLU6 layers, leaving constant scores.
    """
    x = conv(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM,
                                  name=f"{conv.name}_BatchNorm")(x)
    return layers.ReLU(6.0, name=f"{conv.name}_relu6")(x)


def mobilenet_v1(x, depth_multiplier: float = 1.0, output_stride: int = 32,
                 last_rate: int = 1) -> Dict[str, keras.KerasTensor]:
    """Apply MobileNet-v1 up to Conv2d_13_pointwise.

    Args:
        x: normalized image tensor [B, H, W, 3] in [-1, 1].
        depth_multiplier: 1.0, 0.75, 0.5, ...
        output_stride: 32 (the classifier), or 16 / 8 (DeepLab): once the stride reaches it,
            later strided depthwise convs run at stride 1 and every later depthwise conv is
            dilated by the stride it skipped, so the weights and field of view are unchanged.
        last_rate: extra atrous rate of the last depthwise conv (Conv2d_13), thesis 4.2.

    Returns:
        Endpoints by TF OD API name; the ISB uses ``Conv2d_5_pointwise`` (stride 8),
        ``Conv2d_11_pointwise`` (stride 16) and ``Conv2d_13_pointwise`` (stride 32).
    """
    if output_stride not in (8, 16, 32):
        raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride}")
    endpoints = {}
    current, rate = 1, 1
    for i, (kind, stride, depth) in enumerate(CONV_DEFS):
        d = scaled_depth(depth, depth_multiplier)
        layer_rate = 1
        if kind == "ds":
            if current * stride > output_stride:  # atrous: keep the resolution
                layer_rate, rate, stride = rate, rate * stride, 1
            else:
                current *= stride
                layer_rate = rate
            if i == len(CONV_DEFS) - 1:
                layer_rate *= last_rate
        else:
            current *= stride
        if kind == "conv":
            name = f"Conv2d_{i}"
            x = conv_bn_relu6(x, layers.Conv2D(d, 3, strides=stride, padding="same",
                                               use_bias=False, kernel_initializer=KERNEL_INIT,
                                               name=name))
            endpoints[name] = x
            continue
        name = f"Conv2d_{i}_depthwise"
        x = conv_bn_relu6(x, layers.DepthwiseConv2D(
            3, strides=stride, padding="same", dilation_rate=layer_rate, use_bias=False,
            depthwise_initializer=DEPTHWISE_INIT, name=name))
        endpoints[name] = x
        name = f"Conv2d_{i}_pointwise"
        x = conv_bn_relu6(x, layers.Conv2D(d, 1, use_bias=False, kernel_initializer=KERNEL_INIT,
                                           name=name))
        endpoints[name] = x
    return endpoints
