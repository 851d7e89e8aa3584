"""Box bucketing per variant, caps and padding; the graph and numpy agree."""

import numpy as np
import pytest

from ssd_isb.core.branches import assign_branches, branch_slots, branch_specs
from ssd_isb.config import ISBConfig

SINGLE_SHAPES = [(7, 2), (6, 3), (6, 2), (5, 3), (5, 2), (4, 3), (4, 2), (3, 3), (3, 2), (3, 1),
                 (2, 2), (2, 1)]
THRESHOLDS = [(15, 10), (9, 4), (7, 3), (6, 3), (5, 2), (4, 2), (3, 2), (2, 2), (2, 1), (1, 1)]


def _assign(isb, shapes):
    hw = np.array(shapes, np.int32)
    specs = branch_specs(isb)
    return [specs[i].name if i >= 0 else None
            for i in assign_branches(hw[:, 0], hw[:, 1], specs)]


def test_single_branch_takes_everything():
    isb = ISBConfig(variant="single_branch", shapes=[(10, 10)], pool=2)
    assert _assign(isb, [(1, 1), (20, 20), (3, 17)]) == ["ISB_10x10"] * 3
    assert branch_specs(isb)[0].pool == 2


def test_single_shape_exact_only():
    isb = ISBConfig(variant="single_shape", shapes=SINGLE_SHAPES)
    assert _assign(isb, [(7, 2), (3, 1), (2, 7), (1, 1), (8, 3)]) == [
        "ISB_7x2", "ISB_3x1", None, None, None]


def test_single_shape_plus_rest_branch():
    isb = ISBConfig(variant="single_shape_plus", shapes=SINGLE_SHAPES, rest_shape=(14, 14))
    assert _assign(isb, [(7, 2), (2, 7), (1, 1), (20, 20), (2, 2)]) == [
        "ISB_7x2", "ISB_rest_14x14", "ISB_rest_14x14", "ISB_rest_14x14", "ISB_2x2"]


def test_multi_shape_smallest_containing_threshold():
    isb = ISBConfig(variant="multi_shape", shapes=THRESHOLDS)
    assert _assign(isb, [(1, 1), (2, 1), (1, 2), (3, 1), (3, 3), (8, 2), (8, 4), (10, 10),
                         (16, 3), (20, 20)]) == [
        "ISB_1x1", "ISB_2x1", "ISB_2x2", "ISB_3x2", "ISB_6x3", "ISB_9x4", "ISB_9x4",
        "ISB_15x10", "ISB_15x10", "ISB_15x10"]


def test_multi_shape_every_window_gets_a_branch():
    isb = ISBConfig(variant="multi_shape", shapes=THRESHOLDS)
    hh, ww = np.meshgrid(np.arange(1, 21), np.arange(1, 21), indexing="ij")
    a = assign_branches(hh.ravel(), ww.ravel(), branch_specs(isb))
    specs = branch_specs(isb)
    assert (a >= 0).all()
    for h, w, i in zip(hh.ravel(), ww.ravel(), a):
        th, tw = specs[i].shape
        fits = [s.shape for s in specs if h <= s.shape[0] and w <= s.shape[1]]
        if fits:  # smallest containing threshold
            assert (h <= th and w <= tw) and th * tw == min(a_ * b_ for a_, b_ in fits)
        else:  # the largest threshold, resized down
            assert (th, tw) == (15, 10)


def test_slots_cap_padding_and_order():
    assignment = np.array([0, 1, 0, 0, -1, 0, 1], np.int32)
    valid = np.array([True, True, True, True, True, False, True])
    idx, ok, rank = branch_slots(assignment, valid, 0, cap=2)
    assert idx.tolist()[:2] == [0, 2] and ok.tolist() == [True, True]
    assert rank.tolist()[:4] == [0, 7, 1, 2]  # box 3 is past the cap; box 5 is padding
    idx, ok, rank = branch_slots(assignment, valid, 1, cap=4)
    assert idx.tolist()[:2] == [1, 6] and ok.tolist() == [True, True, False, False]
    idx, ok, _ = branch_slots(assignment, valid, 1, cap=50)  # cap clipped to N
    assert len(idx) == len(assignment)


@pytest.mark.parametrize("variant", ["single_branch", "single_shape", "single_shape_plus",
                                     "multi_shape"])
def test_graph_matches_numpy(variant):
    import keras

    from ssd_isb.model.graph_ops import ops

    isb = {"single_branch": ISBConfig(variant="single_branch", shapes=[(10, 10)], pool=2),
           "single_shape": ISBConfig(variant="single_shape", shapes=SINGLE_SHAPES),
           "single_shape_plus": ISBConfig(variant="single_shape_plus", shapes=SINGLE_SHAPES,
                                          rest_shape=(14, 14)),
           "multi_shape": ISBConfig(variant="multi_shape", shapes=THRESHOLDS)}[variant]
    rng = np.random.default_rng(0)
    h, w = rng.integers(1, 21, (2, 300)).astype(np.int32)
    valid = rng.uniform(size=300) < 0.9
    specs = branch_specs(isb)
    ref = assign_branches(h, w, specs)
    got = keras.ops.convert_to_numpy(assign_branches(keras.ops.convert_to_tensor(h),
                                                     keras.ops.convert_to_tensor(w), specs,
                                                     xp=ops))
    np.testing.assert_array_equal(got, ref)
    for b in range(len(specs)):
        r_idx, r_ok, r_rank = branch_slots(ref, valid, b, 30)
        g_idx, g_ok, g_rank = (keras.ops.convert_to_numpy(t) for t in branch_slots(
            keras.ops.convert_to_tensor(ref), keras.ops.convert_to_tensor(valid), b, 30,
            xp=ops))
        np.testing.assert_array_equal(g_ok, r_ok)
        np.testing.assert_array_equal(g_idx[r_ok], r_idx[r_ok])
        np.testing.assert_array_equal(g_rank, r_rank)
