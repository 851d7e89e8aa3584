"""``keras.ops`` for the shared numpy/graph code, with three ops swapped for deployability.

The bucketing and box code in :mod:`ssd_isb.core.branches` and friends runs on numpy or on an ``xp``
namespace in the graph. ``keras.ops`` works except where its TensorFlow lowering does not export:

* ``argmin``: Keras bitcasts floats to order -0.0 (``BitwiseAnd``: no TFLite builtin); plain
  ``tf.argmin`` exports as TFLite ARG_MIN and ONNX ArgMin;
* ``argsort`` of float keys: ``tf.argsort`` becomes TopK (TFLite TOPK_V2, ONNX TopK);
* ``cumsum``: computed in float32 because TensorRT's ONNX CumSum takes FP32/FP16 only.
"""

from __future__ import annotations

import keras
import tensorflow as tf


class GraphOps:
    """``keras.ops`` with deployable ``argmin``, ``argsort`` and ``cumsum``."""

    def __getattr__(self, name):
        return getattr(keras.ops, name)

    @staticmethod
    def argmin(x, axis=-1):
        return tf.argmin(tf.cast(x, tf.float32), axis=axis, output_type=tf.int32)

    @staticmethod
    def argsort(x, axis=-1):
        return tf.argsort(tf.cast(x, tf.float32), axis=axis)

    @staticmethod
    def cumsum(x, axis=0):
        return tf.cast(tf.cumsum(tf.cast(x, tf.float32), axis=axis), x.dtype)


ops = GraphOps()
