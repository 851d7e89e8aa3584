"""Low-cost semantic person segmentation (thesis chapter 4): MobileNet-v1 + FCN or atrous.

* ``fcn`` (Long et al.): a 1x1 score conv on the stride-32 map; each skip step upsamples the
  scores 2x with a transposed conv (initialized bilinear) and adds a 1x1 score of the finer map
  (FCN-16: Conv2d_11, FCN-8: also Conv2d_5).
* ``atrous`` (DeepLab): the encoder's last strided blocks run at stride 1 with dilated depthwise
  convs (output stride 16 or 8); a 1x1 score conv on the last map, no decoder.

Both end, as in 4.2.1, in softmax over (background, person) and bilinear upsampling. The training
model stops at the logits (upsampled to the target resolution); the inference model outputs the
person probability at the input size, ``probability`` [1, H, W].
"""

from __future__ import annotations

from typing import Optional

import keras
import numpy as np
from keras import layers

from ..config import Config
from ..core.layer_names import STRIDE8, STRIDE16, STRIDE32
from .mobilenet import mobilenet_v1

NUM_CLASSES = 2  # background, person


def skip_steps(cfg: Config) -> int:
    """FCN skip steps of a semantic config (0 for the atrous and base networks)."""
    sem = cfg.semantic
    return {32: 0, 16: 1, 8: 2}[sem.stride] if sem.method == "fcn" else 0


def output_stride(cfg: Config) -> int:
    """Stride of the encoder's last map (32 unless atrous)."""
    return cfg.semantic.stride if cfg.semantic.method == "atrous" else 32


def bilinear_kernel(size: int, channels: int) -> np.ndarray:
    """A [size, size, channels, channels] transposed-conv kernel that upsamples each channel
    bilinearly (FCN's initialization)."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    og = np.ogrid[:size, :size]
    filt = (1 - abs(og[0] - center) / factor) * (1 - abs(og[1] - center) / factor)
    kernel = np.zeros((size, size, channels, channels), np.float32)
    for c in range(channels):
        kernel[:, :, c, c] = filt
    return kernel


def _score(x, name: str):
    return layers.Conv2D(NUM_CLASSES, 1, name=name, kernel_initializer="zeros")(x)


def semantic_logits(image, cfg: Config):
    """Logits [B, H/s, W/s, 2] at the decoder's output stride ``s`` from an RGB 0-255 image."""
    m, sem = cfg.model, cfg.semantic
    x = layers.Rescaling(1.0 / 128.0, offset=-1.0, name="preprocess")(image)
    ends = mobilenet_v1(x, m.depth_multiplier, output_stride(cfg), sem.last_rate)
    scores = _score(ends[STRIDE32], "score_stride32")
    for step, finer in enumerate((STRIDE16, STRIDE8)[:skip_steps(cfg)]):
        up = layers.Conv2DTranspose(
            NUM_CLASSES, 4, strides=2, padding="same", use_bias=False,
            kernel_initializer=keras.initializers.Constant(bilinear_kernel(4, NUM_CLASSES)),
            name=f"upsample_{step}")(scores)
        scores = layers.Add(name=f"fuse_{step}")([up, _score(ends[finer], f"score_{finer}")])
    return scores


def decoder_stride(cfg: Config) -> int:
    """Stride of :func:`semantic_logits` relative to the input."""
    return output_stride(cfg) // 2 ** skip_steps(cfg)


def build_semantic_net(cfg: Config) -> keras.Model:
    """The weights: image [B, H, W, 3] (RGB 0-255) -> logits [B, H/s, W/s, 2], ``s`` =
    :func:`decoder_stride`. The training and inference models wrap it."""
    h, w = cfg.model.input_size
    image = keras.Input((h, w, 3), name="image")
    return keras.Model(image, semantic_logits(image, cfg), name=f"semantic_net_{cfg.name}")


def build_semantic_training_model(cfg: Config, target_stride: int,
                                  net: Optional[keras.Model] = None) -> keras.Model:
    """image -> logits [B, H/t, W/t, 2], bilinearly resized to the targets' stride ``t``."""
    h, w = cfg.model.input_size
    net = net or build_semantic_net(cfg)
    image = keras.Input((h, w, 3), name="image")
    logits = net(image)
    if decoder_stride(cfg) != target_stride:
        logits = layers.Resizing(h // target_stride, w // target_stride,
                                 interpolation="bilinear", name="logits_resize")(logits)
    return keras.Model(image, logits, name=f"semantic_train_{cfg.name}")


@keras.saving.register_keras_serializable(package="ssd_isb")
class PersonChannel(layers.Layer):
    """Softmax probabilities [B, H, W, 2] -> the person channel [B, H, W]."""

    def call(self, probabilities):
        return probabilities[..., 1]


def build_semantic_inference_model(cfg: Config,
                                   net: Optional[keras.Model] = None) -> keras.Model:
    """Batch-1 graph: ``image`` [1, H, W, 3] (RGB 0-255) -> ``probability`` [1, H, W] of person
    (softmax, then bilinear upsampling to the input size, as in thesis 4.2.1)."""
    h, w = cfg.model.input_size
    net = net or build_semantic_net(cfg)
    image = keras.Input((h, w, 3), batch_size=1, name="image")
    probs = layers.Softmax(axis=-1, name="softmax")(net(image))
    if decoder_stride(cfg) != 1:
        probs = layers.Resizing(h, w, interpolation="bilinear", name="upsample_bilinear")(probs)
    person = PersonChannel(name="probability")(probs)
    return keras.Model(image, {"probability": person}, name=f"semantic_{cfg.name}")


def semantic_net_of(model: keras.Model) -> keras.Model:
    """The weights sub-model of a saved training or inference model."""
    for layer in model.layers:
        if layer.name.startswith("semantic_net_"):
            return layer
    raise ValueError(f"{model.name}: holds no semantic_net_* model")
