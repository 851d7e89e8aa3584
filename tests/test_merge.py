"""Merging the passes over one frame, on synthetic cases with known answers
(ssd_isb.runtime.merge)."""

import numpy as np

from ssd_isb.runtime.merge import merge_passes, nms


def _yxyx(*boxes):
    return np.array(boxes, np.float32)


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = _yxyx([0, 0, 1, 1], [0, 0, 1, 0.9], [2, 2, 3, 3])
    kept = nms(boxes, np.array([0.6, 0.9, 0.5]), 0.5)
    assert list(kept) == [1, 2]
    assert list(nms(boxes[:0], np.zeros(0), 0.5)) == []


def test_one_person_seen_by_the_frame_and_a_tile_is_one_detection():
    boxes = _yxyx([0.1, 0.1, 0.5, 0.3], [0.11, 0.1, 0.52, 0.31])
    kept = merge_passes(boxes, np.array([0.55, 0.8]), passes=np.array([0, 1]),
                        cut=np.zeros(2, bool), iou_threshold=0.4)
    assert list(kept) == [1]  # the better-scored view of them


def test_two_people_of_one_pass_never_suppress_each_other():
    # Overlapping at IoU ~0.45 (a hug): the pass's own NMS kept both, the merge does too.
    a, b = [0.1, 0.1, 0.5, 0.3], [0.1, 0.18, 0.5, 0.38]
    boxes = _yxyx(a, b)
    kept = merge_passes(boxes, np.array([0.9, 0.8]), np.array([0, 0]), np.zeros(2, bool), 0.4)
    assert sorted(kept) == [0, 1]
    # The same two from different passes are one person.
    kept = merge_passes(boxes, np.array([0.9, 0.8]), np.array([0, 1]), np.zeros(2, bool), 0.4)
    assert list(kept) == [0]


def test_a_person_cut_by_a_tile_edge_comes_from_the_pass_that_sees_them_whole():
    whole = [0.2, 0.4, 0.8, 0.6]     # the frame pass: the whole person
    half = [0.2, 0.4, 0.8, 0.5]      # a tile cut at x = 0.5: half of them, scored higher
    small = [0.1, 0.1, 0.15, 0.12]   # a small person only the tile sees
    boxes = _yxyx(whole, half, small)
    kept = merge_passes(boxes, np.array([0.6, 0.9, 0.7]), np.array([0, 1, 1]),
                        cut=np.array([False, True, False]), iou_threshold=0.4)
    assert sorted(kept) == [0, 2]


def test_scores_are_kept_as_the_passes_gave_them():
    boxes = _yxyx([0, 0, 0.2, 0.1], [0.5, 0.5, 0.7, 0.6])
    scores = np.array([0.7, 0.3])
    kept = merge_passes(boxes, scores, np.array([1, 0]), np.zeros(2, bool))
    assert list(kept) == [0, 1] and list(scores[kept]) == [0.7, 0.3]
