"""Quiet by default: what TensorFlow, XLA and LiteRT print from C++ is hidden (TF-free).

Their native libraries write straight to file descriptor 2 (``INFO: Created TensorFlow Lite
XNNPACK delegate``, absl and CUDA lines), which Python's ``sys.stderr`` cannot filter. The
command therefore points descriptor 2 at /dev/null and gives Python's ``sys.stderr`` a
descriptor of its own on the real stderr: errors, warnings, logging and progress bars written
from Python still show; ``--verbose`` leaves everything as it was.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings

NOISY_LOGGERS = ("tensorflow", "absl", "keras", "h5py", "tf2onnx", "onnx")


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted (not when the handler
    was made), so log lines follow the stream :func:`hushed` swaps in."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def configure_logging(level: int) -> None:
    """One root handler on the current ``sys.stderr`` (added once), at ``level``."""
    root = logging.getLogger()
    if not any(isinstance(h, StderrHandler) for h in root.handlers):
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)


@contextlib.contextmanager
def hushed(enabled: bool = True):
    """Within: native stderr output and the ML libraries' INFO logs are hidden; after, the
    descriptors are as they were. A ``sys.stderr`` someone replaced (a test capturing it,
    an embedding application) is left alone; ``enabled`` False changes nothing."""
    if not enabled:
        yield
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # its notice is printed at import
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"(tensorflow|keras|tf2onnx|onnx)(\.|$)")
    warnings.filterwarnings("ignore", message=r".*tf\.lite\.Interpreter is deprecated.*")
    if sys.stderr is not sys.__stderr__ or sys.__stderr__ is None:
        yield
        return
    original = sys.stderr
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding="utf-8",
                           errors="replace")
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr = original
        os.dup2(saved, 2)
        os.close(saved)


_VERBOSE = False


def set_verbose(on: bool) -> None:
    """``--verbose``: let native libraries print again (see :func:`native_stderr_hidden`)."""
    global _VERBOSE
    _VERBOSE = bool(on)


@contextlib.contextmanager
def native_stderr_hidden():
    """Within: what native code writes to descriptor 2 is dropped. For the Python API, whose
    every session would otherwise start with LiteRT's "INFO: Created TensorFlow Lite XNNPACK
    delegate for CPU." A load failure still raises (its message is in the exception), and
    ``--verbose`` or ``SSD_ISB_VERBOSE=1`` shows it all."""
    if _VERBOSE or os.environ.get("SSD_ISB_VERBOSE") == "1":
        yield
        return
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError):
        pass
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
