"""Keras backend: runs a ``.keras`` model (imports TensorFlow, lazily)."""

from __future__ import annotations

import os
from typing import Dict, List

import numpy as np

from ...utils.errors import require
from ...core.metadata import MetadataError, ModelMetadata, read_sidecar
from .base import Backend, BackendError


class KerasBackend(Backend):
    """A ``.keras`` file saved by :func:`ssd_isb.model.save_model`.

    Its sidecar says how to run it: as the two stages (the layers of the saved single graph,
    regrouped: :func:`ssd_isb.export.stages.stage_models`; every detection gets its mask, as
    with an exported two-stage file) or as the saved single graph under ``tf.function``.
    """

    name = "keras"

    def __init__(self, path, meta=None, threads=None):
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        tf = require("tensorflow", "train", f"{path} (a .keras model)")
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
        super().__init__(path, meta=meta, threads=threads)
        if self.two_stage:
            from ...config import from_dict
            from ...export.stages import KerasStages, features_model, stage_models

            cfg = from_dict(self.meta.config, source=path)
            detect, branches, _ = stage_models(self.model, cfg, self.meta.max_detections)
            # A .keras model always has its backbone: the features stage is built from it.
            self.stages = KerasStages(detect, branches, features_model(self.model, cfg))
        else:
            self._fn = tf.function(lambda x: self.model(x, training=False))

    def read_metadata(self, path: str) -> ModelMetadata:
        try:
            meta = read_sidecar(path)
        except MetadataError:
            # A model saved with plain model.save(): everything but class names is in the graph.
            _, h, w, _ = self.model.input_shape
            masks = self.model.output["masks"].shape
            return ModelMetadata(name=os.path.basename(path), variant="unknown",
                                 input_size=[int(h), int(w)], class_names=["person"],
                                 mask_size=int(masks[-1]), max_detections=int(masks[1]))
        if meta.two_stage and not meta.config:
            raise BackendError(f"{path}: a two-stage .keras model needs its config in the "
                               f"sidecar")
        return meta

    def run(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        if self.two_stage:
            return super().run(image)
        out = self._fn(np.asarray(image, dtype=np.float32))
        return self.check_outputs({k: np.asarray(v) for k, v in out.items()})

    def detect(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        if not self.two_stage:
            return super().detect(image)
        return self.stages.detect(np.asarray(image, dtype=np.float32))

    @property
    def has_features(self) -> bool:
        return self.two_stage

    def features(self, images: np.ndarray) -> Dict[str, np.ndarray]:
        if not self.two_stage:
            return super().features(images)
        from ...core.stages import FEATURES, features_output

        out = self.stages.features(np.asarray(images, dtype=np.float32))
        return {k: out[features_output(k)] for k in FEATURES if features_output(k) in out}

    def run_branch(self, name: str, crops: List[np.ndarray]) -> np.ndarray:
        return self.stages.run_branch(name, crops)
