"""Person/background targets for the semantic task (TF-free): the union of the instance masks.

An image record goes through the instance pipeline's decoding and augmentation
(:class:`~ssd_isb.data.examples.ExampleMaker`), then its masks are merged: ``target`` is the
share of each target cell covered by a person (area-averaged at ``stride``), ``weight`` is 0
where the truth is unknown (COCO crowd regions, whose masks are not per person, and the boxes of
persons without a mask) and 1 elsewhere.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import cv2
import numpy as np

from ..config import Config
from .augment import resize
from .coco import ImageRecord
from .examples import ExampleMaker
from .pipeline import ExampleStream

TARGET_STRIDE = 2  # targets at half the input resolution: edges within a pixel or two


def person_union(masks: np.ndarray, weights: Optional[np.ndarray], shape) -> np.ndarray:
    """uint8 0/1 [H, W]: pixels of any person with a mask (weight > 0)."""
    out = np.zeros(shape, np.uint8)
    for i, m in enumerate(masks):
        if weights is None or weights[i] > 0:
            out |= m.astype(np.uint8)
    return out


def unknown_regions(ignore_boxes: np.ndarray, masks: np.ndarray,
                    weights: Optional[np.ndarray], shape) -> np.ndarray:
    """uint8 0/1 [H, W]: crowd boxes and the boxes of mask-less persons."""
    out = np.zeros(shape, np.uint8)
    h, w = shape
    boxes = [b for b in np.asarray(ignore_boxes, np.float32).reshape(-1, 4)]
    if weights is not None:
        for i, m in enumerate(masks):
            if weights[i] <= 0 and m.any():
                ys, xs = np.nonzero(m)
                boxes.append(np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]))
    for x0, y0, x1, y1 in boxes:
        x0, y0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
        out[y0:min(int(np.ceil(y1)), h), x0:min(int(np.ceil(x1)), w)] = 1
    return out


class SemanticExampleMaker:
    """``image`` RGB float32 [H, W, 3], ``target`` and ``weight`` float32 [H/s, W/s]."""

    pool = None  # no copy-paste pool to replay on resume

    def __init__(self, cfg: Config, training: bool, stride: int = TARGET_STRIDE):
        self.cfg = cfg
        self.training = training
        self.stride = stride
        self.inner = ExampleMaker(cfg, training)
        self.size = tuple(cfg.model.input_size)

    def make(self, record: ImageRecord, rng: Optional[np.random.Generator] = None,
             index: int = 0) -> Dict[str, np.ndarray]:
        """One example (raises ImageError / DatasetError for an unusable image); ``index``
        is unused (the instance maker's record index)."""
        from .augment import augment

        sample = self.inner.load(record)
        if self.training:
            sample = augment(sample, self.cfg.data.augment, rng or np.random.default_rng(),
                             self.size, None)
        else:
            sample = resize(sample, self.size)
        h, w = self.size
        union = person_union(sample.masks, sample.weights, (h, w))
        unknown = unknown_regions(sample.ignore, sample.masks, sample.weights, (h, w))
        th, tw = h // self.stride, w // self.stride
        target = cv2.resize(union.astype(np.float32), (tw, th), interpolation=cv2.INTER_AREA)
        weight = 1.0 - cv2.resize(unknown.astype(np.float32), (tw, th),
                                  interpolation=cv2.INTER_AREA)
        image = cv2.cvtColor(sample.image, cv2.COLOR_BGR2RGB).astype(np.float32)
        return {"image": image, "target": target, "weight": (weight > 0.5).astype(np.float32)}


def semantic_stream(records: List[ImageRecord], cfg: Config, training: bool, seed: int = 0,
                   stride: int = TARGET_STRIDE) -> ExampleStream:
    """The instance task's :class:`~ssd_isb.data.pipeline.ExampleStream` (deterministic in
    seed and position, resumable, a corrupt image skipped, warned and counted) making
    semantic examples."""
    return ExampleStream(records, cfg, training, seed,
                         maker=SemanticExampleMaker(cfg, training, stride))


def make_semantic_dataset(stream: ExampleStream, batch_size: int, start: int = 0):
    """Batched ``tf.data.Dataset`` of (image, [target, weight] stacked on the last axis)."""
    import tensorflow as tf

    h, w = stream.maker.size
    s = stream.maker.stride
    stream.start = start
    sig = {"image": tf.TensorSpec((h, w, 3), tf.float32),
           "target": tf.TensorSpec((h // s, w // s), tf.float32),
           "weight": tf.TensorSpec((h // s, w // s), tf.float32)}
    ds = tf.data.Dataset.from_generator(lambda: iter(stream), output_signature=sig)
    ds = ds.map(lambda ex: (ex["image"], tf.stack([ex["target"], ex["weight"]], axis=-1)))
    return ds.batch(batch_size, drop_remainder=True).prefetch(2)
