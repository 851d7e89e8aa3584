"""One instance segmentation branch (thesis 3.1.2, Figure 3.4).

A depthwise-separable 3x3 conv (depth 128) on the stride-32 crop, then per FCN skip step a 4x4
stride-2 transposed conv (depth 32) summed with a 1x1 conv of the same window cropped from the
stride-16 (FCN-16) and stride-8 (FCN-8) maps, then the 1x1 scoring conv (one logit per class).

The thesis upsamples bilinearly to the box size *before* the 1x1 scoring conv; both are linear
and bilinear weights sum to one, so scoring first and upsampling the logits afterwards (in the
graph's mask output and the runtime's paste) gives the same masks at a fraction of the cost.
This layout reproduces the thesis' parameter counts exactly: 247,073 per FCN-8 branch on
MobileNet-v1 1.0 (205,857 on 0.75), 24,640 fewer for FCN-16.

FCN-4 (not in the thesis) adds a third step from the stride-4 map (``Conv2d_3``), so masks are
emitted at stride 4. Its upsampling is bilinear, not a learned transposed conv: at stride 4 a
window has 4x the cells of stride 8 and the transposed conv would cost twice the skip conv
there; and its skip conv starts at zero, so an FCN-4 branch grown from a trained FCN-8 one
(``ssd-isb train --init``) starts with exactly its masks (relu6 leaves the already-clipped
upsampled features as they are, and the 1x1 scoring conv commutes with bilinear upsampling).
"""

from __future__ import annotations

import keras
from keras import layers

from ..config import fcn_skip_steps


@keras.saving.register_keras_serializable(package="ssd_isb")
class ISBBranch(keras.layers.Layer):
    """An ISB taking window crops [K, h, w, C] (and the 2x, 4x, 8x skip crops).

    Args:
        fcn: 32, 16, 8 or 4: number of skip steps 0, 1, 2 or 3.
        depth: depth of the separable 3x3 conv.
        upsample_depth: depth of the transposed convs and skip 1x1 convs.
        num_classes: mask logits per pixel.
    """

    def __init__(self, fcn: int = 8, depth: int = 128, upsample_depth: int = 32,
                 num_classes: int = 1, **kwargs):
        super().__init__(**kwargs)
        if fcn not in (4, 8, 16, 32):
            raise ValueError(f"{self.name}: fcn must be 4, 8, 16 or 32, got {fcn}")
        self.fcn = fcn
        self.depth = depth
        self.upsample_depth = upsample_depth
        self.num_classes = num_classes
        self.steps = fcn_skip_steps(fcn)
        self.separable = layers.SeparableConv2D(depth, 3, padding="same", activation="relu6",
                                                name="separable_3x3")
        self.upsample = [layers.Conv2DTranspose(upsample_depth, 4, strides=2, padding="same",
                                                name=f"transposed_{s}")
                         for s in ("16", "8")[:self.steps]]
        if self.steps > 2:
            self.upsample.append(layers.UpSampling2D(2, interpolation="bilinear",
                                                     name="bilinear_4"))
        self.skip = [layers.Conv2D(upsample_depth, 1, name=f"skip_{s}",
                                   **({"kernel_initializer": "zeros"} if s == "4" else {}))
                     for s in ("16", "8", "4")[:self.steps]]
        # float32 under a mixed-precision policy too: the mask logits the loss compares.
        self.score = layers.Conv2D(num_classes, 1, name="score", dtype="float32")

    def build(self, input_shape):
        shapes = list(input_shape)
        if len(shapes) != self.steps + 1:
            raise ValueError(f"{self.name}: FCN-{self.fcn} takes {self.steps + 1} crops "
                             f"(stride 32, 16, 8, 4), got {len(shapes)}")
        k, h, w, _ = shapes[0]
        self.separable.build(shapes[0])
        channels = self.depth
        for i in range(self.steps):
            self.upsample[i].build((k, h, w, channels))
            h, w, channels = 2 * h, 2 * w, self.upsample_depth
            expected = (h, w)
            if tuple(shapes[i + 1][1:3]) != expected:
                raise ValueError(f"{self.name}: skip crop {i + 1} has spatial shape "
                                 f"{tuple(shapes[i + 1][1:3])}, expected {expected}")
            self.skip[i].build(shapes[i + 1])
        self.score.build((k, h, w, channels))
        self.built = True

    def call(self, crops, projected: bool = False):
        """Logits of the crops; ``projected``: the skip crops already went through this
        branch's skip 1x1 convs (taken from projected maps, see ``MaskHead.call``)."""
        crops = list(crops)
        x = self.separable(crops[0])
        for i in range(self.steps):
            skip = crops[i + 1] if projected else self.skip[i](crops[i + 1])
            x = keras.ops.relu6(self.upsample[i](x) + skip)
        return self.score(x)

    def compute_output_shape(self, input_shape):
        k, h, w, _ = list(input_shape)[0]
        f = 2 ** self.steps
        return (k, h * f, w * f, self.num_classes)

    def get_config(self):
        return {**super().get_config(), "fcn": self.fcn, "depth": self.depth,
                "upsample_depth": self.upsample_depth, "num_classes": self.num_classes}
