"""Which branch segments which box: the four ISB variants as branch specs and box bucketing.

A variant is a list of :class:`BranchSpec`. Each box (its encompassing window, in stride-32
cells) goes to at most one branch:

* ``exact`` (Single-Shape, Single-Shape+): only windows of exactly this shape, no resizing;
* ``threshold`` (Multi-Shape): the smallest-area threshold that contains the window, the window
  resized up to it; a window no threshold contains goes to the largest one, resized down;
* ``rest`` (Single-Shape+): every window no exact branch took, resized to the branch shape;
* ``all`` (Single-Branch): every window, cropped at ``pool`` x the branch shape and max-pooled.

Each branch then takes its boxes in score order up to ``boxes_per_branch`` (padding the rest);
boxes past the cap or matching no branch get no mask. Functions take an array namespace ``xp``
(numpy by default, ``keras.ops`` in the graph) so the reference and the graph share one code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..config import ISBConfig

Shape = Tuple[int, int]
MODES = ("exact", "threshold", "rest", "all")


@dataclass(frozen=True)
class BranchSpec:
    """One instance segmentation branch."""

    shape: Shape  # branch input (h, w) in stride-32 cells
    mode: str  # one of MODES
    pool: int = 1  # crop at pool x shape, then pool x pool max-pool

    @property
    def name(self) -> str:
        """Layer name, e.g. ``ISB_7x2`` (``ISB_rest_14x14`` for the Single-Shape+ rest branch)."""
        tag = "rest_" if self.mode == "rest" else ""
        return f"ISB_{tag}{self.shape[0]}x{self.shape[1]}"

    @property
    def resizes(self) -> bool:
        """Whether crops are resampled (everything but exact-shape branches)."""
        return self.mode != "exact"


def branch_specs(isb: ISBConfig) -> List[BranchSpec]:
    """The branches of a configured variant, in config order."""
    return variant_specs(isb.variant, isb.shapes, isb.rest_shape, isb.pool)


def variant_specs(variant: str, shapes: Sequence[Sequence[int]],
                  rest_shape: Optional[Sequence[int]] = None, pool: int = 1) -> List[BranchSpec]:
    """The branches of a variant from its scalars (what the Keras layers store)."""
    if variant == "single_branch":
        return [BranchSpec(tuple(shapes[0]), "all", int(pool))]
    if variant == "multi_shape":
        return [BranchSpec(tuple(s), "threshold") for s in shapes]
    specs = [BranchSpec(tuple(s), "exact") for s in shapes]
    if variant == "single_shape_plus":
        specs.append(BranchSpec(tuple(rest_shape), "rest"))
    return specs


def assign_branches(heights, widths, specs: Sequence[BranchSpec], xp=np):
    """Branch index of each window, or -1 where no branch takes it.

    Args:
        heights, widths: int arrays [...] of window sizes in cells.
        specs: the variant's branches.
        xp: array namespace.

    Returns:
        int32 [...] index into ``specs`` (-1: no mask for this box).
    """
    # Lower priority wins: an exact match 0; a containing threshold 1 + its rank by area
    # (smallest first); rest K + 1; a threshold that does not contain the window K + 2 + its
    # rank by area (largest first: the fallback). Small whole numbers stay exact even in the
    # fp16 TFLite export, where every float constant becomes fp16 (max 65504).
    k = len(specs)
    by_area = sorted(range(k), key=lambda i: (specs[i].shape[0] * specs[i].shape[1], i))
    small_rank = {j: r for r, j in enumerate(by_area)}
    large_rank = {j: r for r, j in enumerate(sorted(
        range(k), key=lambda i: (-specs[i].shape[0] * specs[i].shape[1], i)))}
    inf = float(2 * k + 10)
    prios = []
    for j, s in enumerate(specs):
        bh, bw = s.shape
        if s.mode == "exact":
            p = xp.where((heights == bh) & (widths == bw), 0.0, inf)
        elif s.mode == "threshold":
            p = xp.where((heights <= bh) & (widths <= bw), 1.0 + small_rank[j],
                         float(k + 2 + large_rank[j]))
        elif s.mode == "rest":
            p = xp.where(heights >= 0, float(k + 1), inf)
        else:  # all
            p = xp.where(heights >= 0, 0.0, inf)
        prios.append(p)
    prio = xp.stack(prios, axis=-1)
    best = xp.argmin(prio, axis=-1)
    chosen = xp.where(xp.min(prio, axis=-1) < inf, best, -1)
    return chosen.astype(np.int32) if xp is np else xp.cast(chosen, "int32")


def branch_slots(assignment, valid, branch: int, cap: int, xp=np):
    """The boxes one branch takes, in input (score) order, padded to ``cap`` slots.

    Args:
        assignment: int32 [N] from :func:`assign_branches`.
        valid: bool [N], False for padding detections.
        branch: the branch index.
        cap: slots of this branch (``boxes_per_branch``; clipped to N).
        xp: array namespace.

    Returns:
        (slot_index int32 [cap'] index into N of each slot, slot_valid bool [cap'],
        rank int32 [N] slot of each box in this branch, or >= cap' if it has none), cap' = min(cap, N).
    """
    n = assignment.shape[0]
    cap = min(cap, n)
    member = (assignment == branch) & valid
    member_i = member.astype(np.int32) if xp is np else xp.cast(member, "int32")
    rank = xp.cumsum(member_i, axis=0) - 1
    rank = xp.where(member, rank, n)
    # Sorting by rank puts this branch's boxes first, in score order; padding slots follow.
    order = xp.argsort(rank, axis=0)[:cap]
    slot_valid = xp.take(rank, order, axis=0) < cap
    slot_index = order.astype(np.int32) if xp is np else xp.cast(order, "int32")
    return slot_index, slot_valid, rank


def native_mask_size(isb: ISBConfig) -> int:
    """Side of the per-detection mask output: the largest branch output, unless configured."""
    if isb.mask_size:
        return int(isb.mask_size)
    return max(isb.out_factor * max(spec.shape) for spec in branch_specs(isb))


def shape_name(shape: Sequence[int]) -> str:
    """'7x2' for (7, 2)."""
    return f"{shape[0]}x{shape[1]}"
