#!/usr/bin/env python3
"""What tiles and the second look cost: the same frames through one pass, tiles, zoom and both,
alternated in blocks in one run (with YOLO11n-seg beside them when ``--peer`` is given), per
frame, and the cost of one zoomed person.

    python benchmarks/passes.py --images runs/hd/train_2x2_720/images --count 20 \\
        --peer ../shared/peers --output docs/results/passes_720.json

Per setting: end-to-end latency (median, p90), people found at the application threshold and
second looks per frame. Per frame: each setting's time over the single pass's (the median of
those ratios is what "zoom costs 2.2x" means). The zoom's cost per person: the slope of (zoom
time - single-pass time) over the number of people zoomed, a least-squares line through the
frames. And the floor under tiles: the tile plan's detect invokes alone, on inputs made before
the clock starts (no resizing, merging or masks), which no change to the runtime around the
model can go below. TF-free.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTINGS = (("off", "off"), ("auto", "off"), ("off", "auto"), ("auto", "auto"))
FLOOR = "tiles auto: detect invokes only"


def main(argv=None) -> int:
    sys.path.insert(0, ROOT)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="model file (default: the shipped one)")
    p.add_argument("--images", help="folder of frames (default: coco_person_val2017 photos)")
    p.add_argument("--count", type=int, default=20, help="frames used")
    p.add_argument("--rounds", type=int, default=5, help="times each frame is run per setting")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--peer", help="folder with the YOLO11n-seg TFLite file (../shared/peers)")
    p.add_argument("--output", help="JSON report")
    args = p.parse_args(argv)
    from ssd_isb.utils.errors import SSDISBError
    from ssd_isb.utils.files import check_output_file

    try:
        if args.output:  # before minutes of timing, not after
            check_output_file(args.output)
        return _run(args, p)
    except SSDISBError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _run(args, p) -> int:
    from ssd_isb.measure.benchmark import default_images
    from ssd_isb.measure.host import cpu_model, stats, versions
    from ssd_isb.measure.timing import one_blas_thread
    from ssd_isb.runtime import Segmenter, read_image
    from ssd_isb.runtime.image_io import list_images

    paths = (list_images(args.images) if args.images else default_images(args.count))
    frames = [read_image(path) for path in paths[:args.count]]
    segs = {f"tiles {t}, zoom {z}": Segmenter(args.model, threads=args.threads, tiles=t,
                                              zoom=z) for t, z in SETTINGS}
    if args.peer:
        import glob

        from ssd_isb.peers import Yolo11Seg

        found = sorted(glob.glob(os.path.join(args.peer, "**", "yolo11*seg*.tflite"),
                                 recursive=True))
        if not found:
            p.error(f"{args.peer}: no YOLO11n-seg TFLite file")
        segs["YOLO11n-seg (peer)"] = Yolo11Seg(found[0], threads=args.threads,
                                               score_threshold=0.25)
    tiled = segs["tiles auto, zoom off"]
    floor_inputs = [tiled.preprocess(frame, "bgr")[0].inputs for frame in frames]
    names = list(segs) + [FLOOR]
    times = {n: np.zeros((len(frames), args.rounds)) for n in names}
    people = {n: np.zeros(len(frames)) for n in names}
    zoomed = np.zeros(len(frames))
    with one_blas_thread():  # no BLAS worker spinning into the next run (measure.timing)
        for n in names[:-1]:  # warm-up
            segs[n](frames[0])
        for r in range(args.rounds):
            for i, frame in enumerate(frames):
                order = names[(i + r) % len(names):] + names[:(i + r) % len(names)]
                for n in order:  # every setting on the same frame, in a rotating order
                    if n == FLOOR:
                        t0 = time.perf_counter()
                        for x in floor_inputs[i]:
                            tiled.backend.detect(x)
                        times[n][i, r] = (time.perf_counter() - t0) * 1e3
                        people[n][i] = len(floor_inputs[i])  # passes, not people
                        continue
                    t0 = time.perf_counter()
                    result = segs[n](frame)
                    times[n][i, r] = (time.perf_counter() - t0) * 1e3
                    people[n][i] = len(result)
                    if n == "tiles off, zoom auto":
                        zoomed[i] = segs[n].last_zoomed
    per_frame = {n: np.median(times[n], axis=1) for n in names}
    base = per_frame["tiles off, zoom off"]
    report = {"frames": len(frames), "rounds": args.rounds, "threads": args.threads,
              "frame_size": list(frames[0].shape[:2]), "images": args.images or "coco",
              "cpu": cpu_model(), "versions": versions(), "settings": {}}
    for n in names:
        ratio = per_frame[n] / base
        report["settings"][n] = {
            "latency_ms": stats(times[n].ravel().tolist()),
            "frame_median_ms": round(float(np.median(per_frame[n])), 2),
            "ratio_to_one_pass": {"median": round(float(np.median(ratio)), 3),
                                  "p90": round(float(np.percentile(ratio, 90)), 3)},
            ("passes_per_frame" if n == FLOOR else "people_per_frame"):
                round(float(people[n].mean()), 2)}
    extra = per_frame["tiles off, zoom auto"] - base
    if zoomed.sum() > 0 and len(set(zoomed.tolist())) > 1:
        slope, intercept = np.polyfit(zoomed, extra, 1)
        report["zoom_cost_per_person_ms"] = round(float(slope), 2)
        report["zoom_cost_fixed_ms"] = round(float(intercept), 2)
    report["zoomed_per_frame"] = round(float(zoomed.mean()), 2)
    if "YOLO11n-seg (peer)" in per_frame:
        peer = per_frame["YOLO11n-seg (peer)"]
        report["ratio_to_peer"] = {n: round(float(np.median(per_frame[n] / peer)), 3)
                                   for n in names}
    print(json.dumps(report, indent=2))
    if args.output:
        from ssd_isb.utils.files import write_json

        write_json(args.output, report)  # atomic: a stopped run leaves the last report whole
    return 0


if __name__ == "__main__":
    sys.exit(main())
