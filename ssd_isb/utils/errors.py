"""The errors ssd-isb raises on purpose (TF-free).

Every one derives from :class:`SSDISBError`, so the ``ssd-isb`` command has one handler: it
prints the message (one line naming the file or option and the problem) and exits 2. Each also
keeps the builtin base it always had (``ValueError``, ``RuntimeError``, ...), so code that caught
those still works.
"""

from __future__ import annotations


class SSDISBError(Exception):
    """Bad input, a missing extra or an unusable file; the message says which and why."""


class UsageError(SSDISBError, ValueError):
    """An argument is out of range or contradicts another one; the message names it."""


class MissingExtraError(SSDISBError, ImportError):
    """An optional dependency is not installed; the message says which extra brings it."""


# The extra that installs each optional top-level module (setup.cfg's extras_require).
EXTRA_OF = {"tensorflow": "train", "keras": "train", "tensorboard": "train", "h5py": "train",
            "matplotlib": "train", "pycocotools": "eval", "tf2onnx": "onnx", "onnx": "onnx",
            "onnxruntime": "onnx", "onnx_graphsurgeon": "onnx", "polygraphy": "onnx",
            "tensorrt": "tensorrt", "cuda": "tensorrt", "mediapipe": "teacher",
            "uvicorn": "serve", "starlette": "serve", "prometheus_client": "serve",
            "paho": "serve", "websockets": "serve", "multipart": "serve"}


def missing_extra(err: ImportError, purpose: str) -> "MissingExtraError | None":
    """The one-line error for an optional module missing under ``purpose`` (None: ``err`` is
    not one, e.g. a broken install of a base dependency, and stays a traceback)."""
    module = (getattr(err, "name", None) or "").split(".")[0]
    if module not in EXTRA_OF:
        return None
    return MissingExtraError(f"{purpose} needs {module}, which is not installed: "
                             f"pip install 'ssd-isb[{EXTRA_OF[module]}]'")


def require(module: str, extra: str, purpose: str):
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra to install.

    Args:
        module: the module to import (``pycocotools``, ``tensorflow``, ...).
        extra: the ssd-isb extra that installs it (``train``, ``onnx``, ...).
        purpose: what needs it, e.g. "evaluate" or "a .keras model".
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(f"{purpose} needs {module.split('.')[0]}, which is not "
                                f"installed: pip install 'ssd-isb[{extra}]'") from None


def check_range(name: str, value, low=None, high=None):
    """``value`` if it lies in [``low``, ``high``] (either bound may be None; a None value
    passes: the option was not given); else :class:`UsageError` naming the option."""
    if value is None:
        return value
    if value != value:  # NaN passes every comparison
        raise UsageError(f"{name} {value}: must be a number")
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            want = f">= {low}"
        elif low is None:
            want = f"<= {high}"
        else:
            want = f"between {low} and {high}"
        raise UsageError(f"{name} {value}: must be {want}")
    return value
