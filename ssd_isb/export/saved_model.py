"""The inference graph as a TF SavedModel with a static [1, H, W, 3] input."""

from __future__ import annotations

import contextlib
import io

import keras
import tensorflow as tf


def to_saved_model(model: keras.Model, path: str) -> str:
    """Export ``model`` (the batch-1 inference graph) with its ``serving_default`` signature.

    The input signature is static so TFLite and ONNX see fixed shapes everywhere.
    """
    _, h, w, c = model.input_shape
    spec = tf.TensorSpec((1, h, w, c), tf.float32, name="image")
    with contextlib.redirect_stdout(io.StringIO()):
        model.export(path, format="tf_saved_model", input_signature=[spec], verbose=False)
    return path
