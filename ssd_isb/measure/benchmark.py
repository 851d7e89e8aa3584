"""``ssd-isb benchmark``: per-stage latency, FPS and memory of a model through any backend.

TF-free unless the model is ``.keras``. Every run segments a real image end to end through
:class:`~ssd_isb.runtime.Segmenter` (preprocess, inference, postprocess with the mask paste);
after warm-up, each stage's median, p90, min and max over the runs are reported, never asserted.
The JSON follows DESIGN.md section 2.
"""

from __future__ import annotations

import os
import time
from typing import Dict, List, Optional, Sequence

from ..utils.errors import UsageError, check_range
from ..utils.files import check_output_file, write_json
from ..runtime import Segmenter
from ..runtime.image_io import list_images, read_image
from ..runtime.protocol import STAGES
from ..runtime.regions import tiles_text
from ..runtime.zoom import zoom_text
from ..samples import sample_images
from .host import cpu_model, peak_rss_mb, versions
from .timing import time_interleaved

__all__ = ["STAGES", "default_images", "run_benchmark", "sample_images", "summary_line"]


MAX_IMAGES = 50  # decoded up front; more only costs memory (the peak RSS would report it)


def default_images(limit: int = 20) -> List[str]:
    """Real photos of people from ../shared/data when present (coco_person_val2017), else the
    shipped samples."""
    from ..config import data_root

    found = list_images(os.path.join(data_root(), "coco_person_val2017", "images"), limit=limit)
    return found or sample_images()[:limit]


def run_benchmark(model: Optional[str] = None, backend: Optional[str] = None,
                  threads: Optional[int] = None, runs: int = 100, warmup: int = 10, images: Optional[Sequence[str]] = None,
                  score_threshold: float = 0.5, output: Optional[str] = None,
                  tiles="auto", zoom="auto") -> Dict:
    """Time ``runs`` end-to-end segmentations after ``warmup`` ones.

    Args:
        model: model file (None: the shipped default).
        backend: backend name (from the file when None).
        threads: CPU threads.
        runs: timed runs (images are cycled).
        warmup: untimed runs first.
        images: real image paths (default: :func:`sample_images`); the first
            :data:`MAX_IMAGES` are used.
        score_threshold: detections kept (and masks pasted) per image, as an application would.
        output: write the report here as JSON too.
        tiles, zoom: sliced inference and the second look per person
            (:class:`~ssd_isb.runtime.Segmenter`).

    Returns:
        The benchmark report (DESIGN.md section 2 keys).
    """
    check_range("--runs", runs, 1)
    check_range("--warmup", warmup, 0)
    if output:
        check_output_file(output, "--output")
    paths = (list(images) if images is not None else sample_images())[:MAX_IMAGES]
    if not paths:
        raise UsageError("no images to benchmark on (pass --images with a folder of photos)")
    frames = [read_image(p) for p in paths]
    started = time.perf_counter()
    seg = Segmenter(model, backend=backend, threads=threads, score_threshold=score_threshold,
                    tiles=tiles, zoom=zoom)
    load_seconds = time.perf_counter() - started
    timed = time_interleaved([seg], frames, runs, warmup)[0]
    report = {
        "model": os.path.abspath(seg.path), "backend": seg.name,
        "threads": threads, "threads_used": seg.threads, "runs": runs, "warmup": warmup,
        "input_size": list(seg.input_size), "images": len(paths), **timed,
        "tiles": tiles_text(seg.tiles), "zoom": zoom_text(seg.zoom),
        "peak_rss_mb": round(peak_rss_mb(), 1), "model_bytes": os.path.getsize(seg.path),
        "params": seg.params, "quantization": seg.quantization,
        "variant": seg.meta.variant, "load_seconds": round(load_seconds, 2),
        "versions": versions(), "cpu": cpu_model(), "cpu_count": os.cpu_count(),
    }
    activations = seg.backend.activation_bytes()
    if activations is not None:
        report["tflite_activation_bytes_upper_bound"] = activations
    device_memory = seg.backend.device_memory_mb()
    if device_memory is not None:
        report["gpu_memory_used_mb"] = device_memory
    if output:
        write_json(output, report)
    return report


def _threads_text(report: Dict) -> str:
    given = report["threads"]
    if given == "auto":
        return f"auto ({report.get('threads_used')})"
    return str(given or "default")


def summary_line(report: Dict) -> str:
    """The one-line human summary ``ssd-isb benchmark`` prints."""
    lat = report["latency_ms"]
    return (f"{os.path.basename(report['model'])} [{report['backend']}, "
            f"{_threads_text(report)} threads, {report['runs']} runs]: total "
            f"{lat['total']['median']:.1f} ms median (p90 {lat['total']['p90']:.1f}) = "
            f"{report['fps_median']:.1f} FPS; preprocess {lat['preprocess']['median']:.1f}, "
            f"inference {lat['inference']['median']:.1f}, postprocess "
            f"{lat['postprocess']['median']:.1f} ms; peak RSS {report['peak_rss_mb']:.0f} MB")
