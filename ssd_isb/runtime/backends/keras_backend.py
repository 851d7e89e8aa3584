"""Keras backend: runs a ``.keras`` inference model (imports TensorFlow, lazily)."""

from __future__ import annotations

import os
from typing import Dict

import numpy as np

from ...metadata import MetadataError, ModelMetadata, read_sidecar
from .base import Backend, BackendError


class KerasBackend(Backend):
    """A ``.keras`` file saved by :func:`ssd_isb.model.save_model`, run under ``tf.function``."""

    name = "keras"

    def __init__(self, path, meta=None, threads=None):
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        import tensorflow as tf

        if threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(int(threads))
                tf.config.threading.set_inter_op_parallelism_threads(1)
            except RuntimeError:  # already initialized in this process; keep its setting
                pass
        from ...model import load_model

        try:
            self.model = load_model(path)
        except (OSError, ValueError) as err:
            raise BackendError(f"{path}: cannot load Keras model ({err})") from None
        self._fn = tf.function(lambda x: self.model(x, training=False))
        super().__init__(path, meta=meta, threads=threads)

    def read_metadata(self, path: str) -> ModelMetadata:
        try:
            return read_sidecar(path)
        except MetadataError:
            # A model saved with plain model.save(): everything but class names is in the graph.
            _, h, w, _ = self.model.input_shape
            masks = self.model.output["masks"].shape
            return ModelMetadata(name=os.path.basename(path), variant="unknown",
                                 input_size=[int(h), int(w)], class_names=["person"],
                                 mask_size=int(masks[-1]), max_detections=int(masks[1]))

    def run(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        out = self._fn(np.asarray(image, dtype=np.float32))
        return self.check_outputs({k: np.asarray(v) for k, v in out.items()})
