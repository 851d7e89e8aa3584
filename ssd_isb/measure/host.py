"""What a measurement records about the machine and its numbers (TF-free)."""

from __future__ import annotations

import importlib.metadata
import platform
import resource
from typing import Dict, Sequence

import numpy as np

VERSIONED = ("ssd-isb", "numpy", "opencv-python-headless", "opencv-python", "ai-edge-litert",
             "tflite-runtime", "onnxruntime", "onnxruntime-gpu", "tensorrt", "tensorflow",
             "keras")


def stats(values: Sequence[float]) -> Dict[str, float]:
    """median, p90, min and max (ms), rounded to microseconds."""
    a = np.asarray(values, dtype=np.float64)
    return {"median": round(float(np.median(a)), 3), "p90": round(float(np.percentile(a, 90)), 3),
            "min": round(float(a.min()), 3), "max": round(float(a.max()), 3)}


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo, else platform)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> Dict[str, str]:
    """Installed versions of the libraries that matter for speed (metadata only: no imports)."""
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def peak_rss_mb() -> float:
    """This process's peak resident set size (MB).

    Linux's VmHWM belongs to the address space, which exec replaces; ``ru_maxrss`` survives
    exec, so a child started by a big parent would report the parent's size.
    """
    try:
        with open("/proc/self/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
