"""``Segmenter``: a model file in, per-person boxes, scores and full-resolution masks out."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from ..utils.errors import check_range
from .backends import infer_backend, load_backend
from ..core.boxes import iou_matrix, normalized_to_pixels, pixels_to_normalized
from .image_io import ImageLike, model_input
from .mask_stage import MaskStage, StageOutput, View
from .merge import merge_passes
from .paste import mask_limits, paste_masks
from .protocol import SegmenterBase
from .regions import (Region, TileSpec, cut_by_edges, full_region, parse_tiles, tile_plan,
                      too_large)
from .result import Segmentation
from .threads import AutoThreads, parse_threads
from .zoom import ZoomSpec, parse_zoom, region_scale, zoom_targets

MAX_THREADS = 256  # more than any CPU here has; LiteRT segfaults far above it


@dataclass
class Frame:
    """One image on its way through a two-stage model: its pixels and the passes planned."""

    pixels: np.ndarray
    color: str
    regions: List[Region]
    inputs: List[np.ndarray]

    @property
    def size(self) -> Tuple[int, int]:
        return int(self.pixels.shape[0]), int(self.pixels.shape[1])


@dataclass
class Candidates:
    """The detections of a frame's passes, merged (before any mask).

    Attributes:
        boxes: float32 [K, 4] normalized yxyx of the image.
        scores, classes: [K].
        source: int [K], the pass each detection comes from (index into ``passes``).
        local: float32 [K, 4] the same boxes, normalized yxyx of their pass's region.
        passes: (region, the detect stage's outputs) per pass.
    """

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    source: np.ndarray
    local: np.ndarray
    passes: List[Tuple[Region, Dict[str, np.ndarray]]]

    def take(self, idx) -> "Candidates":
        idx = np.asarray(idx, np.int64)
        return Candidates(self.boxes[idx], self.scores[idx], self.classes[idx],
                          self.source[idx], self.local[idx], self.passes)


class Segmenter(SegmenterBase):
    """Segment the people in images with any exported SSD-ISB model.

    A two-stage model runs its detect stage on the frame (and, with ``tiles``, on tiles of it
    at its native aspect: people too small for the stretched frame are found there), merges the
    passes, then runs each branch once on the crops of all the people it takes
    (:class:`~ssd_isb.runtime.mask_stage.MaskStage`): every detection at or above
    ``score_threshold`` gets its mask, and the time follows the number of people. With
    ``zoom``, people the passes see small get a second look: a square around them, cut from
    the original image, gives their mask (and box). A single-graph model runs its one graph
    (fixed branch slots, no tiles or zoom).

    Args:
        model: ``.keras``, ``.tflite``, ``.onnx`` or ``.engine`` file (with its ``.json``
            sidecar); None: the shipped default model (:func:`ssd_isb.zoo.default_model_path`).
        backend: backend name; inferred from the file extension when None.
        threads: CPU threads for the backend; "auto": re-chosen from the measured frame
            times (:mod:`ssd_isb.runtime.threads`; LiteRT and ONNX Runtime).
        score_threshold: detections below this score are dropped.
        mask_threshold: mask logit threshold (default: the model's, 0.0 as in the thesis).
        mask_box_margin: each mask limited to its box grown by this fraction of the box's size;
            None: the whole encompassing window (thesis); "model" (default): the model's
            ``postprocess.mask_box_margin``.
        tiles: "auto" (default: a grid chosen from the frame's size and aspect,
            :func:`~ssd_isb.runtime.regions.tile_plan`), "off" (one pass) or a grid "RxC".
        zoom: "auto" (default), "off" or a context factor: the second look per person
            (:mod:`ssd_isb.runtime.zoom`).
        merge_iou: IoU above which detections of different passes are one person.
        tile_max: a tile answers only for people up to this fraction of its longer side
            (:mod:`ssd_isb.runtime.merge`).

    Example:
        >>> seg = Segmenter("model.tflite", tiles="auto", zoom="auto")
        >>> result = seg(cv2.imread("people.jpg"))   # BGR, any size
        >>> result.masks.shape                        # (K, H, W) bool
    """

    def __init__(self, model: Optional[str] = None, backend: Optional[str] = None,
                 threads: Optional[int] = None, score_threshold: float = 0.5,
                 mask_threshold: Optional[float] = None,
                 mask_box_margin: Union[float, None, str] = "model",
                 tiles: TileSpec = "auto", zoom: ZoomSpec = "auto", merge_iou: float = 0.4,
                 tile_max: float = 0.6):
        super().__init__()
        threads = parse_threads(threads)
        self.auto_threads = None
        if threads == "auto":
            # LiteRT and ONNX Runtime take their thread count when a model is opened: auto
            # reopens it with the count its frame times favour (runtime/threads.py).
            from ..zoo import resolve_model

            kind = backend or (infer_backend(resolve_model(model)) if model else "tflite")
            self.auto_threads = AutoThreads() if kind in ("tflite", "onnx") else None
            threads = self.auto_threads.current if self.auto_threads else None
        # LiteRT crashes the process (exit 139) when asked for 100,000 threads.
        check_range("--threads", threads, 1, MAX_THREADS)
        check_range("--score-threshold", score_threshold, 0.0, 1.0)
        check_range("merge_iou", merge_iou, 0.0, 1.0)
        check_range("tile_max", tile_max, 0.0, 1.0)
        self.tile_max = float(tile_max)
        self.tiles = parse_tiles(tiles)
        self.zoom = parse_zoom(zoom)
        self.merge_iou = float(merge_iou)
        if model is None:
            from ..zoo import default_model_path

            model = default_model_path()
        self.backend = load_backend(model, backend, threads)
        self.path = self.backend.path
        self.meta = self.backend.meta
        if self.meta.task == "semantic":
            from ..utils.errors import UsageError

            raise UsageError(f"{self.path}: a semantic model (one person map per image, no "
                             f"instances): use predict/evaluate --task semantic, or demo "
                             f"--blur-background / --replace-background")
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
        if self.mask_stage is None:
            if isinstance(self.tiles, tuple) or (self.zoom is not None and zoom != "auto"):
                from ..utils.errors import UsageError

                raise UsageError(f"{model}: tiles and zoom need a two-stage model (export it "
                                 f"with the default --graph two-stage)")
            self.tiles, self.zoom = "off", None  # auto: a single graph runs alone
        self.last_plan: List[Region] = []  # the passes of the last frame
        self.last_zoomed = 0  # second looks in the last frame

    @property
    def threads(self) -> Optional[int]:
        """The thread count the model runs with now."""
        return self.backend.threads

    def segment(self, image: ImageLike, color: str = "bgr") -> Segmentation:
        result = super().segment(image, color)
        self._retune()
        return result

    def _retune(self) -> None:
        """With ``threads="auto"``: time this frame, and reopen the model with the other
        thread count when the policy says so."""
        if self.auto_threads is None:
            return
        switch = self.auto_threads.observe(self.last_timings.get("total", 0.0))
        if switch is not None:
            self.backend = load_backend(self.path, self.backend.name, switch)

    def plan(self, image_size) -> List[Region]:
        """The passes a frame of ``image_size`` (H, W) gets: the frame, then its tiles."""
        if self.mask_stage is None:
            return [full_region(image_size)]
        return tile_plan(image_size, self.input_size, self.tiles, tile_max=self.tile_max)

    def preprocess(self, pixels: np.ndarray, color: str):
        if self.mask_stage is None:
            return model_input(pixels, self.input_size, color), None
        regions = self.plan(pixels.shape[:2])
        inputs = [r.model_input(pixels, self.input_size, color) for r in regions]
        return Frame(pixels, color, regions, inputs), None

    def infer(self, x):
        if self.mask_stage is None:
            return self.backend.run(x)
        if not isinstance(x, Frame):  # a bare model input: the frame it was made from
            return self.mask_stage(self.backend.detect(x), self.backend.run_branch,
                                   self.score_threshold)
        candidates = self.candidates(x, self.score_threshold)
        return self.masks(x, candidates)

    def candidates(self, frame: Frame, score_threshold: float) -> Candidates:
        """Every pass of the frame run and merged: the people found, before masks."""
        passes = [(r, self.backend.detect(x)) for r, x in zip(frame.regions, frame.inputs)]
        self.last_plan = list(frame.regions)
        boxes, scores, classes, source, local, cut = [], [], [], [], [], []
        for p, (region, detections) in enumerate(passes):
            b, s, c = self.mask_stage.keep(detections, score_threshold)
            boxes.append(region.to_image(b, frame.size))
            local.append(b)
            scores.append(s)
            classes.append(c)
            source.append(np.full(len(b), p, np.int64))
            cut.append(cut_by_edges(b, region, frame.size) | too_large(b, region.limit)
                       if region.kind == "tile" else np.zeros(len(b), bool))
        merged = Candidates(np.concatenate(boxes), np.concatenate(scores),
                            np.concatenate(classes), np.concatenate(source),
                            np.concatenate(local), passes)
        if len(passes) == 1:
            return merged
        return merged.take(merge_passes(merged.boxes, merged.scores, merged.source,
                                        np.concatenate(cut), self.merge_iou))

    def masks(self, frame: Frame, people: Candidates) -> StageOutput:
        """Masks for the given people: from the pass that found them, or from a second look.

        Returns:
            The people (boxes refined where a second look re-detected them) with their mask
            logits and windows, normalized to the image.
        """
        boxes = people.boxes.copy()
        n = len(boxes)
        views, owners, regions = [], [], []
        zoomed = np.zeros(n, bool)
        if self.zoom is not None and n:
            zoomed = self._second_looks(frame, people, boxes, views, owners, regions)
        for p, (region, detections) in enumerate(people.passes):
            members = np.nonzero((people.source == p) & ~zoomed)[0]
            if len(members):
                views.append(View(self.mask_stage.maps(detections), people.local[members],
                                  people.classes[members]))
                owners.append(members)
                regions.append(region)
        logits_by_view, windows_by_view = self.mask_stage.run(views, self.backend.run_branch)
        logits: List[np.ndarray] = [np.zeros((0, 0), np.float32)] * n
        windows = np.zeros((n, 4), np.float32)
        # A zoomed mask's own threshold, as an offset: one threshold binarizes every mask.
        shift = 0.0 if self.zoom is None or self.zoom.mask_threshold is None else (
            self.mask_threshold - self.zoom.mask_threshold)
        for members, region, view_logits, view_windows in zip(owners, regions, logits_by_view,
                                                                windows_by_view):
            has = (view_windows[:, 2] > view_windows[:, 0]) & (
                view_windows[:, 3] > view_windows[:, 1])
            windows[members[has]] = region.to_image(view_windows[has], frame.size)
            for j, k in enumerate(members):
                logits[k] = view_logits[j] + shift if region.kind == "zoom" and shift else (
                    view_logits[j])
        self.last_zoomed = int(zoomed.sum())
        return StageOutput(boxes, people.scores, people.classes, logits, windows)

    def _second_looks(self, frame: Frame, people: Candidates, boxes: np.ndarray, views: list,
                      owners: list, regions: list) -> np.ndarray:
        """Run the zoomed views of the people the policy picks; add their views (and refine
        ``boxes`` in place where re-detected). Returns bool [K]: who got one."""
        size = frame.size
        pixel_boxes = normalized_to_pixels(boxes, size)
        scales = np.array([region_scale(people.passes[p][0], self.input_size)
                           for p in people.source], np.float32)
        targets = zoom_targets(pixel_boxes, people.scores, scales, size, self.input_size,
                               self.zoom)
        zoomed = np.zeros(len(boxes), bool)
        if not targets:
            return zoomed
        batched = self.backend.has_features and not self.zoom.redetect
        side = int(self.zoom.size or min(self.input_size)) if batched else None
        if batched:
            # Every view in one call of the features stage: no SSD heads, no NMS.
            images = np.concatenate([r.model_input(frame.pixels, (side, side), frame.color)
                                     for _, r in targets])
            maps = self.backend.features(images)
            names = self.mask_stage.features
        for j, (k, region) in enumerate(targets):
            local = region.from_image(boxes[k:k + 1], size)
            if batched:
                views.append(View([maps[n][j] for n in names], local, people.classes[k:k + 1],
                                  grid=(side // 32, side // 32)))
            else:
                x = region.model_input(frame.pixels, self.input_size, frame.color)
                detections = self.backend.detect(x)
                if self.zoom.redetect:
                    found, _, _ = self.mask_stage.keep(detections, 0.0)
                    if len(found):
                        iou = iou_matrix(local, found)[0]
                        best = int(np.argmax(iou))
                        if iou[best] >= self.zoom.match_iou:
                            boxes[k] = region.to_image(found[best:best + 1], size)[0]
                            if self.zoom.mask_from == "match":
                                local = found[best:best + 1]
                views.append(View(self.mask_stage.maps(detections), local,
                                  people.classes[k:k + 1]))
            owners.append(np.array([k]))
            regions.append(region)
            zoomed[k] = True
        return zoomed

    def segment_boxes(self, image: ImageLike, boxes: np.ndarray,
                      color: str = "bgr") -> Segmentation:
        """Masks for given person boxes instead of detected ones (the branches given perfect
        detections: a box-prompted mask, e.g. for a human box without a mask).

        Each box takes its mask from the whole frame's pass, or from a second look when
        ``zoom`` is on and picks it (never re-detected: the box is given).

        Args:
            image: a path or an image array (see :meth:`segment`).
            boxes: [K, 4] (x0, y0, x1, y1) pixels of the image.
            color: the array's channel order.

        Returns:
            A :class:`Segmentation` with those boxes (score 1) and their masks, in order.

        Raises:
            UsageError: a single-graph model (its branches run only on its own detections).
        """
        from ..utils.errors import UsageError

        if self.mask_stage is None:
            raise UsageError(f"{self.path}: masks for given boxes need a two-stage model "
                             f"(export with the default --graph two-stage)")
        pixels, color = self.read(image, color)
        size = pixels.shape[:2]
        region = full_region(size)
        frame = Frame(pixels, color, [region], [region.model_input(pixels, self.input_size,
                                                                   color)])
        norm = pixels_to_normalized(np.asarray(boxes, np.float32).reshape(-1, 4), size)
        n = len(norm)
        people = Candidates(norm, np.ones(n, np.float32), np.ones(n, np.int32),
                            np.zeros(n, np.int64), norm,
                            [(region, self.backend.detect(frame.inputs[0]))])
        kept = self.zoom
        if kept is not None:
            self.zoom = dataclasses.replace(kept, redetect=False)
        try:
            out = self.masks(frame, people)
        finally:
            self.zoom = kept
        return decode_stages(out, size, self.class_names, self.mask_threshold,
                             self.mask_box_margin)

    def track(self, image: ImageLike, tracker: "ssd_isb.tracking.Tracker", color: str = "bgr") -> Segmentation:
        """The people of one video frame with their track IDs (:class:`ssd_isb.tracking.Tracker`).

        The detector's boxes down to the tracker's ``low_score`` go to the tracker (ByteTrack
        uses the low-scored ones); a two-stage model then computes masks (and second looks)
        only for the people tracked, so tracking costs no mask time for the boxes it drops
        (with mask similarity, every box needs its mask first).

        Args:
            image: a path or an image array (see :meth:`segment`).
            tracker: this stream's tracker.
            color: the array's channel order.

        Returns:
            The tracked people, ``track_ids`` set; ``last_timings`` has a ``track`` entry.
        """
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
        frame, _ = self.preprocess(pixels, order)
        t1 = time.perf_counter()
        people = self.candidates(frame, low)
        n = len(people.boxes)
        t2 = time.perf_counter()
        tracked = tracker(Segmentation(
            boxes=normalized_to_pixels(people.boxes, (h, w)), scores=people.scores,
            class_ids=people.classes, masks=np.zeros((n, 1, 1), bool),
            has_mask=np.zeros(n, bool), image_size=(h, w), class_names=list(self.class_names)))
        t3 = time.perf_counter()
        out = self.masks(frame, people.take(tracker.indices))
        t4 = time.perf_counter()
        result = decode_stages(out, (h, w), self.class_names, self.mask_threshold,
                               self.mask_box_margin)
        t5 = time.perf_counter()
        # As :meth:`segment`'s stages (the branches are inference), plus the tracker's time.
        self.last_timings = {"preprocess": (t1 - t0) * 1e3,
                             "inference": (t2 - t1 + t4 - t3) * 1e3,
                             "track": (t3 - t2) * 1e3, "postprocess": (t5 - t4) * 1e3,
                             "total": (t5 - t0) * 1e3}
        self._retune()
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
