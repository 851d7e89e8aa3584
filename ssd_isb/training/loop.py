"""``ssd-isb train``: from a config (and imported weights) to checkpoints and a ``.keras`` model.

One Keras epoch is ``train.checkpoint_every`` optimizer updates (each accumulating
``gradient_accumulation_steps`` batches); a checkpoint (weights and optimizer state, written
atomically) follows every epoch. ``resume=True`` reloads the last one and restarts the data
stream exactly where that epoch ended, so the run continues at the same step, learning rate and
optimizer state after any kill.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from typing import Dict, List, Optional

import numpy as np
import yaml

from ..config import Config
from ..data import load_datasets
from ..data.coco import ImageRecord
from ..utils.errors import SSDISBError
from ..utils.files import check_writable, write_json
from ..core.layer_names import backbone_block, is_backbone

log = logging.getLogger("ssd_isb.train")


class TrainingError(SSDISBError, RuntimeError):
    """Training cannot start or had to stop (bad data, non-finite loss, wrong resume)."""


def dedupe(records: List[ImageRecord], exclude: Optional[List[ImageRecord]] = None
           ) -> List[ImageRecord]:
    """Drop repeated images (COCO subsets share files) and any image of ``exclude``."""
    seen = {os.path.basename(r.file_name) for r in (exclude or [])}
    out = []
    for r in records:
        key = os.path.basename(r.file_name)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def choose_strategy(devices: Optional[List[str]] = None):
    """MirroredStrategy over the GPUs (or given devices) when there are several, else default."""
    import tensorflow as tf

    if devices is None:
        gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
        devices = gpus if len(gpus) > 1 else None
    if devices and len(devices) > 1:
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.get_strategy()


def make_strategy(kind: str = "auto", devices: Optional[List[str]] = None,
                  timeout_seconds: int = 0):
    """The ``tf.distribute`` strategy for ``--strategy`` (see :mod:`.cluster`).

    Args:
        kind: "auto" (several GPUs: mirrored, else default), "default", "mirrored" or
            "multi-worker" (the cluster from ``TF_CONFIG``).
        devices: MirroredStrategy's devices (default: every GPU).
        timeout_seconds: multi-worker: how long a collective waits for a lost worker
            (0: forever).
    """
    import tensorflow as tf

    if kind == "multi-worker":
        # Created before any other TensorFlow op: the collectives are configured at startup.
        options = tf.distribute.experimental.CommunicationOptions(
            timeout_seconds=float(timeout_seconds) if timeout_seconds else None)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    if kind == "default":
        return tf.distribute.get_strategy()
    return choose_strategy(devices)


class _StreamPositions:
    """A worker's data-stream position at each checkpointed epoch, on the shared workdir.

    The chief stores its own position in the checkpoint; the other workers' files let each
    resume where its own shard stopped (a worker that died before writing the last epoch's
    entry resumes at the nominal position: the same images, unless some were unreadable).
    """

    def __init__(self, path: str):
        self.path = path

    def read(self) -> Dict[str, int]:
        if not os.path.exists(self.path):
            return {}
        with open(self.path, encoding="utf-8") as fh:
            return json.load(fh)

    def write(self, epoch: int, position: int) -> None:
        from .callbacks import write_json_atomic

        data = self.read()
        data[str(epoch)] = int(position)
        write_json_atomic(self.path, data)


def freeze(model, cfg: Config) -> Dict[str, int]:
    """Apply the config's freezing; return how many layers each rule froze."""
    from keras import layers as kl

    counts = {"batch_norm": 0, "backbone": 0, "detector": 0}
    t = cfg.train
    for layer in model.detector.layers:
        if t.freeze_detector and layer.weights:
            layer.trainable = False
            counts["detector"] += 1
        elif t.freeze_backbone and is_backbone(layer.name) and not (
                t.train_backbone_from is not None
                and backbone_block(layer.name) >= t.train_backbone_from
                and not isinstance(layer, kl.BatchNormalization)):
            layer.trainable = False
            counts["backbone"] += 1
        elif t.freeze_batch_norm and isinstance(layer, kl.BatchNormalization):
            layer.trainable = False
            counts["batch_norm"] += 1
    return counts


def train(cfg: Config, workdir: str, init: Optional[str] = None, resume: bool = False,
          devices: Optional[List[str]] = None, verbose: int = 1,
          steps: Optional[int] = None, strategy: str = "auto") -> Dict:
    """Train a config; see the module docstring.

    Args:
        cfg: experiment config (``data`` must name training data).
        workdir: checkpoints, TensorBoard logs, the final ``model.keras``. With
            ``strategy="multi-worker"`` every worker is given the same workdir on a shared
            filesystem: the chief writes there, the others to ``workdir/.worker_<k>`` (removed
            at the end), and a restart reads the chief's checkpoint.
        init: detector weights from ``ssd-isb import-weights`` (ignored when resuming).
        resume: continue from ``workdir``'s last checkpoint.
        devices: devices for MirroredStrategy (default: all GPUs when more than one).
        verbose: Keras progress bar (1) or quiet (0).
        steps: override ``train.steps``.
        strategy: "auto", "default", "mirrored" or "multi-worker" (:mod:`.cluster`).

    Returns:
        Summary dict (steps, epochs, losses, times, data report), also written to
        ``workdir/summary.json``.
    """
    import keras

    from ..data.pipeline import ExampleStream, make_dataset
    from ..model import save_model
    from .callbacks import (
        CKPT_WEIGHTS,
        AtomicCheckpoint,
        EpochTimer,
        MaskImages,
        NonFiniteGuard,
        read_checkpoint_state,
    )
    from .cluster import parse_tf_config

    t = cfg.train
    total_steps = int(steps or t.steps)
    cluster = parse_tf_config(check_port=False) if strategy == "multi-worker" else None
    rank, workers = (cluster.index, cluster.size) if cluster else (0, 1)
    if cluster and t.calibrate_box_encoding:
        raise TrainingError("train.calibrate_box_encoding is one process' pass over the data: "
                            "train with it off, then run ssd-isb calibrate-boxes on model.keras")
    ckpt_dir = os.path.join(workdir, "checkpoints")
    # What this process writes: the chief's files in workdir, the others' in a temporary dir.
    own = workdir if rank == 0 else os.path.join(workdir, f".worker_{rank}")
    check_writable(workdir)  # a file, or a read-only place, fails before any work
    os.makedirs(own, exist_ok=True)
    state = read_checkpoint_state(ckpt_dir) if resume else None
    if resume and state is None:
        raise TrainingError(f"{workdir}: --resume given but there is no complete checkpoint")
    if not resume and read_checkpoint_state(ckpt_dir) is not None:
        raise TrainingError(f"{workdir}: already holds a checkpoint; pass --resume to continue "
                            f"or use a new --workdir")
    dist = make_strategy(strategy, devices, t.worker_timeout_seconds)
    with open(os.path.join(own, "config.yaml"), "w", encoding="utf-8") as fh:
        yaml.safe_dump(cfg.to_dict(), fh, sort_keys=False)

    val_records, val_report = load_datasets(cfg, "val") if cfg.data.val else ([], None)
    train_records, train_report = load_datasets(cfg, "train")
    train_records = dedupe(train_records, exclude=val_records)
    val_records = dedupe(val_records)
    if workers > 1:
        # Each worker reads its own slice of the images: none decodes every one.
        train_records = train_records[rank::workers]
        val_records = val_records[rank::workers]
    if not train_records:
        raise TrainingError("no training images: check data.train in the config")
    log.info("train: %s", train_report.line())

    replicas = dist.num_replicas_in_sync
    if t.batch_size % replicas:
        raise TrainingError(f"train.batch_size {t.batch_size} does not split over {replicas} "
                            f"devices")
    acc = t.gradient_accumulation_steps
    # See SSDISBTrainer: optimizer-side accumulation cannot all-reduce under a strategy.
    in_step = acc if replicas > 1 or cluster else 1
    log.info("global batch %d images per update = train.batch_size %d x %d accumulated "
             "(%d replica(s) on %d worker(s), %d images per replica per update)",
             t.batch_size * acc, t.batch_size, acc, replicas, workers,
             t.batch_size * acc // replicas)
    policy = keras.mixed_precision.dtype_policy()
    if t.mixed_precision:
        keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(t.seed)  # branch initialization is reproducible
        with dist.scope():
            model, trainer, frozen = _build_trainer(cfg, replicas, in_step,
                                                    None if resume else init)
            initial_epoch = 0
            if state is not None:
                trainer.load_weights(os.path.join(ckpt_dir, CKPT_WEIGHTS))
                initial_epoch = int(state["epoch"])
    finally:
        keras.mixed_precision.set_dtype_policy(policy)

    # A Keras step is one micro-batch (optimizer accumulation) or a whole update (in-step).
    keras_batch = t.batch_size * in_step
    worker_batch = keras_batch // workers  # what this worker's pipeline yields per step
    micro_per_epoch = t.checkpoint_every * acc // in_step
    epochs = math.ceil(total_steps / t.checkpoint_every)
    stream = ExampleStream(train_records, cfg, training=True, seed=t.seed + rank)
    positions = _StreamPositions(os.path.join(ckpt_dir, f"stream_{rank}.json"))
    start = 0
    if state is not None:
        nominal = initial_epoch * micro_per_epoch * worker_batch
        start = int(state.get("stream_position", nominal)) if rank == 0 else \
            int(positions.read().get(str(initial_epoch), nominal))
    val_data = val_steps = None
    if val_records:
        val_stream = ExampleStream(val_records, cfg, training=False, seed=t.seed)
        val_steps = len(val_records) // worker_batch
        if workers > 1:  # every worker runs the same number of validation steps
            val_steps = (len(val_records) - workers + 1) // worker_batch
        if t.validation_batches:
            val_steps = min(val_steps, t.validation_batches)
        if val_steps < 1:
            raise TrainingError(f"{len(val_records)} validation images make no full batch of "
                                f"{worker_batch}")
    if cluster is None:
        dataset = make_dataset(stream, keras_batch, start=start)
        if val_records:
            val_data = make_dataset(val_stream, keras_batch, take_batches=val_steps)
    else:
        # One pipeline per worker, batched per replica (its GPUs draw from it in turn).
        def shard(s, take=None, begin=0):
            return lambda ctx: make_dataset(s, ctx.get_per_replica_batch_size(keras_batch),
                                            start=begin, take_batches=take)

        dataset = dist.distribute_datasets_from_function(shard(stream, begin=start))
        if val_records:
            per_replica_steps = val_steps * (replicas // workers)
            val_data = dist.distribute_datasets_from_function(shard(val_stream,
                                                                    per_replica_steps))

    def batch_ids(index: int) -> List[str]:
        chunk = stream.yielded[index * worker_batch:(index + 1) * worker_batch]
        return stream.image_ids(chunk)

    def stream_state(epoch: int) -> Dict:
        position = stream.position_after((epoch - initial_epoch) * micro_per_epoch
                                         * worker_batch)
        if rank:
            positions.write(epoch, position)
        return {"stream_position": position}

    guard = NonFiniteGuard(batch_ids)
    timer = EpochTimer()
    callbacks = [guard, timer,
                 AtomicCheckpoint(
                     os.path.join(own, "checkpoints"),
                     {"config": cfg.name, "batch_size": t.batch_size,
                      "micro_batches_per_epoch": micro_per_epoch, "workers": workers},
                     extra_state=stream_state),
                 keras.callbacks.TensorBoard(os.path.join(own, "logs"),
                                             update_freq=t.log_every)]
    if val_records and rank == 0:
        callbacks.append(MaskImages(os.path.join(workdir, "logs"),
                                    _overlay_fn(model, cfg), _sample_images(val_records, 3)))
    started = time.time()
    history = trainer.fit(dataset, epochs=epochs, initial_epoch=initial_epoch,
                          steps_per_epoch=micro_per_epoch, validation_data=val_data,
                          validation_steps=val_steps,
                          callbacks=callbacks, verbose=_fit_verbosity(verbose, micro_per_epoch),
                          shuffle=False)
    elapsed = time.time() - started
    if guard.failure:
        raise TrainingError(guard.failure)
    calibration = None
    if t.calibrate_box_encoding:
        from .box_calibration import calibrate_box_encoding

        calibration = calibrate_box_encoding(model, cfg, train_records)
    model_path = save_model(model.inference_model, os.path.join(own, "model.keras"), cfg,
                            params=model.count_params())
    done_epochs = len(history.history.get("loss", []))
    summary = {"steps": int(trainer.optimizer.iterations.numpy()), "epochs_run": done_epochs,
            "initial_epoch": initial_epoch, "seconds": elapsed,
            "seconds_per_epoch": elapsed / max(done_epochs, 1),
            "epoch_seconds": [round(x, 2) for x in timer.seconds],
            "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
            "train_images": len(train_records), "val_images": len(val_records),
            "skipped_images": stream.skipped, "frozen": frozen, "model": model_path,
            "replicas": replicas, "workers": workers, "worker_index": rank,
            "global_batch": t.batch_size * acc, "box_calibration": calibration}
    if workers > 1:
        summary["weights_fingerprint"] = weights_fingerprint(trainer)
    write_json(os.path.join(own, "summary.json"), summary)
    if rank:
        shutil.rmtree(own, ignore_errors=True)  # TensorFlow's rule: only the chief's stays
        summary["model"] = os.path.join(workdir, "model.keras")
    return summary


def weights_fingerprint(trainer) -> str:
    """A short hash of every trainable weight and the step: equal on workers in sync."""
    import hashlib

    h = hashlib.sha256(str(int(trainer.optimizer.iterations.numpy())).encode())
    for v in trainer.net.trainable_variables:
        h.update(np.ascontiguousarray(v.numpy()).tobytes())
    return h.hexdigest()[:16]


def _build_trainer(cfg: Config, replicas: int = 1, in_step: int = 1,
                   init: Optional[str] = None):
    """Model, compiled trainer (optimizer built, so a checkpoint loads) and frozen counts."""
    import keras

    from ..model import build_model
    from .trainer import SSDISBTrainer

    t = cfg.train
    acc = t.gradient_accumulation_steps
    model = build_model(cfg)
    if init and init.endswith(".keras"):
        _init_from_model(model, init)
    elif init:
        model.detector.load_weights(init)
    frozen = freeze(model, cfg)
    trainer = SSDISBTrainer(cfg, model, t.batch_size // replicas, in_step_accumulation=in_step)
    schedule = keras.optimizers.schedules.ExponentialDecay(
        t.learning_rate, t.decay_steps, t.decay_rate, staircase=True)
    # RMSProp as the TF OD API configures it for SSD (decay 0.9, momentum 0.9, eps 1.0).
    optimizer = keras.optimizers.RMSprop(
        schedule, rho=0.9, momentum=0.9, epsilon=1.0,
        gradient_accumulation_steps=acc if acc > 1 and in_step == 1 else None)
    if t.mixed_precision:
        # float16 gradients underflow without it; it skips the updates that overflow.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    trainer.compile(optimizer=optimizer)
    optimizer.build(trainer.net.trainable_variables)
    return model, trainer, frozen


def _init_from_model(model, path: str) -> None:
    """Start from a whole trained model (a shipped ``ssd_isb/zoo/*.keras``): detector and
    branches, e.g. to fine-tune on one's own data."""
    from ..config import ConfigError
    from ..model import load_model
    from .grow import grow_weights, source_config

    if not os.path.exists(path):
        raise TrainingError(f"{path}: no such model file")
    try:  # the model's sidecar says what it was built from: the weights must fit this config
        _, grows = source_config(path, model.config)
    except ConfigError as err:
        raise TrainingError(f"{path}: its layers do not match this config's: {err}") from None
    if grows:
        try:
            grown = grow_weights(model.inference_model, load_model(path))
        except ValueError as err:
            raise TrainingError(f"{path}: cannot grow into this config: {err}") from None
        log.info("grew %s into FCN-%d: %d weights copied, new (zero skip convs): %s", path,
                 model.config.isb.fcn, len(grown["copied"]), ", ".join(grown["new"]))
        return
    source = load_model(path)
    try:
        model.inference_model.set_weights(source.get_weights())
    except ValueError as err:
        raise TrainingError(f"{path}: its layers do not match this config's (train with the "
                            f"config the model was built from): {str(err)[:200]}") from None


def checkpoint_to_model(cfg: Config, workdir: str, output: str) -> str:
    """Write the inference ``.keras`` model of ``workdir``'s last checkpoint.

    For a run that was stopped (or is still going): its last complete checkpoint becomes a
    model ``evaluate`` and ``export`` take, without resuming the training.

    Raises:
        TrainingError: no complete checkpoint in ``workdir``.
    """
    from ..model import save_model
    from .callbacks import CKPT_WEIGHTS, read_checkpoint_state

    ckpt_dir = os.path.join(workdir, "checkpoints")
    state = read_checkpoint_state(ckpt_dir)
    if state is None:
        raise TrainingError(f"{workdir}: no complete checkpoint to export")
    model, trainer, _ = _build_trainer(cfg)
    trainer.load_weights(os.path.join(ckpt_dir, CKPT_WEIGHTS))
    return save_model(model.inference_model, output, cfg, params=model.count_params())


def calibrate_model_file(path: str, output: str, config: Optional[str] = None,
                         batch_size: int = 16, min_count: int = 30) -> Dict:
    """Calibrate a ``.keras`` model's box codes on its config's training data and write
    ``output`` (:mod:`ssd_isb.training.box_calibration`).

    Raises:
        UsageError: a path or number is not usable (checked before any work).
    """
    from ..config import load_config
    from ..data import load_datasets
    from ..utils.errors import check_range
    from ..utils.files import check_keras_paths
    from ..core.metadata import model_config
    from ..model import build_model, save_model
    from .box_calibration import calibrate_box_encoding

    check_keras_paths([path], output, "calibrated", " (calibrate-boxes takes a trained Keras "
                      "model; export it after calibrating)")
    check_range("--batch-size", batch_size, 1)
    check_range("--min-count", min_count, 1)
    cfg = model_config(path, load_config(config) if config else None)
    model = build_model(cfg)
    _init_from_model(model, path)
    records, _ = load_datasets(cfg, "train")
    report = calibrate_box_encoding(model, cfg, records, batch_size, min_count)
    save_model(model.inference_model, output, cfg, params=model.count_params())
    report["model"] = output
    return report


def _fit_verbosity(verbose: int, steps_per_epoch: int) -> int:
    """Keras' progress bar on a terminal for epochs worth a bar; one line per epoch when the
    output is a file or an epoch is a few steps (a bar of one step says nothing); 0: quiet."""
    if not verbose:
        return 0
    import sys

    return 1 if sys.stdout.isatty() and steps_per_epoch >= 10 else 2


INIT_SUFFIXES = (".keras", ".weights.h5")


def check_init(path: str) -> str:
    """Before TensorFlow starts: ``--init`` names an existing ``.keras`` model or detector
    ``.weights.h5`` (from ``ssd-isb import-weights``), whose file is what its name says.

    Raises:
        UsageError: one line naming the file and what is wrong.
    """
    from ..utils.errors import UsageError

    if not path.endswith(INIT_SUFFIXES):
        hint = (" (a .tflite zoo detector: convert it with ssd-isb import-weights first)"
                if path.endswith(".tflite") else "")
        raise UsageError(f"--init {path}: not a .keras model or detector .weights.h5{hint}")
    if not os.path.isfile(path):
        raise UsageError(f"--init {path}: no such file")
    with open(path, "rb") as fh:
        head = fh.read(8)
    # A .keras file is a zip archive, a .weights.h5 an HDF5 file: their magic numbers.
    magic = b"PK" if path.endswith(".keras") else b"\x89HDF\r\n\x1a\n"
    if not head.startswith(magic):
        raise UsageError(f"--init {path}: not a {'.keras (zip)' if magic == b'PK' else 'HDF5'} "
                         "file (damaged, or another format renamed)")
    return path


def resolve_config(config: Optional[str], init: Optional[str], workdir: str,
                   resuming: bool) -> Config:
    """The config a training run uses: ``config`` (a YAML path), else the ``init`` model's own
    (a ``.keras`` file describes itself; a given config must fit its layers), else the
    workdir's ``config.yaml`` when resuming or exporting a checkpoint.

    Raises:
        UsageError: none of the three is there.
        ConfigError: ``config`` does not fit the ``init`` model's layers.
    """
    from ..config import load_config
    from ..utils.errors import UsageError
    from .grow import source_config

    given = load_config(config) if config else None
    if init and init.endswith(".keras") and not resuming:
        return source_config(init, given)[0]  # e.g. an FCN-8 model starting an FCN-4 config
    saved = os.path.join(workdir, "config.yaml")
    if given is None and resuming and os.path.exists(saved):
        return load_config(saved)
    if given is None:
        raise UsageError("--config is required (or --init with a .keras model, which carries "
                         "its own config)")
    return given


def summary_line(summary: Dict, cfg: Config) -> str:
    """The one line ``ssd-isb train`` prints about a finished run."""
    losses = ", ".join(f"{k} {v[-1]:.4f}" for k, v in summary["history"].items()
                       if k in ("loss", "mask_loss", "val_loss", "val_mask_loss"))
    return (f"trained to step {summary['steps']} in {summary['seconds']:.0f} s "
            f"({summary['seconds_per_epoch']:.1f} s per {cfg.train.checkpoint_every}-step "
            f"epoch); {losses}; model -> {summary['model']}"
            + (f" (worker {summary['worker_index']} of {summary['workers']}, global batch "
               f"{summary['global_batch']}, weights {summary['weights_fingerprint']})"
               if summary.get("workers", 1) > 1 else ""))


def _sample_images(records: List[ImageRecord], n: int) -> List[np.ndarray]:
    from ..runtime.image_io import ImageError, read_image

    images = []
    for rec in records:
        if len(images) == n:
            break
        if not rec.persons:
            continue
        try:
            images.append(read_image(rec.path))
        except ImageError:
            continue
    return images


def _overlay_fn(model, cfg: Config):
    from ..runtime.draw import draw_segmentation
    from ..runtime.image_io import model_input
    from ..runtime.segmenter import decode_outputs

    def overlay(image_bgr: np.ndarray) -> np.ndarray:
        raw = model.inference_model(model_input(image_bgr, cfg.model.input_size), training=False)
        result = decode_outputs({k: np.asarray(v) for k, v in raw.items()}, image_bgr.shape[:2],
                                cfg.model.class_names, score_threshold=0.3)
        return draw_segmentation(image_bgr, result)

    return overlay
