"""``--threads auto`` (ssd_isb.runtime.threads): the count follows the measured frame times."""

import numpy as np
import pytest

from ssd_isb.utils.errors import UsageError
from ssd_isb.runtime.threads import AutoThreads, parse_threads


def _feed(policy, times_by_count, frames):
    """Frames timed as the current count runs them; returns the counts used, frame by frame."""
    used = []
    for _ in range(frames):
        used.append(policy.current)
        policy.observe(times_by_count[policy.current])
    return used


def test_an_idle_machine_keeps_every_core():
    policy = AutoThreads(choices=[2, 1], window=10, every=100)
    used = _feed(policy, {2: 5.5, 1: 7.0}, 400)
    assert used[0] == 2 and policy.best == 2
    assert used.count(1) <= 4 * 10  # the other count is only tried, a window at a time


def test_a_shared_cpu_moves_to_one_thread_and_back_when_it_is_free_again():
    policy = AutoThreads(choices=[2, 1], window=10, every=100)
    busy = _feed(policy, {2: 41.0, 1: 7.0}, 200)  # one busy process beside it
    assert policy.best == 1 and busy[-50:].count(1) >= 40
    _feed(policy, {2: 5.5, 1: 7.0}, 300)  # the neighbour is gone
    assert policy.best == 2


def test_a_small_difference_does_not_flip_it():
    policy = AutoThreads(choices=[2, 1], window=10, every=100, margin=0.1)
    _feed(policy, {2: 10.0, 1: 9.5}, 300)
    assert policy.best == 2


def test_parse_threads():
    assert parse_threads("auto") == "auto" and parse_threads("3") == 3
    assert parse_threads(None) is None and parse_threads(2) == 2
    with pytest.raises(UsageError, match="--threads"):
        parse_threads("many")


def test_the_segmenter_reopens_its_model_with_the_chosen_count(person_images):
    from ssd_isb.runtime import Segmenter

    seg = Segmenter(threads="auto", tiles="off", zoom="off")
    seg.auto_threads = AutoThreads(choices=[2, 1], window=3, every=1000)
    first = seg.threads
    results = [seg(person_images[0]) for _ in range(8)]
    assert seg.auto_threads.switches >= 1 and seg.threads in (1, 2)
    assert first == 2 or seg.auto_threads.choices == [1]
    # The same model whatever the count: the same people.
    for r in results[1:]:
        np.testing.assert_allclose(r.boxes, results[0].boxes, atol=1e-3)
