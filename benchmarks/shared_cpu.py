#!/usr/bin/env python3
"""Thread counts when the CPU is shared: fixed counts against ``--threads auto``, on an idle
machine and beside busy processes (each a pure-Python loop pinned to nothing, as another
program on a robot or a camera box would be). Each setting runs the same frames; the busy
processes start before and stop after each measurement. TF-free.

    python benchmarks/shared_cpu.py --busy 0 1 --runs 300 --output docs/results/shared_cpu.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _burn(stop):
    x = 0
    while not stop.is_set():
        for _ in range(100000):
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF


def main(argv=None) -> int:
    sys.path.insert(0, ROOT)
    from ssd_isb.measure.benchmark import default_images
    from ssd_isb.measure.host import stats
    from ssd_isb.runtime import Segmenter, read_image
    from ssd_isb.runtime.threads import usable_cores

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="model file (default: the shipped one)")
    p.add_argument("--busy", type=int, nargs="+", default=[0, 1], help="busy processes beside")
    p.add_argument("--runs", type=int, default=300, help="frames per setting")
    p.add_argument("--tiles", default="off")
    p.add_argument("--zoom", default="off")
    p.add_argument("--output", help="JSON report")
    args = p.parse_args(argv)
    frames = [read_image(path) for path in default_images(20)]
    cores = usable_cores()
    settings = sorted({1, cores}) + ["auto"]
    report = {"cores": cores, "runs": args.runs, "tiles": args.tiles, "zoom": args.zoom,
              "rows": []}
    for busy in args.busy:
        for threads in settings:
            stop = multiprocessing.Event()
            burners = [multiprocessing.Process(target=_burn, args=(stop,), daemon=True)
                       for _ in range(busy)]
            for b in burners:
                b.start()
            time.sleep(1.0)
            seg = Segmenter(args.model, threads=threads, tiles=args.tiles, zoom=args.zoom)
            ms = []
            for i in range(args.runs):
                t0 = time.perf_counter()
                seg(frames[i % len(frames)])
                ms.append((time.perf_counter() - t0) * 1e3)
            stop.set()
            for b in burners:
                b.join(5)
            row = {"busy_processes": busy, "threads": threads, "latency_ms": stats(ms[50:]),
                   "threads_at_end": seg.threads}
            if seg.auto_threads is not None:
                row["switches"] = seg.auto_threads.switches
            report["rows"].append(row)
            print(f"busy {busy}, threads {threads}: {row['latency_ms']['median']:.1f} ms "
                  f"median (p90 {row['latency_ms']['p90']:.1f}); running {seg.threads} at the "
                  f"end", flush=True)
    if args.output:
        with open(args.output, "w") as fh:
            json.dump(report, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
