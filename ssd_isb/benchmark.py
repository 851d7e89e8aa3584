"""``ssd-isb benchmark``: per-stage latency, FPS and memory of a model through any backend.

TF-free unless the model is ``.keras``. Every run segments a real image end to end through
:class:`~ssd_isb.runtime.Segmenter` (preprocess, inference, postprocess with the mask paste);
after warm-up, each stage's median, p90, min and max over the runs are reported, never asserted.
The JSON follows DESIGN.md section 2.
"""

from __future__ import annotations

import glob
import importlib.metadata
import os
import platform
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

from .memory import peak_rss_mb
from .runtime import Segmenter
from .runtime.image_io import read_image

STAGES = ("preprocess", "inference", "postprocess", "total")
VERSIONED = ("ssd-isb", "numpy", "opencv-python-headless", "opencv-python", "ai-edge-litert",
             "tflite-runtime", "onnxruntime", "onnxruntime-gpu", "tensorrt", "tensorflow",
             "keras")


def stats(values: Sequence[float]) -> Dict[str, float]:
    """median, p90, min and max (ms)."""
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


def tflite_activation_bytes(backend) -> Optional[int]:
    """Upper bound of a TFLite model's activation memory: every op output tensor, summed
    (LiteRT's arena reuses buffers, so the arena itself is smaller)."""
    interpreter = getattr(backend, "interpreter", None)
    if interpreter is None:
        return None
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    produced = set()
    for op in interpreter._get_ops_details():
        produced.update(int(i) for i in op["outputs"])
    total = 0
    for i in produced:
        t = tensors.get(i)
        if t is not None and len(t["shape"]):
            total += int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize
    return total


def default_images() -> List[str]:
    """Real photos of people from ../shared/data when present (coco_person_val2017)."""
    from .config import data_root

    folder = os.path.join(data_root(), "coco_person_val2017", "images")
    return sorted(glob.glob(os.path.join(folder, "*.jpg")))[:20]


def run_benchmark(model: str, backend: Optional[str] = None, threads: Optional[int] = None,
                  runs: int = 100, warmup: int = 10, images: Optional[Sequence[str]] = None,
                  score_threshold: float = 0.5) -> Dict:
    """Time ``runs`` end-to-end segmentations after ``warmup`` ones.

    Args:
        model: model file.
        backend: backend name (from the file when None).
        threads: CPU threads.
        runs: timed runs (images are cycled).
        warmup: untimed runs first.
        images: real image paths (default: :func:`default_images`).
        score_threshold: detections kept (and masks pasted) per image, as an application would.

    Returns:
        The benchmark report (DESIGN.md section 2 keys).
    """
    paths = list(images) if images is not None else default_images()
    if not paths:
        raise ValueError("no images to benchmark on (pass --images with a folder of photos)")
    frames = [read_image(p) for p in paths]
    started = time.perf_counter()
    seg = Segmenter(model, backend=backend, threads=threads, score_threshold=score_threshold)
    load_seconds = time.perf_counter() - started
    for i in range(warmup):
        seg(frames[i % len(frames)])
    timings = {s: [] for s in STAGES}
    detections = []
    for i in range(runs):
        result = seg(frames[i % len(frames)])
        for s in STAGES:
            timings[s].append(seg.last_timings[s])
        detections.append(len(result))
    latency = {s: stats(v) for s, v in timings.items()}
    report = {
        "model": os.path.abspath(model), "backend": seg.backend.name,
        "threads": threads, "runs": runs, "warmup": warmup,
        "input_size": list(seg.input_size), "images": len(paths),
        "latency_ms": latency, "fps_median": round(1000.0 / latency["total"]["median"], 2),
        "peak_rss_mb": round(peak_rss_mb(), 1), "model_bytes": os.path.getsize(model),
        "params": seg.meta.params, "quantization": seg.meta.quantization,
        "variant": seg.meta.variant, "detections_per_image": float(np.mean(detections)),
        "load_seconds": round(load_seconds, 2), "versions": versions(), "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
    }
    activations = tflite_activation_bytes(seg.backend)
    if activations is not None:
        report["tflite_activation_bytes_upper_bound"] = activations
    if seg.backend.name == "tensorrt":
        from .tensorrt.cuda import gpu_memory_used_mb

        report["gpu_memory_used_mb"] = gpu_memory_used_mb()
    return report
