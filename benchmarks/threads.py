#!/usr/bin/env python3
"""Do the two stages fight over threads? One LiteRT interpreter for both stages (its signatures
share one thread pool) against a second interpreter with its own threads for the branch calls,
timed alternately on the same real frames (TF-free).

    python benchmarks/threads.py --model ssd_isb/zoo/ssd_isb_multi_shape_int8.tflite --threads 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> int:
    sys.path.insert(0, ROOT)
    from ssd_isb.utils.files import write_json
    from ssd_isb.measure.benchmark import default_images
    from ssd_isb.measure.host import stats
    from ssd_isb.measure.timing import time_interleaved
    from ssd_isb.runtime import Segmenter, read_image
    from ssd_isb.runtime.backends.tflite_backend import TFLiteBackend
    from ssd_isb.runtime.image_io import list_images

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="a two-stage .tflite model")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=300)
    p.add_argument("--images", help="folder of photos (default: 150 of coco_person_val2017)")
    p.add_argument("--output", help="JSON report")
    args = p.parse_args(argv)
    paths = list_images(args.images) if args.images else default_images(150)
    frames = [read_image(path) for path in paths[:150]]
    # The branch stage on the detect stage's interpreter, or on a second one of its own.
    setups = {"one interpreter (shared pool)": None, "branch interpreter, 1 thread": 1,
              f"branch interpreter, {args.threads} threads": args.threads}
    segs, calls = [], {}
    for label, branch_threads in setups.items():
        seg = Segmenter(args.model, threads=args.threads, tiles="off", zoom="off")
        backend = seg.backend
        if branch_threads:
            backend.branch_calls = TFLiteBackend(args.model,
                                                 threads=branch_threads).branch_calls
        calls[label] = []
        run = backend.run_branch

        def timed(name, crops, run=run, record=calls[label]):
            t0 = time.perf_counter()
            out = run(name, crops)
            record.append((time.perf_counter() - t0) * 1e3)
            return out

        backend.run_branch = timed
        segs.append(seg)
    report = {}
    for (label, _), timed in zip(setups.items(), time_interleaved(segs, frames, args.runs, 20)):
        report[label] = {"total_ms": timed["latency_ms"]["total"],
                         "branch_call_ms": stats(calls[label]), "branch_calls": len(calls[label])}
        t, b = report[label]["total_ms"], report[label]["branch_call_ms"]
        print(f"{label:36s} total {t['median']:.2f} ms (p90 {t['p90']:.2f}); one branch call "
              f"{b['median']:.3f} ms (p90 {b['p90']:.3f})")
    if args.output:
        write_json(args.output, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
