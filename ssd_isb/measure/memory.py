"""Peak memory of a runtime-only process, measured in a fresh interpreter (TF-free).

A child process imports the runtime (never TensorFlow), loads one model, segments real images
and reports its peak RSS. The same child without the model gives the baseline (Python, numpy,
OpenCV and the backend library), so ``model_rss_mb`` is what the model and its buffers cost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Dict, Optional, Sequence

from ..utils.errors import SSDISBError
from .host import peak_rss_mb

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class MemoryMeasurementError(SSDISBError, RuntimeError):
    """The measuring process failed; the message names the model and its last error line."""


def _child(spec: Dict) -> Dict:
    from ..runtime.backends import infer_backend
    from ..runtime.image_io import read_image
    from .kinds import make_segmenter

    backend = spec.get("backend") or (infer_backend(spec["path"]) if spec["kind"] == "ssd-isb"
                                      else "tflite")
    # The baseline holds the backend's library too: only the model's cost is left over.
    if backend == "tflite":
        from ..runtime.tflite import interpreter_class

        interpreter_class()
    elif backend == "onnx":
        import onnxruntime  # noqa: F401
    base = peak = peak_rss_mb()
    if spec["load"]:
        seg = make_segmenter(spec["kind"], spec["path"], spec.get("backend"), spec["threads"],
                             tiles=spec.get("tiles", "off"), zoom=spec.get("zoom", "off"))
        images = [read_image(p) for p in spec["images"]]
        for i in range(spec["runs"]):
            seg(images[i % len(images)])
        peak = peak_rss_mb()
    return {"baseline_rss_mb": base, "peak_rss_mb": peak,
            "tensorflow_imported": "tensorflow" in sys.modules}


def _run_child(spec: Dict) -> Dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    res = subprocess.run([sys.executable, "-m", "ssd_isb.measure.memory", json.dumps(spec)],
                         capture_output=True, text=True, env=env)
    if res.returncode != 0:
        tail = res.stderr.strip().splitlines()[-1:] or ["no output"]
        raise MemoryMeasurementError(f"{spec['path']}: the memory-measuring process failed: "
                                     f"{tail[0]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def measure_memory(path: str, images: Sequence[str], runs: int = 20, kind: str = "ssd-isb",
                   backend: Optional[str] = None, threads: Optional[int] = None,
                   tiles: str = "off", zoom: str = "off") -> Dict:
    """Peak RSS of a fresh process that loads ``path`` and segments ``runs`` images.

    Args:
        path: model file.
        images: real image paths (cycled).
        runs: segmentations before reading the peak.
        kind: "ssd-isb", "yolov8-seg" or "zoo-detector" (see :mod:`ssd_isb.measure.kinds`).
        backend: backend name for SSD-ISB models (from the file when None).
        threads: CPU threads.
        tiles, zoom: an SSD-ISB model's passes (see :func:`~ssd_isb.measure.kinds.
            make_segmenter`).

    Returns:
        ``baseline_rss_mb``, ``peak_rss_mb``, ``model_rss_mb``, ``model_bytes``,
        ``tensorflow_imported``.
    """
    spec = {"kind": kind, "path": os.path.abspath(path), "backend": backend,
            "threads": threads, "images": [os.path.abspath(p) for p in images], "runs": runs,
            "tiles": tiles, "zoom": zoom}
    empty = _run_child(dict(spec, load=False))
    full = _run_child(dict(spec, load=True))
    return {"baseline_rss_mb": round(empty["peak_rss_mb"], 1),
            "peak_rss_mb": round(full["peak_rss_mb"], 1),
            "model_rss_mb": round(full["peak_rss_mb"] - empty["peak_rss_mb"], 1),
            "model_bytes": os.path.getsize(path),
            "tensorflow_imported": full["tensorflow_imported"]}


if __name__ == "__main__":
    print(json.dumps(_child(json.loads(sys.argv[1]))))
