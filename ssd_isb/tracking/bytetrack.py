"""ByteTrack: a track ID per person across video frames (Zhang et al., ECCV 2022; TF-free).

Every detection counts, the low-scored ones too: a person half hidden behind another scores
low, and dropping that box is what breaks a track. Each frame, the Kalman-predicted tracks
are first matched to the confident detections, then the tracks left over to the low-scored
ones (which never start a track), and a track nobody matched is kept, lost, for
``lost_frames`` frames before it is dropped, so a short occlusion or a missed detection keeps
the ID. Written against the paper and its reference association (the ``supervision`` package
has one too, but brings scipy and matplotlib to the base install).

Similarity is box IoU of the predicted box, or with ``similarity="mask"`` the IoU of the
track's last mask (moved by its predicted motion) with each detection's mask, at a quarter of
the resolution.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from ..utils.errors import UsageError
from ..core.boxes import iou_matrix
from ..runtime.result import Segmentation
from .assignment import linear_assignment
from .kalman import BoxKalman

TRACKED, LOST = "tracked", "lost"
SHORT_GAP = 5  # frames a lost track is predicted by its filter, then by its observed path
HISTORY = 20  # observed boxes a track keeps for its coasting motion
MASK_STEP = 4  # masks are compared at 1/4 resolution: the IoU moves by ~1%, the cost by 16x


@dataclass
class TrackerConfig:
    """ByteTrack's settings (defaults: the paper's, with our score threshold).

    Attributes:
        high_score: detections at or above it are matched first and can start tracks.
        low_score: detections below ``high_score`` and at or above this are matched second.
        new_track_score: a confident detection nobody matched starts a track at or above this.
        match_iou: least similarity of the first association.
        low_match_iou: least similarity of the second (low-score) association.
        new_match_iou: least similarity that confirms a track started on the frame before.
        lost_frames: frames a track is kept unseen before it is dropped (ByteTrack: 30 at
            30 FPS, one second).
        similarity: "box" (IoU of the predicted boxes) or "mask" (IoU of the masks).
    """

    high_score: float = 0.5
    low_score: float = 0.1
    new_track_score: float = 0.6
    match_iou: float = 0.2
    low_match_iou: float = 0.5
    new_match_iou: float = 0.3
    lost_frames: int = 30
    similarity: str = "box"

    def __post_init__(self):
        if self.similarity not in ("box", "mask"):
            raise UsageError(f"tracker similarity: {self.similarity!r} is not box or mask")
        if not 0 <= self.low_score <= self.high_score <= 1:
            raise UsageError("tracker scores: need 0 <= low_score <= high_score <= 1 "
                             f"(got {self.low_score}, {self.high_score})")
        if self.lost_frames < 0:
            raise UsageError("tracker lost_frames: must be >= 0")


class Track:
    """One person's identity: its filter, state and last mask."""

    def __init__(self, track_id: int, box: np.ndarray, mask: Optional[np.ndarray],
                 frame: int, confirmed: bool):
        self.id = track_id
        self.kalman = BoxKalman(box)
        self.last_box = np.asarray(box, np.float32)  # before this frame's prediction
        self.expected = self.last_box  # this frame's predicted box
        self.mask = mask
        self.state = TRACKED
        self.confirmed = confirmed
        self.last_frame = frame
        self.start_frame = frame
        self.hits = 1
        self.history = deque([(frame, np.asarray(box, np.float64))], maxlen=HISTORY)

    def predict(self, frame: int) -> np.ndarray:
        """This frame's expected box (the filter's); a lost track also coasts (:meth:`coast`)."""
        box = self.kalman.predict(frozen_velocity=self.state != TRACKED)
        self.coasted = self.coast(frame) if self.state == LOST else box
        return box

    def coast(self, frame: int) -> np.ndarray:
        """Where a lost track would be now, from its observed boxes (as OC-SORT does rather
        than from the filter). A person walking into an occluder is seen as a shrinking box
        whose centre lags, and a filter fed those boxes carries the lag on; here only the
        boxes of the window's usual size (within 15% of its median width and height) give the
        path: a straight line through their centres, at their median size."""
        frames = np.array([f for f, _ in self.history], np.float64)
        boxes = np.stack([b for _, b in self.history])
        sizes = boxes[:, 2:] - boxes[:, :2]
        size = np.median(sizes, axis=0)
        whole = (np.abs(sizes - size) <= 0.15 * size).all(1)
        if whole.sum() < 2 or np.ptp(frames[whole]) == 0:
            return self.kalman.box
        centres = (boxes[whole, :2] + boxes[whole, 2:]) / 2
        t = frames[whole]
        slope = np.polyfit(t, centres, 1)  # [2 (slope, intercept), 2 (x, y)]
        centre = slope[0] * frame + slope[1]
        return np.concatenate([centre - size / 2, centre + size / 2]).astype(np.float32)

    def update(self, box: np.ndarray, mask: Optional[np.ndarray], frame: int) -> None:
        self.kalman.update(box)
        self.history.append((frame, np.asarray(box, np.float64)))
        self.expected = self.kalman.box
        self.mask = mask if mask is not None else self.mask
        self.state = TRACKED
        self.last_frame = frame
        self.hits += 1


def _small(mask: np.ndarray) -> np.ndarray:
    return mask[::MASK_STEP, ::MASK_STEP]


def _shifted(mask: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """The mask moved by (dx, dy) full-resolution pixels (on the 1/4 grid)."""
    sx, sy = int(round(dx / MASK_STEP)), int(round(dy / MASK_STEP))
    out = np.zeros_like(mask)
    h, w = mask.shape
    ys, yd = (slice(0, h - sy), slice(sy, h)) if sy >= 0 else (slice(-sy, h), slice(0, h + sy))
    xs, xd = (slice(0, w - sx), slice(sx, w)) if sx >= 0 else (slice(-sx, w), slice(0, w + sx))
    out[yd, xd] = mask[ys, xs]
    return out


def mask_iou_matrix(a: List[np.ndarray], b: List[np.ndarray]) -> np.ndarray:
    """IoU of two lists of equally sized binary masks -> [len(a), len(b)]."""
    if not a or not b:
        return np.zeros((len(a), len(b)))
    fa = np.stack([m.ravel() for m in a]).astype(np.float32)
    fb = np.stack([m.ravel() for m in b]).astype(np.float32)
    inter = fa @ fb.T
    union = fa.sum(1)[:, None] + fb.sum(1)[None, :] - inter
    return inter / np.maximum(union, 1.0)


class Tracker:
    """Give the people of successive frames of one video stable IDs.

    ``tracker(result)`` takes each frame's :class:`Segmentation` (made with a score threshold
    at or below ``low_score``, so the low-scored boxes are there) and returns the people being
    tracked in that frame, with ``track_ids`` set, best score first (``indices``: their rows
    in the input). IDs start at 1 and are never reused within a tracker; use one tracker per
    stream. :meth:`ssd_isb.runtime.Segmenter.track` runs the model and the tracker together,
    and computes masks only for the people tracked.

    Example:
        >>> seg, tracker = Segmenter(), Tracker()
        >>> for frame in frames:
        ...     people = seg.track(frame, tracker)
        ...     people.track_ids          # the same person keeps the same number

    Args:
        config: :class:`TrackerConfig` (default: ByteTrack's settings).
    """

    def __init__(self, config: Optional[TrackerConfig] = None, **overrides):
        self.config = dataclasses.replace(config or TrackerConfig(), **overrides)
        self.tracks: List[Track] = []
        self.frame = 0
        self.indices = np.zeros(0, np.int64)  # the last output's rows in the last input
        self._next_id = 1

    def _similarity(self, tracks: List[Track], boxes: np.ndarray, masks: List) -> np.ndarray:
        if not tracks or not len(boxes):
            return np.zeros((len(tracks), len(boxes)))
        sim = iou_matrix(np.stack([t.expected for t in tracks]), boxes)
        # A track lost for a few frames is where its filter says (people crossing: the filter
        # carries each on through the overlap); lost for longer, where its observed path says
        # (a long occlusion: the boxes an occluder cut fed the filter a drift).
        long_lost = [i for i, t in enumerate(tracks)
                     if t.state == LOST and self.frame - t.last_frame > SHORT_GAP]
        if long_lost:
            sim[long_lost] = iou_matrix(np.stack([tracks[i].coasted for i in long_lost]), boxes)
        if self.config.similarity == "mask" and masks:
            with_mask = [i for i, t in enumerate(tracks) if t.mask is not None]
            if with_mask:
                moved = []
                for i in with_mask:
                    t = tracks[i]
                    dx, dy = t.expected[:2] - t.last_box[:2]
                    moved.append(_shifted(t.mask, dx, dy))
                sim[with_mask] = 0.5 * (sim[with_mask] + mask_iou_matrix(moved, masks))
        return sim

    def _associate(self, tracks: List[Track], idx: np.ndarray, boxes: np.ndarray,
                   masks: List, least: float):
        sim = self._similarity(tracks, boxes[idx], [masks[i] for i in idx] if masks else [])
        matches, left_tracks, left_dets = linear_assignment(1.0 - sim, 1.0 - least)
        return ([(tracks[r], int(idx[c])) for r, c in matches], [tracks[r] for r in left_tracks],
                idx[left_dets] if len(idx) else idx)

    def __call__(self, result: Segmentation) -> Segmentation:
        cfg = self.config
        self.frame += 1
        boxes, scores = result.boxes, result.scores
        masks = [_small(m) for m in result.masks] if cfg.similarity == "mask" else []
        high = np.nonzero(scores >= cfg.high_score)[0]
        low = np.nonzero((scores < cfg.high_score) & (scores >= cfg.low_score))[0]

        pool = [t for t in self.tracks if t.confirmed]
        new = [t for t in self.tracks if not t.confirmed]
        for t in pool:
            t.last_box = t.expected
            t.expected = t.predict(self.frame)
        for t in new:
            t.last_box = t.expected = t.kalman.box
        owner = {}

        def take(pairs):
            for track, d in pairs:
                track.update(boxes[d], masks[d] if masks else None, self.frame)
                owner[d] = track

        first, left, left_high = self._associate(pool, high, boxes, masks, cfg.match_iou)
        take(first)
        still = [t for t in left if t.state == TRACKED]
        second, unseen, _ = self._associate(still, low, boxes, masks, cfg.low_match_iou)
        take(second)
        for t in unseen:
            t.state = LOST
        confirm, dropped, fresh = self._associate(new, left_high, boxes, masks,
                                                  cfg.new_match_iou)
        take(confirm)
        for t, _ in confirm:
            t.confirmed = True
        for d in fresh:
            if scores[d] >= cfg.new_track_score:
                # On the first frame there is nothing to confirm against: start confirmed.
                t = Track(self._next_id, boxes[d], masks[d] if masks else None, self.frame,
                          confirmed=self.frame == 1)
                self._next_id += 1
                self.tracks.append(t)
                if t.confirmed:
                    owner[int(d)] = t
        gone = {id(t) for t in dropped}
        self.tracks = [t for t in self.tracks if id(t) not in gone and
                       self.frame - t.last_frame <= cfg.lost_frames]

        shown = sorted((d for d, t in owner.items() if t.confirmed), key=lambda d: -scores[d])
        keep = np.asarray(shown, np.int64)
        self.indices = keep
        return dataclasses.replace(
            result, boxes=boxes[keep], scores=scores[keep], class_ids=result.class_ids[keep],
            masks=result.masks[keep], has_mask=result.has_mask[keep],
            track_ids=np.asarray([owner[d].id for d in shown], np.int64))

    @property
    def active(self) -> List[Track]:
        """The tracks seen in the last frame."""
        return [t for t in self.tracks if t.state == TRACKED and t.last_frame == self.frame]


def tracker_for(score_threshold: float, similarity: str = "box") -> Tracker:
    """ByteTrack at a user's score threshold: people at or above it are matched first, tracks
    start at +0.1 (ByteTrack's ``det_thresh``), and boxes down to 0.1 keep them."""
    return Tracker(TrackerConfig(high_score=score_threshold,
                                 low_score=min(0.1, score_threshold),
                                 new_track_score=min(score_threshold + 0.1, 1.0),
                                 similarity=similarity))
