"""Semantic person segmentation at run time (TF-free): a model file, or an instance model's
masks merged, to a :class:`~ssd_isb.runtime.person_map.PersonMap`.

Both follow :class:`~ssd_isb.runtime.protocol.SegmenterBase`'s read / preprocess / infer /
decode skeleton with per-stage ``last_timings``; ``decode`` returns a ``PersonMap`` instead of a
``Segmentation``.
"""

from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np

from ..utils.errors import UsageError
from .backends import load_backend
from .image_io import model_input
from .person_map import PersonMap
from .protocol import SegmenterBase


class SemanticSegmenter(SegmenterBase):
    """A ``model.task: semantic`` model (.keras, .tflite, .onnx, .engine) -> ``PersonMap``.

    Args:
        model: the model file (its sidecar says ``task: semantic``).
        backend: override the backend inferred from the file.
        threads: CPU threads.
        threshold: person probability threshold (default: the model's).

    Raises:
        UsageError: the model is an instance model (use :class:`InstanceUnion`).
    """

    def __init__(self, model: str, backend: Optional[str] = None,
                 threads: Optional[int] = None, threshold: Optional[float] = None):
        super().__init__()
        self.path = model
        self.backend = load_backend(model, backend, threads)
        self.meta = self.backend.meta
        if self.meta.task != "semantic":
            raise UsageError(f"{model}: an instance model, not a semantic one (its masks' union "
                             f"is used through InstanceUnion)")
        self.name = self.backend.name
        self.params = self.meta.params
        self.quantization = self.meta.quantization
        self.input_size = tuple(self.meta.input_size)
        self.threshold = float(self.meta.semantic_threshold if threshold is None else threshold)

    def preprocess(self, pixels: np.ndarray, color: str):
        return model_input(pixels, self.input_size, color), None

    def infer(self, x: np.ndarray):
        return self.backend.run(x)["probability"]

    def decode(self, raw, image_size: Tuple[int, int], context=None) -> PersonMap:
        prob = np.asarray(raw, np.float32).reshape(self.input_size)
        h, w = image_size
        if (h, w) != prob.shape:
            prob = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
        return PersonMap(np.clip(prob, 0.0, 1.0), self.threshold)


class InstanceUnion(SegmenterBase):
    """An instance segmenter's masks (score >= its threshold) merged into one ``PersonMap``:
    the background effects' fallback when no semantic model is at hand."""

    def __init__(self, segmenter: SegmenterBase):
        super().__init__()
        self.inner = segmenter
        self.name = segmenter.name
        self.params = segmenter.params
        self.quantization = segmenter.quantization
        self.input_size = segmenter.input_size

    def preprocess(self, pixels: np.ndarray, color: str):
        return (pixels, color), None

    def infer(self, model_input):
        pixels, color = model_input
        return self.inner.segment(pixels, color)

    def decode(self, raw, image_size, context=None) -> PersonMap:
        keep = [i for i, name in enumerate(raw.labels) if name == "person"]
        return PersonMap.from_masks(raw.masks[keep], image_size)


def person_segmenter(model: Optional[str] = None, backend: Optional[str] = None,
                     threads: Optional[int] = None, score_threshold: float = 0.5,
                     tiles="auto", zoom="auto") -> SegmenterBase:
    """A ``PersonMap`` source for any model file: semantic models directly, instance models
    (the shipped default when ``model`` is None) through the union of their masks."""
    if model is not None:
        from ..core.metadata import MetadataError, read_sidecar
        from ..zoo import resolve_model

        model = resolve_model(model)
        try:
            task = read_sidecar(model).task
        except MetadataError:
            task = "instance"
        if task == "semantic":
            return SemanticSegmenter(model, backend, None if threads == "auto" else threads)
    from .segmenter import Segmenter

    return InstanceUnion(Segmenter(model, backend, threads, score_threshold=score_threshold,
                                   tiles=tiles, zoom=zoom))
