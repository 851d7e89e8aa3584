"""SIGTERM ends a run the way Ctrl-C does (TF-free).

systemd, Docker and a robot's supervisor stop a process with SIGTERM, whose default action kills
it on the spot: results not yet written are lost and a video file is left without its index.
While :func:`stop_signals` is active, SIGTERM raises :class:`Terminated` in the main thread, a
``KeyboardInterrupt``, so every place that keeps its work on Ctrl-C (predict writes its
results, demo closes its video and writes its summary) keeps it on SIGTERM too. The exit code
says which signal ended the run: 130 for SIGINT, 143 for SIGTERM (128 + the signal number, as a
shell reports them).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

INTERRUPTED = 128 + signal.SIGINT  # 130
TERMINATED = 128 + signal.SIGTERM  # 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered where Ctrl-C's ``KeyboardInterrupt`` would be."""


def _raise_terminated(signum, frame):  # noqa: ARG001 - the signal module's signature
    raise Terminated()


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` inside the block (main thread only; elsewhere, and
    where the signal cannot be handled, nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def exit_code(stop: BaseException) -> int:
    """The exit code of a run ended by ``stop`` (a KeyboardInterrupt or :class:`Terminated`)."""
    return TERMINATED if isinstance(stop, Terminated) else INTERRUPTED


def stopped_by(stop: BaseException) -> str:
    """"terminated" (SIGTERM) or "interrupted" (Ctrl-C), as a summary says it."""
    return "terminated" if isinstance(stop, Terminated) else "interrupted"
