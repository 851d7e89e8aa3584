"""The tf.data input pipeline.

Examples are made in Python with OpenCV (decoding JPEG/PNG, grayscale, alpha and CMYK alike)
and fed to ``tf.data`` with prefetching. The stream is a deterministic function of the seed and
the position: pass ``p`` visits the records in a permutation seeded by (seed, p), and example
``i`` of pass ``p`` is augmented with a generator seeded by (seed, p, i). A resumed training run
therefore sees exactly the batches the killed one would have seen next.

A corrupt or missing image is skipped with a one-line warning naming the file and counted in
:attr:`ExampleStream.skipped`.
"""

from __future__ import annotations

import logging
from typing import Dict, Iterator, List, Optional

import numpy as np

from ..config import Config, mask_target_stride
from ..runtime.image_io import ImageError
from .coco import DatasetError, ImageRecord
from .examples import ExampleMaker

log = logging.getLogger("ssd_isb.data")

FEATURES = ("image", "gt_boxes", "gt_valid", "record_index")
TARGETS = ("gt_masks", "gt_mask_weights", "cls_targets", "box_targets")


class ExampleStream:
    """An endless (training) or single-pass (validation) stream of examples.

    Args:
        records: image records.
        cfg: experiment config.
        training: shuffle and augment, repeat forever.
        seed: base seed.
        maker: what turns a record into an example (default: the instance
            :class:`ExampleMaker`; the semantic task passes its own).
    """

    def __init__(self, records: List[ImageRecord], cfg: Config, training: bool, seed: int = 0,
                 maker=None):
        if not records:
            raise DatasetError("no images to train or validate on (check data.train/data.val)")
        self.records = records
        self.cfg = cfg
        self.training = training
        self.seed = seed
        self.maker = maker or ExampleMaker(cfg, training)
        self.skipped = 0
        self.skipped_files: List[str] = []
        self.start = 0  # first example position (for resuming)
        self.yielded: List[int] = []  # record index of every example yielded, in order
        self.positions: List[int] = []  # stream position (records visited) of each of them

    def order(self, pass_index: int) -> np.ndarray:
        """Record order of one pass."""
        if not self.training:
            return np.arange(len(self.records))
        return np.random.default_rng([self.seed, pass_index]).permutation(len(self.records))

    def __iter__(self) -> Iterator[Dict[str, np.ndarray]]:
        n = len(self.records)
        position = self.start
        while True:
            pass_index, offset = divmod(position, n)
            order = self.order(pass_index)
            if self.maker.pool is not None:
                self.maker.pool.items.clear()  # the pool depends only on this pass
                self._replay(order, pass_index, offset)
            for i in range(offset, n):
                rec = self.records[order[i]]
                rng = np.random.default_rng([self.seed, pass_index, i])
                try:
                    example = self.maker.make(rec, rng, int(order[i]))
                except (ImageError, DatasetError, ValueError) as err:
                    self.skipped += 1
                    self.skipped_files.append(rec.path)
                    log.warning("skipping %s (%s); %d skipped so far", rec.path,
                                str(err).splitlines()[0], self.skipped)
                    continue
                self.yielded.append(int(order[i]))
                self.positions.append(pass_index * n + i)
                yield example
            position = (pass_index + 1) * n
            if not self.training:
                return

    def _replay(self, order: np.ndarray, pass_index: int, offset: int) -> None:
        """Refill the copy-paste pool as the examples before ``offset`` left it (resume)."""
        for i in range(offset):
            rng = np.random.default_rng([self.seed, pass_index, i])
            try:
                self.maker.make(self.records[order[i]], rng, int(order[i]))
            except (ImageError, DatasetError, ValueError):
                continue

    def position_after(self, examples: int) -> int:
        """Stream position to resume from after ``examples`` yielded examples were consumed."""
        if examples <= 0:
            return self.start
        return self.positions[examples - 1] + 1

    def image_ids(self, indices) -> List[str]:
        """``dataset/file_name`` of record indices (for error reports)."""
        return [f"{self.records[int(i)].dataset}/{self.records[int(i)].file_name}"
                for i in np.asarray(indices).reshape(-1)]


def signature(cfg: Config) -> Dict:
    """tf.TensorSpec of one example."""
    import tensorflow as tf

    h, w = cfg.model.input_size
    g = cfg.data.max_boxes
    m = mask_target_stride(cfg.train, cfg.isb)
    from ..core.anchors import generate_anchors

    a = len(generate_anchors(cfg.model.anchors, (h, w)))
    return {
        "image": tf.TensorSpec((h, w, 3), tf.float32),
        "gt_boxes": tf.TensorSpec((g, 4), tf.float32),
        "gt_valid": tf.TensorSpec((g,), tf.float32),
        "gt_masks": tf.TensorSpec((g, h // m, w // m), tf.float32),
        "gt_mask_weights": tf.TensorSpec((g,), tf.float32),
        "cls_targets": tf.TensorSpec((a,), tf.int32),
        "box_targets": tf.TensorSpec((a, 4), tf.float32),
        "record_index": tf.TensorSpec((), tf.int32),
    }


def make_dataset(stream: ExampleStream, batch_size: int, start: int = 0,
                 take_batches: Optional[int] = None):
    """Batched ``tf.data.Dataset`` of (features, targets) from a stream.

    Args:
        stream: the examples.
        batch_size: global batch size (the last incomplete batch is dropped: shapes are static).
        start: example position to start at (resume).
        take_batches: stop after this many batches.
    """
    import tensorflow as tf

    stream.start = start
    ds = tf.data.Dataset.from_generator(lambda: iter(stream),
                                        output_signature=signature(stream.cfg))
    ds = ds.map(lambda ex: ({k: ex[k] for k in FEATURES}, {k: ex[k] for k in TARGETS}))
    ds = ds.batch(batch_size, drop_remainder=True)
    if take_batches is not None:
        ds = ds.take(take_batches)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF)  # one generator; the strategy splits batches
    return ds.with_options(options).prefetch(2)
