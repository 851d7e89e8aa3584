"""Progress bars for long runs: tqdm on a terminal, nothing when output is captured (TF-free)."""

from __future__ import annotations

import sys
from typing import Iterable, Optional


def progress(iterable: Iterable, total: Optional[int] = None, desc: str = "",
             unit: str = "image"):
    """``iterable`` wrapped in a tqdm bar on stderr, shown only when stderr is a terminal."""
    try:
        from tqdm import tqdm
    except ImportError:  # a minimal install still runs, without a bar
        return iterable
    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=False,
                disable=not sys.stderr.isatty(), dynamic_ncols=True)
