"""Identity measures on sequences whose answer is known by hand."""

import numpy as np
import pytest

from ssd_isb.tracking.metrics import identity_measures

A = np.array([0, 0, 10, 20], np.float32)
B = np.array([50, 0, 60, 20], np.float32)


def test_one_id_throughout():
    truth = [{0: A, 1: B}] * 4
    m = identity_measures(truth, [{7: A, 9: B}] * 4)
    assert (m["id_switches"], m["fragmentations"], m["held_share"], m["matched"]) == (0, 0, 1, 1)
    assert m["people"][0]["ids"] == [7] and m["tracks"] == 2


def test_a_swap_a_gap_and_a_miss():
    truth = [{0: A}] * 6
    tracked = [{1: A}, {1: A}, {}, {2: A}, {2: A}, {1: A}]
    m = identity_measures(truth, tracked)
    assert m["id_switches"] == 2          # 1 -> 2, then 2 -> 1
    assert m["fragmentations"] == 1       # matched again after the empty frame
    assert m["held_share"] == pytest.approx(3 / 6)
    assert m["matched"] == pytest.approx(5 / 6, abs=1e-4)  # rounded to 4 places


def test_a_box_off_the_person_is_no_match():
    far = A + np.array([8, 0, 8, 0], np.float32)  # IoU 0.11
    m = identity_measures([{0: A}], [{1: far}])
    assert m["matched"] == 0 and m["held_share"] == 0


def test_frame_counts_must_agree():
    with pytest.raises(ValueError, match="2 frames of truth, 1 tracked"):
        identity_measures([{0: A}, {0: A}], [{1: A}])
