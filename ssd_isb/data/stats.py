"""``ssd-isb stats``: the distribution of encompassing-window shapes (thesis Table 5.1) and
data-driven branch shapes (TF-free)."""

from __future__ import annotations

import os
from collections import Counter
from typing import List, Optional, Sequence

from ..core.shapes import (exact_coverage, suggest_exact_shapes, suggest_thresholds, threshold_cost,
                      threshold_coverage)
from ..utils.errors import UsageError, check_range
from .coco import DatasetError, load_coco, window_shape_counts_of

THESIS_SHAPES = ["7x2", "6x3", "6x2", "5x3", "5x2", "4x3", "4x2", "3x3", "3x2", "3x1", "2x2",
                 "2x1"]


def _parse(shape: str):
    h, w = shape.lower().split("x")
    return (int(h), int(w))


def _fmt(shape) -> str:
    return f"{shape[0]}x{shape[1]}"


def shape_table(counts_by_name, columns) -> List[str]:
    """Rows of Table 5.1: one per dataset, counts per column shape, 'Other', coverage."""
    names = [_fmt(c) for c in columns]
    width = max(6, max(len(n) for n in counts_by_name) + 1)
    lines = [f"{'':<{width}}" + "".join(f"{n:>7}" for n in names) + f"{'Other':>8}"
             f"{'total':>8}{'covered':>9}"]
    for name, counts in counts_by_name.items():
        row = [counts.get(c, 0) for c in columns]
        total = sum(counts.values())
        other = total - sum(row)
        cover = 100.0 * sum(row) / total if total else 0.0
        lines.append(f"{name:<{width}}" + "".join(f"{v:>7}" for v in row) + f"{other:>8}"
                     f"{total:>8}{cover:>8.1f}%")
    return lines


def print_stats(annotation_files: Sequence[str], input_size: int = 640,
                shapes: Optional[Sequence[str]] = None, suggest: Optional[int] = None,
                max_area: Optional[int] = None, config: Optional[str] = None) -> None:
    """Print the shape distribution of person boxes for the stride-32 grid of ``input_size``.

    Raises:
        UsageError: an input size that is not a positive multiple of 32, a shape suggestion
            count below 1.
        DatasetError: the annotation files hold no person box (nothing to count or suggest).
    """
    if input_size < 32 or input_size % 32:
        raise UsageError(f"--input-size {input_size}: must be a positive multiple of 32 (the "
                         f"stride-32 grid), e.g. {max(32, round(input_size / 32) * 32)}")
    check_range("--suggest-shapes", suggest, 1)
    grid = (input_size // 32, input_size // 32)
    if shapes:
        columns = [_parse(s) for s in shapes]
    elif config:
        from ..config import load_config

        columns = [tuple(s) for s in load_config(config).isb.shapes]
    else:
        columns = [_parse(s) for s in THESIS_SHAPES]
    counts_by_name, union = {}, Counter()
    for path in annotation_files:
        records, _ = load_coco(path, "", check_files=False)
        counts = window_shape_counts_of(records, grid)
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.basename(folder) == "annotations":  # COCO layout: name the dataset
            folder = os.path.dirname(folder)
        counts_by_name[os.path.basename(folder) + "/" + os.path.basename(path)] = counts
        union += counts
    if not sum(union.values()):
        raise DatasetError(f"{', '.join(annotation_files)}: no person boxes to count")
    print(f"Person boxes by encompassing-window shape (h x w) on the {grid[0]}x{grid[1]} "
          f"stride-32 grid of a {input_size}x{input_size} input (thesis Table 5.1):")
    for line in shape_table(counts_by_name, columns):
        print(line)
    if suggest:
        t = suggest_thresholds(union, suggest, grid, max_area)
        e = suggest_exact_shapes(union, suggest)
        print(f"\nSuggested {suggest} Multi-Shape thresholds: {' '.join(map(_fmt, t))}  "
              f"(mean resize {threshold_cost(union, t):.2f} bits, "
              f"{100 * threshold_coverage(union, t):.1f}% of boxes inside a threshold)")
        print(f"Suggested {suggest} Single-Shape shapes:     {' '.join(map(_fmt, e))}  "
              f"({100 * exact_coverage(union, e):.1f}% of boxes have a branch)")
        if columns:
            print(f"For comparison, the columns above as thresholds: mean resize "
                  f"{threshold_cost(union, columns):.2f} bits; as exact shapes: "
                  f"{100 * exact_coverage(union, columns):.1f}% covered")
