"""Choosing branch shapes from data: the distribution of encompassing-window shapes and a greedy
search for the K thresholds (Multi-Shape) or exact shapes (Single-Shape) that cover it best.

The thesis picked its shapes by hand from Table 5.1; this replaces that with a stated objective:

* thresholds: each window goes to the smallest-area threshold containing it (as in the model)
  and costs ``log2(threshold area / window area)``, the bits of upsampling it undergoes; a window
  no threshold contains goes to the largest one and costs its downsampling plus one bit;
* exact shapes: coverage, the fraction of windows whose shape has a branch.

TF-free (numpy only).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np

from .encompassing import encompassing_windows

Shape = Tuple[int, int]


def window_shape_counts(boxes: np.ndarray, grid: Sequence[int]) -> Counter:
    """Count encompassing-window shapes (h, w) of normalized boxes [N, 4] on a grid."""
    if len(boxes) == 0:
        return Counter()
    win = encompassing_windows(np.asarray(boxes, dtype=np.float32), grid)
    return Counter((int(h), int(w)) for h, w in win[:, 2:4])


def threshold_cost(counts: Dict[Shape, int], thresholds: Sequence[Shape]) -> float:
    """Mean resize cost in bits of a window distribution under Multi-Shape thresholds."""
    total = sum(counts.values())
    if not total or not thresholds:
        return math.inf
    largest = max(thresholds, key=lambda t: t[0] * t[1])
    cost = 0.0
    for (h, w), n in counts.items():
        fits = [t for t in thresholds if h <= t[0] and w <= t[1]]
        if fits:
            t = min(fits, key=lambda s: s[0] * s[1])
            cost += n * math.log2(t[0] * t[1] / (h * w))
        else:
            cost += n * (abs(math.log2(h * w / (largest[0] * largest[1]))) + 1.0)
    return cost / total


def exact_coverage(counts: Dict[Shape, int], shapes: Iterable[Shape]) -> float:
    """Fraction of windows whose shape is one of ``shapes``."""
    total = sum(counts.values())
    shapes = set(map(tuple, shapes))
    return sum(n for s, n in counts.items() if s in shapes) / total if total else 0.0


def threshold_coverage(counts: Dict[Shape, int], thresholds: Iterable[Shape]) -> float:
    """Fraction of windows some threshold contains (the rest are resized down)."""
    total = sum(counts.values())
    thresholds = list(thresholds)
    inside = sum(n for (h, w), n in counts.items()
                 if any(h <= t[0] and w <= t[1] for t in thresholds))
    return inside / total if total else 0.0


def suggest_thresholds(counts: Dict[Shape, int], k: int, grid: Sequence[int],
                       max_area: int | None = None) -> List[Shape]:
    """Greedy K thresholds minimizing :func:`threshold_cost`.

    Args:
        counts: window shape counts.
        k: number of thresholds.
        grid: the stride-32 grid (candidates are every h x w inside it).
        max_area: largest threshold area allowed (the memory of a branch grows with its area).

    Returns:
        Thresholds sorted by decreasing area (the thesis' order).
    """
    candidates = [(h, w) for h in range(1, grid[0] + 1) for w in range(1, grid[1] + 1)
                  if max_area is None or h * w <= max_area]
    chosen: List[Shape] = []
    for _ in range(k):
        best = min((c for c in candidates if c not in chosen),
                   key=lambda c: threshold_cost(counts, chosen + [c]), default=None)
        if best is None:
            break
        chosen.append(best)
    return sorted(chosen, key=lambda s: (-s[0] * s[1], -s[0]))


def suggest_exact_shapes(counts: Dict[Shape, int], k: int) -> List[Shape]:
    """The K most frequent window shapes (maximizes :func:`exact_coverage`)."""
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    return sorted((s for s, _ in top), key=lambda s: (-s[0] * s[1], -s[0]))
