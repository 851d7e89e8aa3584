"""Training callbacks: atomic checkpoints, the non-finite guard, mask images in TensorBoard."""

from __future__ import annotations

import json
import os
import time
from typing import Callable, List, Optional

import keras
import numpy as np

CKPT_WEIGHTS = "last.weights.h5"
CKPT_STATE = "last.json"


def write_json_atomic(path: str, data: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class AtomicCheckpoint(keras.callbacks.Callback):
    """After every epoch: weights + optimizer state, then the state file, each by rename.

    A process killed at any instant leaves either the previous complete checkpoint or the new
    one: the weights file is renamed into place before the state file that points at it.

    Args:
        directory: checkpoint folder.
        state: extra fields stored with every checkpoint (config name, batch layout, ...).
        extra_state: called at each checkpoint with the epoch just finished; its fields (e.g.
            the data stream position) are stored too.
    """

    def __init__(self, directory: str, state: Optional[dict] = None,
                 extra_state: Optional[Callable[[int], dict]] = None):
        super().__init__()
        self.directory = directory
        self.state = dict(state or {})
        self.extra_state = extra_state
        os.makedirs(directory, exist_ok=True)

    def on_epoch_end(self, epoch, logs=None):
        weights = os.path.join(self.directory, CKPT_WEIGHTS)
        tmp = os.path.join(self.directory, f"tmp-{epoch}.weights.h5")
        self.model.save_weights(tmp)
        os.replace(tmp, weights)
        optimizer = self.model.optimizer
        lr = optimizer.learning_rate
        extra = self.extra_state(epoch + 1) if self.extra_state else {}
        state = {**self.state, **extra, "epoch": epoch + 1, "step": int(optimizer.iterations.numpy()),
                 "learning_rate": float(np.asarray(lr)), "time": time.time(),
                 "logs": {k: float(v) for k, v in (logs or {}).items()}}
        write_json_atomic(os.path.join(self.directory, CKPT_STATE), state)


def read_checkpoint_state(directory: str) -> Optional[dict]:
    """The last complete checkpoint's state, or None."""
    path = os.path.join(directory, CKPT_STATE)
    if not os.path.exists(path) or not os.path.exists(os.path.join(directory, CKPT_WEIGHTS)):
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


class NonFiniteGuard(keras.callbacks.Callback):
    """Stop training at the first non-finite loss or gradient, naming the step and images.

    Args:
        batch_ids: maps the index of a training batch within this run to its image ids.
    """

    def __init__(self, batch_ids: Callable[[int], List[str]]):
        super().__init__()
        self.batch_ids = batch_ids
        self.batches = 0
        self.failure: Optional[str] = None

    def on_train_batch_end(self, batch, logs=None):
        index = self.batches
        self.batches += 1
        if logs and float(logs.get("nonfinite", 0.0)) > 0:
            step = int(self.model.optimizer.iterations.numpy())
            ids = self.batch_ids(index)
            self.failure = (f"non-finite loss or gradient at optimizer step {step} "
                            f"(batch {index} of this run); images: {', '.join(ids)}")
            self.model.stop_training = True


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds of each epoch (its updates and checkpoint; validation included)."""

    def __init__(self):
        super().__init__()
        self.seconds: List[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


class MaskImages(keras.callbacks.Callback):
    """Write overlays of the current model's masks on fixed validation images to TensorBoard."""

    def __init__(self, log_dir: str, segment: Callable[[np.ndarray], np.ndarray],
                 images: List[np.ndarray]):
        super().__init__()
        self.log_dir = log_dir
        self.segment = segment
        self.images = images
        self.writer = None

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        if not self.images:
            return
        if self.writer is None:
            self.writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "masks"))
        import cv2

        overlays = np.stack([cv2.resize(self.segment(img), (320, 240))[:, :, ::-1]
                             for img in self.images])
        step = int(self.model.optimizer.iterations.numpy())
        with self.writer.as_default():
            tf.summary.image("val/masks", overlays, step=step, max_outputs=len(overlays))
        self.writer.flush()
