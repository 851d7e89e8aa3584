"""The two-stage export: a detect stage and one stage per branch, from a trained model.

The stages share the trained layers: the ``detect`` stage is the detector with its decode and
NMS, returning the detections and the stride-32/16/8 (/4) maps; each branch stage is one ISB taking
any number of crops (a dynamic first dimension). Windows, bucketing and crops happen between
them in the TF-free runtime (:mod:`ssd_isb.runtime.mask_stage`), so the same numpy code feeds
the int8 calibration here and the branches at run time.
"""

from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..core.branches import BranchSpec, branch_specs
from ..config import Config
from ..core.stages import (DETECT, DETECTIONS, FEATURES_STAGE, LEVELS, crop_names, feature_names,
                      features_output, logits_name)

COMBINED = "combined"  # the one-graph endpoint ONNX is converted from (both stages side by side)


def stage_models(model, cfg: Config, max_detections: Optional[int] = None):
    """Keras models of the stages, sharing ``model``'s weights.

    Args:
        model: the single-graph inference model (a loaded ``.keras`` or a built one).
        cfg: its config.
        max_detections: NMS cap of the detect stage (default: the model's own).

    Returns:
        (detect model, {branch name: branch model}, branch specs).
    """
    import keras

    from ..model.postprocess import DetectionPostprocess

    size = tuple(cfg.model.input_size)
    detector = model.get_layer("detector")
    post_config = model.get_layer("postprocess").get_config()
    if max_detections:
        post_config["max_detections"] = int(max_detections)
    post = DetectionPostprocess.from_config(post_config)
    image = keras.Input((size[0], size[1], 3), batch_size=1, name="image")
    d = detector(image)
    detections = post(d["box_encodings"], d["class_logits"])
    outputs = dict(zip(DETECTIONS, detections))
    steps = cfg.isb.skip_steps
    outputs.update({k: d[k] for k in feature_names(steps)})  # only the maps branches read
    detect = keras.Model(image, outputs, name=DETECT)

    channels = [int(d[k].shape[-1]) for k in feature_names(steps)]
    specs = branch_specs(cfg.isb)
    branches = {}
    for spec, branch in zip(specs, model.get_layer("mask_head").branches):
        h, w = spec.shape
        crops = [keras.Input((h * LEVELS[i], w * LEVELS[i], channels[i]), name=name)
                 for i, name in enumerate(crop_names(spec.name, steps))]
        branches[spec.name] = keras.Model(crops, {logits_name(spec.name): branch(crops)},
                                          name=spec.name)
    return detect, branches, specs


def features_model(model, cfg: Config):
    """The features stage: any number of images of any size (multiples of 32) -> the maps the
    branches crop, and nothing else (no SSD heads, no NMS): what a second look per person
    needs (:mod:`ssd_isb.runtime.zoom`). Its layers are rebuilt on an input of free batch
    and size and take the trained detector's weights by name (the same backbone)."""
    import keras
    from keras import layers

    from ..model.builder import FEATURE_LAYERS
    from ..model.mobilenet import mobilenet_v1

    detector = model.get_layer("detector")
    image = keras.Input((None, None, 3), name="images")
    x = layers.Rescaling(1.0 / 128.0, offset=-1.0, name="preprocess")(image)
    ends = mobilenet_v1(x, cfg.model.depth_multiplier)
    names = feature_names(cfg.isb.skip_steps)
    features = keras.Model(image, {features_output(k): ends[FEATURE_LAYERS[k]] for k in names},
                           name=FEATURES_STAGE)
    for layer in features.layers:
        if layer.weights:
            layer.set_weights(detector.get_layer(layer.name).get_weights())
    return features


def _crop_specs(model, name: str):
    import tensorflow as tf

    return [tf.TensorSpec((None,) + tuple(t.shape[1:]), tf.float32, name=t.name.split(":")[0])
            for t in model.inputs]


def write_saved_model(detect, branches: Dict, path: str, combined: bool = False,
                      features=None) -> str:
    """The stages as one SavedModel with a signature each (``detect``, ``features`` when
    given, and the branch names); ``combined`` adds one signature taking the image, the
    features stage's images and every branch's crops at once (ONNX is converted from it: the
    stages side by side in one graph)."""
    import contextlib
    import io

    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(detect)
    image_spec = tf.TensorSpec(detect.inputs[0].shape, tf.float32, name="image")
    archive.add_endpoint(DETECT, lambda x: detect(x, training=False),
                         input_signature=[image_spec])
    images_spec = tf.TensorSpec((None, None, None, 3), tf.float32, name="images")
    if features is not None:
        archive.track(features)
        archive.add_endpoint(FEATURES_STAGE, lambda x: features(x, training=False),
                             input_signature=[images_spec])
    for name, m in branches.items():
        archive.track(m)
        archive.add_endpoint(name, (lambda mm: lambda *xs: mm(list(xs), training=False))(m),
                             input_signature=_crop_specs(m, name))
    if combined:
        order = list(branches)

        def run_all(x, *rest):
            out = dict(detect(x, training=False))
            crops = rest
            if features is not None:
                out.update(features(rest[0], training=False))
                crops = rest[1:]
            i = 0
            for name in order:
                n = len(branches[name].inputs)
                out.update(branches[name](list(crops[i:i + n]), training=False))
                i += n
            return out

        specs = [image_spec] + ([images_spec] if features is not None else []) + [
            s for name in order for s in _crop_specs(branches[name], name)]
        archive.add_endpoint(COMBINED, run_all, input_signature=specs)
    with contextlib.redirect_stdout(io.StringIO()):
        archive.write_out(path, verbose=False)
    return path


def representative_samples(detect_fn: Callable[[np.ndarray], Dict[str, np.ndarray]],
                           inputs: Iterable[np.ndarray], specs: Sequence[BranchSpec], grid,
                           skip_steps: int, score_threshold: float = 0.3,
                           min_per_branch: int = 8, seed: int = 0,
                           features_fn: Optional[Callable] = None, images=None,
                           ) -> List[Tuple[str, Dict[str, np.ndarray]]]:
    """int8 calibration data for every signature: each image for ``detect``, and for each
    branch the crops of that image's detections, made by the runtime's own crop code.

    A branch the detections rarely reach still gets ``min_per_branch`` samples: windows of its
    own shape at random places of real feature maps. With ``features_fn`` (the features
    stage) and ``images`` (the pixels of the inputs, in order), the features stage gets the
    zoomed views of each image's people, as the runtime cuts them
    (:func:`ssd_isb.runtime.zoom.zoom_targets`), and their branches the crops of those views.
    """
    from ..runtime.mask_stage import MaskStage

    stage = MaskStage(specs, grid, skip_steps)
    rng = np.random.default_rng(seed)
    samples: List[Tuple[str, Dict[str, np.ndarray]]] = []
    counts = {s.name: 0 for s in specs}
    maps_seen = []

    def add(spec, crops):
        samples.append((spec.name, dict(zip(crop_names(spec.name, skip_steps), crops))))
        counts[spec.name] += len(crops[0])

    pixels = iter(images) if images is not None else None
    for x in inputs:
        samples.append((DETECT, {"image": x}))
        detections = detect_fn(x)
        maps = stage.maps(detections)
        maps_seen.append(maps)
        boxes, scores, _ = stage.keep(detections, score_threshold)
        for spec, _, cells in stage.buckets(boxes):
            add(spec, stage.crops(maps, spec, cells))
        if features_fn is None or pixels is None:
            continue
        image = next(pixels)
        for local, view in zoomed_views(image, boxes, scores, x.shape[1:3]):
            samples.append((FEATURES_STAGE, {"images": view}))
            out = features_fn(view)
            view_maps = [np.asarray(out[features_output(k)])[0]
                         for k in feature_names(skip_steps)]
            for spec, _, cells in stage.buckets(local):
                add(spec, stage.crops(view_maps, spec, cells))
    for spec in specs:
        h, w = spec.shape
        while counts[spec.name] < min_per_branch:
            maps = maps_seen[rng.integers(len(maps_seen))]
            y0, x0 = rng.integers(0, grid[0] - h + 1), rng.integers(0, grid[1] - w + 1)
            add(spec, stage.crops(maps, spec, np.array([[y0, x0, h, w]])))
    return samples


def zoomed_views(image: np.ndarray, boxes: np.ndarray, scores: np.ndarray, input_size,
                 limit: int = 2):
    """(the person's box in the view, the view as a model input) for the first ``limit``
    people the runtime's zoom would look at again in one image (calibration data)."""
    from ..core.boxes import normalized_to_pixels
    from ..runtime.regions import full_region
    from ..runtime.zoom import AUTO, region_scale, zoom_targets

    size = image.shape[:2]
    scale = region_scale(full_region(size), input_size)
    targets = zoom_targets(normalized_to_pixels(boxes, size), scores,
                           np.full(len(boxes), scale, np.float32), size, input_size, AUTO)
    for k, region in targets[:limit]:
        yield (region.from_image(boxes[k:k + 1], size),
               region.model_input(image, input_size))


class KerasStages:
    """The stage models run in TensorFlow: the reference a two-stage export is checked
    against, and the source of its int8 calibration data."""

    def __init__(self, detect, branches: Dict, features=None):
        import tensorflow as tf

        self._detect = tf.function(lambda x: detect(x, training=False))
        self._features = None if features is None else tf.function(
            lambda x: features(x, training=False), reduce_retracing=True)
        self._branches = branches  # eager: K changes every call, and branches are small

    def detect(self, x: np.ndarray) -> Dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in self._detect(x).items()}

    def features(self, images: np.ndarray) -> Dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in self._features(images).items()}

    def run_branch(self, name: str, crops: List[np.ndarray]) -> np.ndarray:
        out = self._branches[name](list(crops), training=False)
        return np.asarray(next(iter(out.values())))
