"""Minimum-cost assignment: the optimum of every small matrix, pairs over the limit left
unmatched, empty sides."""

import itertools

import numpy as np

from ssd_isb.tracking.assignment import linear_assignment


def brute_force(cost):
    r, c = cost.shape
    if r <= c:
        return min(sum(cost[i, p[i]] for i in range(r))
                   for p in itertools.permutations(range(c), r))
    return min(sum(cost[p[j], j] for j in range(c)) for p in itertools.permutations(range(r), c))


def test_the_optimum_of_random_rectangular_matrices():
    rng = np.random.default_rng(0)
    for _ in range(200):
        r, c = (int(v) for v in rng.integers(1, 6, 2))
        cost = rng.random((r, c))
        matches, rows, cols = linear_assignment(cost, max_cost=2.0)
        assert len(matches) == min(r, c)
        assert abs(sum(cost[a, b] for a, b in matches) - brute_force(cost)) < 1e-9
        assert sorted(rows + [a for a, _ in matches]) == list(range(r))
        assert sorted(cols + [b for _, b in matches]) == list(range(c))


def test_pairs_over_the_limit_stay_unmatched():
    cost = np.array([[0.1, 0.9], [0.95, 0.97]])
    matches, rows, cols = linear_assignment(cost, max_cost=0.8)
    assert matches == [(0, 0)] and rows == [1] and cols == [1]
    # the limit never trades an allowed match for a cheaper total of forbidden ones
    cost = np.array([[0.5, 0.79], [0.0, 5.0]])
    matches, _, _ = linear_assignment(cost, max_cost=0.8)
    assert matches == [(0, 1), (1, 0)]


def test_empty_sides():
    assert linear_assignment(np.zeros((0, 3)), 1.0) == ([], [], [0, 1, 2])
    assert linear_assignment(np.zeros((2, 0)), 1.0) == ([], [0, 1], [])
