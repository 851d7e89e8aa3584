"""``--threads auto``: the thread count re-chosen from measured frame times (TF-free).

A fixed count is a bet on an idle machine. On the 2-core machine here, 2 threads segment a frame
in 5.5 ms when nothing else runs, but beside one busy process they take 41 ms (the threads of
the pool wait for each other on a shared core) while 1 thread takes 7 ms. A robot or a camera
box always runs other processes. So ``auto`` times its frames: it runs on all the cores it may
use, and every ``every`` frames tries the other count for a short window; it keeps whichever
had the lower median frame time, and tries again later (the load changes).
"""

from __future__ import annotations

import os
from typing import List, Optional, Sequence, Union

Threads = Union[int, str, None]


def usable_cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def parse_threads(value: Threads) -> Union[int, str, None]:
    """``auto``, a positive count, or None (the runtime's own default).

    Raises:
        UsageError: anything else.
    """
    from ..utils.errors import UsageError

    if value is None or isinstance(value, int):
        return value
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"--threads {value!r}: expected a count or auto") from None


class AutoThreads:
    """Which thread count to run, from the frame times seen.

    Args:
        choices: the counts to choose between (default: 1 and every usable core).
        window: frames timed per trial.
        every: frames between trials of the other count.
        margin: the other count must be this much faster (a fraction) to be taken.
    """

    def __init__(self, choices: Optional[Sequence[int]] = None, window: int = 20,
                 every: int = 300, margin: float = 0.1):
        cores = usable_cores()
        self.choices = sorted(set(choices or ([cores, 1] if cores > 1 else [1])),
                              reverse=True)
        self.window = int(window)
        self.every = int(every)
        self.margin = float(margin)
        self.current = self.choices[0]
        self.best = self.current
        self.medians = {}  # count -> the median frame time of its last window
        self._times: List[float] = []
        self._since = 0
        self._trying: Optional[int] = None
        self.switches = 0

    def observe(self, ms: float) -> Optional[int]:
        """Record one frame's time; return a count to switch to now, or None."""
        self._times.append(float(ms))
        self._since += 1
        if len(self._times) < self.window:
            return None
        times = sorted(self._times)
        self.medians[self.current] = times[len(times) // 2]
        self._times = []
        if self._trying is not None:  # a trial window ended: keep the faster
            self._trying = None
            fastest = min(self.medians, key=self.medians.get)
            incumbent = self.best
            if fastest != incumbent and self.medians[fastest] < (
                    1 - self.margin) * self.medians.get(incumbent, float("inf")):
                self.best = fastest
            return self._switch(self.best)
        if len(self.choices) > 1 and self._since >= self.every or (
                len(self.medians) < len(self.choices) and len(self.choices) > 1):
            self._since = 0
            self._trying = next(c for c in self.choices if c != self.current)
            return self._switch(self._trying)
        return None

    def _switch(self, count: int) -> Optional[int]:
        if count == self.current:
            return None
        self.current = count
        self.switches += 1
        return count
