"""Timed runs of one or several segmenters, alternated in short blocks (TF-free).

Each round gives every segmenter ``block`` consecutive frames, starting at segmenter ``r mod
n``, so drift of the machine (thermal, other load) hits every model alike and the ratios of one
table are fair. Blocks rather than single runs: a model alternated run by run always starts
with caches filled by another model. One model is the case ``n = 1``.

Every timed run holds numpy's BLAS to one thread (:func:`one_blas_thread`): OpenBLAS's workers
spin about 0.1 s after a call, so a peer whose decode multiplies matrices (the YOLO-seg mask
protos) left a core busy for whatever ran next, itself included. That measured YOLO11n-seg
at 90 ms a 720p frame where it takes 42 and made every ratio to it look twice as good as it
was. YOLOv8n-seg's decode makes the same product: the likely cause of an older reading of a
deployed model at 13.9 ms alternated run by run with it, against 6.7 ms alone.
"""

from __future__ import annotations

import contextlib
from typing import Dict, Iterator, List, Sequence

from ..runtime.protocol import STAGES, SegmenterBase
from .host import stats


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """numpy's BLAS (OpenBLAS, MKL) held to one thread inside the block, so that no BLAS
    worker spins on a core after a matrix product; the models keep their own threads."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def time_interleaved(segmenters: Sequence[SegmenterBase], frames: Sequence, runs: int,
                     warmup: int = 0, block: int = 10) -> List[Dict]:
    """Time every segmenter end to end on the same frames, alternating them in blocks.

    Args:
        segmenters: the models, already loaded.
        frames: decoded images (cycled).
        runs: timed runs per segmenter.
        warmup: untimed runs per segmenter first.
        block: consecutive runs a segmenter gets before the next one's turn.

    Returns:
        Per segmenter: ``latency_ms`` (per stage: median, p90, min, max), ``fps_median`` and
        ``detections_per_image``.
    """
    with one_blas_thread():
        return _time_interleaved(segmenters, frames, runs, warmup, block)


def _time_interleaved(segmenters, frames, runs, warmup, block) -> List[Dict]:
    for seg in segmenters:
        for i in range(warmup):
            seg(frames[i % len(frames)])
    timings = [{s: [] for s in STAGES} for _ in segmenters]
    detections: List[List[int]] = [[] for _ in segmenters]
    n = len(segmenters)
    block = max(1, min(int(block), runs))
    for r, start in enumerate(range(0, runs, block)):
        for k in range(n):
            j = (r + k) % n
            for i in range(start, min(start + block, runs)):
                result = segmenters[j](frames[i % len(frames)])
                for s in STAGES:
                    timings[j][s].append(segmenters[j].last_timings[s])
                detections[j].append(len(result))
    out = []
    for t, d in zip(timings, detections):
        latency = {s: stats(v) for s, v in t.items()}
        out.append({"latency_ms": latency,
                    "fps_median": round(1000.0 / latency["total"]["median"], 2),
                    "detections_per_image": round(sum(d) / len(d), 2)})
    return out
