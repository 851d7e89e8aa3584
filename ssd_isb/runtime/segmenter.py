"""``Segmenter``: a model file in, per-person boxes, scores and full-resolution masks out."""

from __future__ import annotations

from typing import Dict, Optional, Union

import numpy as np

from ..errors import check_range
from .backends import load_backend
from .boxes import normalized_to_pixels, pixels_to_normalized
from .image_io import model_input
from .mask_stage import MaskStage, StageOutput
from .paste import mask_limits, paste_masks
from .protocol import SegmenterBase
from .result import Segmentation

MAX_THREADS = 256  # more than any CPU here has; LiteRT segfaults far above it


class Segmenter(SegmenterBase):
    """Segment the people in images with any exported SSD-ISB model.

    A two-stage model runs its detect stage, then each branch once on the crops of the people
    it takes (:class:`~ssd_isb.runtime.mask_stage.MaskStage`): every detection at or above
    ``score_threshold`` gets its mask, and the time follows the number of people. A single-graph
    model runs its one graph (fixed branch slots).

    Args:
        model: ``.keras``, ``.tflite``, ``.onnx`` or ``.engine`` file (with its ``.json``
            sidecar); None: the shipped default model (:func:`ssd_isb.zoo.default_model_path`).
        backend: backend name; inferred from the file extension when None.
        threads: CPU threads for the backend.
        score_threshold: detections below this score are dropped.
        mask_threshold: mask logit threshold (default: the model's, 0.0 as in the thesis).
        mask_box_margin: each mask limited to its box grown by this fraction of the box's size;
            None: the whole encompassing window (thesis); "model" (default): the model's
            ``postprocess.mask_box_margin``.

    Example:
        >>> seg = Segmenter("model.tflite")
        >>> result = seg(cv2.imread("people.jpg"))   # BGR, any size
        >>> result.masks.shape                        # (K, H, W) bool
    """

    def __init__(self, model: Optional[str] = None, backend: Optional[str] = None,
                 threads: Optional[int] = None, score_threshold: float = 0.5,
                 mask_threshold: Optional[float] = None,
                 mask_box_margin: Union[float, None, str] = "model"):
        super().__init__()
        # LiteRT crashes the process (exit 139) when asked for 100,000 threads.
        check_range("--threads", threads, 1, MAX_THREADS)
        check_range("--score-threshold", score_threshold, 0.0, 1.0)
        if model is None:
            from ..zoo import default_model_path

            model = default_model_path()
        self.path = model
        self.backend = load_backend(model, backend, threads)
        self.meta = self.backend.meta
        self.name = self.backend.name
        self.class_names = list(self.meta.class_names)
        self.params = self.meta.params
        self.quantization = self.meta.quantization
        self.input_size = tuple(self.meta.input_size)
        self.score_threshold = float(score_threshold)
        self.mask_threshold = (self.meta.mask_threshold_logit if mask_threshold is None
                               else float(mask_threshold))
        self.mask_box_margin = (self.meta.mask_box_margin if mask_box_margin == "model"
                                else mask_box_margin)
        check_range("mask_box_margin", self.mask_box_margin, 0.0, 1.0)
        self.mask_stage = MaskStage(self.meta.branch_specs(), self.meta.grid,
                                    self.meta.skip_steps) if self.backend.two_stage else None

    def preprocess(self, pixels: np.ndarray, color: str):
        return model_input(pixels, self.input_size, color), None

    def infer(self, x: np.ndarray):
        if self.mask_stage is None:
            return self.backend.run(x)
        return self.mask_stage(self.backend.detect(x), self.backend.run_branch,
                               self.score_threshold)

    def segment_boxes(self, image, boxes: np.ndarray, color: str = "bgr") -> Segmentation:
        """Masks for given person boxes instead of detected ones (the branches given perfect
        detections: a box-prompted mask, e.g. for a human box without a mask).

        Args:
            image: a path or an image array (see :meth:`segment`).
            boxes: [K, 4] (x0, y0, x1, y1) pixels of the image.
            color: the array's channel order.

        Returns:
            A :class:`Segmentation` with those boxes (score 1) and their masks, in order.

        Raises:
            UsageError: a single-graph model (its branches run only on its own detections).
        """
        from ..errors import UsageError

        if self.mask_stage is None:
            raise UsageError(f"{self.path}: masks for given boxes need a two-stage model "
                             f"(export with the default --graph two-stage)")
        pixels, color = self.read(image, color)
        h, w = pixels.shape[:2]
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        x, _ = self.preprocess(pixels, color)
        detections = self.backend.detect(x)
        norm = pixels_to_normalized(boxes, (h, w))
        given = {**detections, "boxes": norm[None],
                 "scores": np.ones((1, len(norm)), np.float32),
                 "classes": np.ones((1, len(norm)), np.int32),
                 "count": np.array([len(norm)], np.int32)}
        out = self.mask_stage(given, self.backend.run_branch, 0.5)
        return decode_stages(out, (h, w), self.class_names, self.mask_threshold,
                             self.mask_box_margin)

    def track(self, image, tracker, color: str = "bgr") -> Segmentation:
        """The people of one video frame with their track IDs (:class:`ssd_isb.tracking.Tracker`).

        The detector's boxes down to the tracker's ``low_score`` go to the tracker (ByteTrack
        uses the low-scored ones); a two-stage model then computes masks only for the people
        tracked, so tracking costs no mask time for the boxes it drops (with mask similarity,
        every box needs its mask first).

        Args:
            image: a path or an image array (see :meth:`segment`).
            tracker: this stream's tracker.
            color: the array's channel order.

        Returns:
            The tracked people, ``track_ids`` set; ``last_timings`` has a ``track`` entry.
        """
        import dataclasses
        import time

        t0 = time.perf_counter()
        low = tracker.config.low_score
        boxes_only = self.mask_stage is not None and tracker.config.similarity == "box"
        if not boxes_only:
            kept = self.score_threshold
            self.score_threshold = min(kept, low)
            try:
                result = self.segment(image, color)
            finally:
                self.score_threshold = kept
            t1 = time.perf_counter()
            out = tracker(result)
            self.last_timings["track"] = (time.perf_counter() - t1) * 1e3
            self.last_timings["total"] = (time.perf_counter() - t0) * 1e3
            return out
        pixels, order = self.read(image, color)
        h, w = pixels.shape[:2]
        x, _ = self.preprocess(pixels, order)
        t1 = time.perf_counter()
        detections = self.backend.detect(x)
        boxes, scores, classes = self.mask_stage.keep(detections, low)
        n = len(boxes)
        t2 = time.perf_counter()
        tracked = tracker(Segmentation(
            boxes=normalized_to_pixels(boxes, (h, w)), scores=scores, class_ids=classes,
            masks=np.zeros((n, 1, 1), bool), has_mask=np.zeros(n, bool), image_size=(h, w),
            class_names=list(self.class_names)))
        t3 = time.perf_counter()
        idx = tracker.indices
        given = {**detections, "boxes": boxes[idx][None], "scores": scores[idx][None],
                 "classes": classes[idx][None], "count": np.array([len(idx)], np.int32)}
        out = self.mask_stage(given, self.backend.run_branch, 0.0)
        t4 = time.perf_counter()
        result = decode_stages(out, (h, w), self.class_names, self.mask_threshold,
                               self.mask_box_margin)
        t5 = time.perf_counter()
        # As :meth:`segment`'s stages (the branches are inference), plus the tracker's time.
        self.last_timings = {"preprocess": (t1 - t0) * 1e3,
                             "inference": (t2 - t1 + t4 - t3) * 1e3,
                             "track": (t3 - t2) * 1e3, "postprocess": (t5 - t4) * 1e3,
                             "total": (t5 - t0) * 1e3}
        return dataclasses.replace(result, track_ids=tracked.track_ids)

    def decode(self, raw, image_size, context=None) -> Segmentation:
        if isinstance(raw, StageOutput):
            return decode_stages(raw, image_size, self.class_names, self.mask_threshold,
                                 self.mask_box_margin)
        return decode_outputs(raw, image_size, self.class_names, self.score_threshold,
                              self.mask_threshold, self.mask_box_margin)


def decode_stages(out: StageOutput, image_size, class_names, mask_threshold: float = 0.0,
                  mask_box_margin: Optional[float] = None) -> Segmentation:
    """The two stages' output -> a :class:`Segmentation` at ``image_size`` (H, W): each mask's
    logits resized straight from the branch's resolution onto its window (limited to its box
    grown by ``mask_box_margin`` when given, :func:`~ssd_isb.runtime.paste.mask_limits`)."""
    height, width = int(image_size[0]), int(image_size[1])
    has_mask = (out.windows[:, 2] > out.windows[:, 0]) & (out.windows[:, 3] > out.windows[:, 1])
    return Segmentation(boxes=normalized_to_pixels(out.boxes, (height, width)),
                        scores=out.scores, class_ids=out.classes,
                        masks=paste_masks(out.logits, out.windows, (height, width),
                                          mask_threshold,
                                          mask_limits(out.boxes, mask_box_margin)),
                        has_mask=has_mask, image_size=(height, width),
                        class_names=list(class_names))


def decode_outputs(raw: Dict[str, np.ndarray], image_size, class_names,
                   score_threshold: float = 0.5, mask_threshold: float = 0.0,
                   mask_box_margin: Optional[float] = None) -> Segmentation:
    """Raw model outputs (the six heads) -> a :class:`Segmentation` at ``image_size`` (H, W)."""
    height, width = int(image_size[0]), int(image_size[1])
    count = int(np.asarray(raw["count"]).reshape(-1)[0])
    scores = np.asarray(raw["scores"], dtype=np.float32).reshape(-1)[:count]
    keep = np.nonzero(scores >= score_threshold)[0]
    boxes = np.asarray(raw["boxes"], dtype=np.float32).reshape(-1, 4)[keep]
    logits = np.asarray(raw["masks"], dtype=np.float32)
    logits = logits.reshape((-1,) + logits.shape[-2:])[keep]
    windows = np.asarray(raw["mask_windows"], dtype=np.float32).reshape(-1, 4)[keep]
    classes = np.asarray(raw["classes"]).reshape(-1)[keep].astype(np.int32)
    has_mask = (windows[:, 2] > windows[:, 0]) & (windows[:, 3] > windows[:, 1])
    return Segmentation(boxes=normalized_to_pixels(boxes, (height, width)), scores=scores[keep],
                        class_ids=classes,
                        masks=paste_masks(logits, windows, (height, width), mask_threshold,
                                          mask_limits(boxes, mask_box_margin)),
                        has_mask=has_mask, image_size=(height, width),
                        class_names=list(class_names))
