"""Timed runs of one or several segmenters, alternated run by run (TF-free).

Round ``r`` starts at segmenter ``r mod n``, so drift of the machine (thermal, other load) hits
every model alike and the ratios of one table are fair. One model is the case ``n = 1``.
"""

from __future__ import annotations

from typing import Dict, List, Sequence

from ..runtime.protocol import STAGES, SegmenterBase
from .host import stats


def time_interleaved(segmenters: Sequence[SegmenterBase], frames: Sequence, runs: int,
                     warmup: int = 0) -> List[Dict]:
    """Time every segmenter end to end on the same frames, alternating them.

    Args:
        segmenters: the models, already loaded.
        frames: decoded images (cycled).
        runs: timed runs per segmenter.
        warmup: untimed runs per segmenter first.

    Returns:
        Per segmenter: ``latency_ms`` (per stage: median, p90, min, max), ``fps_median`` and
        ``detections_per_image``.
    """
    for seg in segmenters:
        for i in range(warmup):
            seg(frames[i % len(frames)])
    timings = [{s: [] for s in STAGES} for _ in segmenters]
    detections: List[List[int]] = [[] for _ in segmenters]
    n = len(segmenters)
    for r in range(runs):
        frame = frames[r % len(frames)]
        for k in range(n):
            j = (r + k) % n
            result = segmenters[j](frame)
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
