"""COCO run-length encoding of binary masks, in numpy (the base install has no pycocotools).

Produces exactly pycocotools' compressed ``counts`` string: column-major runs starting with
zeros, each run written as a LEB128-like sequence of 5-bit groups offset by 48, runs after the
second stored as the difference to the run two before.
"""

from __future__ import annotations

from typing import Dict

import numpy as np


def run_lengths(mask: np.ndarray) -> np.ndarray:
    """Column-major run lengths of a 2-D binary mask, starting with a (possibly empty) 0-run."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return np.zeros(0, np.int64)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds)
    if flat[0]:
        runs = np.concatenate([[0], runs])
    return runs.astype(np.int64)


def _encode_counts(counts: np.ndarray) -> str:
    out = []
    for i, c in enumerate(counts.tolist()):
        x = c - counts[i - 2] if i > 2 else c
        more = True
        while more:
            ch = x & 0x1F
            x >>= 5
            more = (x != -1) if (ch & 0x10) else (x != 0)
            if more:
                ch |= 0x20
            out.append(chr(ch + 48))
    return "".join(out)


def encode_mask(mask: np.ndarray) -> Dict:
    """Binary mask [H, W] -> COCO compressed RLE ``{"size": [H, W], "counts": str}``."""
    h, w = mask.shape
    return {"size": [int(h), int(w)], "counts": _encode_counts(run_lengths(mask))}


def mask_area(mask: np.ndarray) -> int:
    """Foreground pixels."""
    return int(np.count_nonzero(mask))
