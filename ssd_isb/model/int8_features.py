"""The backbone's feature maps as the int8 TFLite export computes them, for training the branches.

Full-integer TFLite quantizes the frozen MobileNet-v1 that feeds the branches: batch norm folded
into each conv, weights int8 per output channel (symmetric, +-127), every ReLU6 output int8 over
[0, 6] (256 levels: the converter fuses the ReLU6 and its calibrated range is the clip range),
the normalized input int8. After 27 such layers the stride-8/16/32 maps differ from the float
ones by ~10% RMS, and branches trained on float maps lose half their mask AP50 on them.

:class:`Int8Features` recomputes the three maps with exactly those roundings (straight-through
fake quantization), from the detector's own layers, so the branches can be trained on what the
deployed int8 model will feed them. With the detector frozen the quantized weights never change;
with it training they follow the float weights.
"""

from __future__ import annotations

from typing import Dict

import keras
import tensorflow as tf

from .mobilenet import BN_EPSILON, CONV_DEFS

RELU6_RANGE = (0.0, 6.0)
# The int8 ranges the converter gives the normalization (x / 128, then - 1) of 0-255 pixels,
# read off the exported models (x / 128: scale 0.011734, zero point -43; - 1: scale 1/128, zero
# point 0). The input rounding matters: with a plain [-1, 2] the simulated stride-32 map drifts
# twice as far from the real int8 one (tests/test_int8_features.py measures the match).
SCALED_RANGE = (-0.99736, 1.99472)
NORMALIZED_RANGE = (-1.0, 1.0 - 1.0 / 128.0)
STRIDE_ENDPOINTS = {"stride8": 5, "stride16": 11, "stride32": 13}


def fake_quant(x, lo: float, hi: float):
    """Asymmetric 8-bit rounding of ``x`` over [lo, hi] (zero exact), gradient straight through."""
    return tf.quantization.fake_quant_with_min_max_args(x, min=lo, max=hi, num_bits=8)


def quantize_per_channel(kernel, axis: int):
    """Symmetric int8 rounding per output channel (scale max|w| / 127), as TFLite stores convs."""
    reduce_axes = [a for a in range(len(kernel.shape)) if a != axis % len(kernel.shape)]
    scale = tf.reduce_max(tf.abs(kernel), axis=reduce_axes, keepdims=True) / 127.0
    scale = tf.where(scale > 0, scale, tf.ones_like(scale))
    return tf.clip_by_value(tf.round(kernel / scale), -127.0, 127.0) * scale


def fold_batch_norm(kernel, bn: keras.layers.BatchNormalization, depthwise: bool):
    """Kernel and bias of conv + (inference-mode) batch norm as one conv."""
    gamma = bn.gamma if bn.gamma is not None else 1.0
    beta = bn.beta if bn.beta is not None else 0.0
    factor = gamma / tf.sqrt(bn.moving_variance + BN_EPSILON)
    if depthwise:  # [kh, kw, C, 1]: channel axis 2
        folded = kernel * tf.reshape(factor, [1, 1, -1, 1])
    else:  # [kh, kw, Cin, Cout]
        folded = kernel * factor
    return folded, beta - bn.moving_mean * factor


class _Layers:
    """A plain holder Keras does not track."""

    def __init__(self, convs):
        self.convs = convs


class Int8Features(keras.layers.Layer):
    """Image [B, H, W, 3] (RGB 0-255) -> {stride8, stride16, stride32} as int8 TFLite computes them.

    Args:
        detector: the detector model whose MobileNet-v1 layers (``Conv2d_N[_depthwise|
            _pointwise]`` and their ``_BatchNorm``) are read; no weights of its own.
    """

    def __init__(self, detector: keras.Model, **kwargs):
        super().__init__(trainable=False, **kwargs)
        convs = {}
        for i, (kind, _, _) in enumerate(CONV_DEFS):
            names = [f"Conv2d_{i}"] if kind == "conv" else [f"Conv2d_{i}_depthwise",
                                                            f"Conv2d_{i}_pointwise"]
            for name in names:
                try:
                    convs[name] = (detector.get_layer(name),
                                   detector.get_layer(f"{name}_BatchNorm"))
                except ValueError:
                    raise ValueError(f"detector has no MobileNet-v1 layer {name} (and "
                                     f"{name}_BatchNorm) to simulate int8 features") from None
        # Held outside Keras' tracking: the detector owns these weights (saving and
        # checkpoints must see them once).
        self._source = _Layers(convs)

    def _conv(self, x, name: str):
        conv, bn = self._source.convs[name]
        depthwise = isinstance(conv, keras.layers.DepthwiseConv2D)
        kernel = conv.kernel  # [kh, kw, C, 1] for a depthwise conv
        kernel, bias = fold_batch_norm(kernel, bn, depthwise)
        kernel = quantize_per_channel(kernel, axis=2 if depthwise else 3)
        strides = [1, conv.strides[0], conv.strides[1], 1]
        padding = conv.padding.upper()
        if depthwise:
            y = tf.nn.depthwise_conv2d(x, kernel, strides, padding)
        else:
            y = tf.nn.conv2d(x, kernel, strides, padding)
        return fake_quant(tf.clip_by_value(y + bias, *RELU6_RANGE), *RELU6_RANGE)

    def call(self, image) -> Dict[str, tf.Tensor]:
        x = fake_quant(tf.cast(image, tf.float32) / 128.0, *SCALED_RANGE)
        x = fake_quant(x - 1.0, *NORMALIZED_RANGE)
        out = {}
        for i, (kind, _, _) in enumerate(CONV_DEFS):
            if kind == "conv":
                x = self._conv(x, f"Conv2d_{i}")
            else:
                x = self._conv(self._conv(x, f"Conv2d_{i}_depthwise"), f"Conv2d_{i}_pointwise")
            for key, index in STRIDE_ENDPOINTS.items():
                if index == i:
                    out[key] = x
        return out

    def compute_output_spec(self, image):
        b, h, w = image.shape[0], image.shape[1], image.shape[2]
        depths = {}
        for key, index in STRIDE_ENDPOINTS.items():
            conv, _ = self._source.convs[f"Conv2d_{index}_pointwise"]
            depths[key] = conv.filters
        strides = {"stride8": 8, "stride16": 16, "stride32": 32}
        return {k: keras.KerasTensor((b, h // s, w // s, depths[k]), dtype="float32")
                for k, s in strides.items()}


@keras.saving.register_keras_serializable(package="ssd_isb")
class MixFeatures(keras.layers.Layer):
    """Per image, the int8-simulated maps with probability ``fraction`` (training only), else the
    float maps, so the branches learn to segment from both the fp32 and the int8 exports."""

    def __init__(self, fraction: float, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.fraction = float(fraction)
        self.seed = int(seed)
        self.generator = keras.random.SeedGenerator(self.seed)

    def call(self, float_maps, int8_maps, training=False):
        if not training or self.fraction <= 0:
            return dict(float_maps)
        first = next(iter(float_maps.values()))
        pick = keras.random.uniform((tf.shape(first)[0],), seed=self.generator) < self.fraction
        pick = tf.reshape(pick, [-1, 1, 1, 1])
        return {k: tf.where(pick, int8_maps[k], v) for k, v in float_maps.items()}

    def get_config(self):
        return {**super().get_config(), "fraction": self.fraction, "seed": self.seed}
