#!/usr/bin/env python3
"""Tracking, measured (issue 24): identities on clips with known tracks, the latency tracking
adds, and the total FPS of 1, 2 and 4 streams in one process.

    python benchmarks/tracking.py --threads 2 --repeats 3 \\
        --output docs/results/tracking.json --markdown docs/results/tracking.md

There is no video with ground-truth tracks here, so identities are measured on the clips of
:mod:`ssd_isb.tracking.synthetic` (real people composited along known paths over a real
photo): ``tuned`` is the clip the tracker's coasting rule was chosen on, ``heldout`` one
nothing was chosen on. On the shared street video (no ground truth) it reports how many IDs
the tracker gives and how long they live. Latency: the median per-frame time of
``Segmenter.track`` against ``Segmenter.__call__`` on the same frames, per repeat, and their
ratio within each repeat. Streams: ``ssd-isb demo``'s runner headless on 1, 2 and 4 copies
of the video, ``--frames`` each. TF-free.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def identities(seg, clip, similarity):
    from ssd_isb.tracking import Tracker
    from ssd_isb.tracking.metrics import identity_measures

    if similarity is None:  # no tracker: each frame's detection order as its "ID"
        tracked = []
        for frame in clip.frames:
            r = seg(frame)
            tracked.append({i: b for i, b in enumerate(r.boxes)})
    else:
        tracker = Tracker(similarity=similarity)
        tracked = []
        for frame in clip.frames:
            r = seg.track(frame, tracker)
            tracked.append({int(t): b for t, b in zip(r.track_ids, r.boxes)})
    m = identity_measures(clip.truth, tracked)
    return {k: v for k, v in m.items() if k != "people"} | {
        "held_share_min": min(p["held_share"] for p in m["people"].values())}


def latency(seg, frames, repeats):
    from ssd_isb.tracking import tracker_for

    rows = []
    for _ in range(repeats):
        plain, tracked, tracker_ms = [], [], []
        tracker = tracker_for(seg.score_threshold)
        for frame in frames:
            t0 = time.perf_counter()
            seg(frame)
            plain.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            seg.track(frame, tracker)
            tracked.append((time.perf_counter() - t0) * 1e3)
            tracker_ms.append(seg.last_timings["track"])
        rows.append({"plain_ms": float(np.median(plain)), "track_ms": float(np.median(tracked)),
                     "tracker_only_ms": float(np.median(tracker_ms)),
                     "ratio": float(np.median(tracked) / np.median(plain))})
    return rows


def spread(values):
    v = np.asarray(values, float)
    return {"median": round(float(np.median(v)), 3), "min": round(float(v.min()), 3),
            "max": round(float(v.max()), 3)}


def main(argv=None) -> int:
    sys.path.insert(0, ROOT)
    import cv2

    from ssd_isb.utils.files import write_json
    from ssd_isb.runtime import Segmenter
    from ssd_isb.apps.streams import run_streams
    from ssd_isb.tracking import tracker_for
    from ssd_isb.tracking.synthetic import make_clip

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="default: the shipped default model")
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--frames", type=int, default=200, help="frames per stream")
    p.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--output", help="JSON report")
    p.add_argument("--markdown", help="the same as a markdown table")
    args = p.parse_args(argv)

    seg = Segmenter(args.model, threads=args.threads)
    video = os.path.join(args.data, "videos", "pedestrians_480x360.avi")
    report = {"model": os.path.abspath(seg.path), "threads": args.threads, "clips": {}}
    for name in ("tuned", "heldout"):
        clip = make_clip(args.data, heldout=name == "heldout")
        report["clips"][name] = {sim or "none": identities(seg, clip, sim)
                                 for sim in (None, "box", "mask")}

    cap = cv2.VideoCapture(video)
    frames = []
    while len(frames) < args.frames:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    tracker, lives = tracker_for(seg.score_threshold), {}
    for f in frames:
        r = seg.track(f, tracker)
        for t in r.track_ids.tolist():
            lives[t] = lives.get(t, 0) + 1
    report["video"] = {"frames": len(frames), "track_ids": len(lives),
                       "frames_per_id_median": float(np.median(list(lives.values())))
                       if lives else 0.0}
    rows = latency(seg, frames[:100], args.repeats)
    report["latency"] = {k: spread([r[k] for r in rows]) for k in rows[0]}

    report["streams"] = {}
    for n in args.streams:
        runs = [run_streams(args.model, [video] * n, display=False, max_frames=args.frames,
                            threads=args.threads, track=True)["fps_total"]
                for _ in range(args.repeats)]
        report["streams"][str(n)] = spread(runs)
    text = json.dumps(report, indent=2)
    if args.output:
        write_json(args.output, report)
    print(text)
    if args.markdown:
        lines = ["| clip | tracker | ID switches | fragmentations | held share (mean / min) "
                 "| matched | IDs |", "|---|---|---|---|---|---|---|"]
        for name, rows_ in report["clips"].items():
            for sim, m in rows_.items():
                lines.append(f"| {name} | {sim} | {m['id_switches']} | {m['fragmentations']} "
                             f"| {m['held_share']:.3f} / {m['held_share_min']:.3f} | "
                             f"{m['matched']:.3f} | {m['tracks']} |")
        lat, v = report["latency"], report["video"]
        lines += ["", f"Street video ({v['frames']} frames, no ground truth): {v['track_ids']} "
                  f"track IDs, each shown on {v['frames_per_id_median']:.0f} frames (median).",
                  "", f"Latency per frame (median of {args.repeats} repeats, min-max): "
                  f"segment {lat['plain_ms']['median']} ms, segment + track "
                  f"{lat['track_ms']['median']} ms (ratio {lat['ratio']['median']}, "
                  f"{lat['ratio']['min']}-{lat['ratio']['max']}), tracker alone "
                  f"{lat['tracker_only_ms']['median']} ms.", "",
                  "| streams | total FPS (median, min-max) |", "|---|---|"]
        for n, s in report["streams"].items():
            lines.append(f"| {n} | {s['median']} ({s['min']}-{s['max']}) |")
        with open(args.markdown, "w") as fh:
            fh.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
