#!/usr/bin/env python3
"""``ssd-isb serve`` under load, on loopback only, stopping by itself.

``--mode load``: ``POST /v1/segment`` at 1, 4 and 16 concurrent clients (p50/p99 latency,
requests/s, errors) against the in-process ``Segmenter`` on the same images, timed in the same
run (in-process first, then each concurrency; the same images in the same order).

``--mode soak``: one stream (the street video, looped), ``--viewers`` MJPEG page viewers and
photos posted at ``--rate`` requests/s for ``--minutes``; the service's RSS is sampled every
10 s (flat within 10% is the goal), errors counted.

    python benchmarks/serve_load.py --mode load --output docs/results/serve_load.json
    python benchmarks/serve_load.py --mode soak --minutes 10 --output docs/results/serve_soak.json

Needs the serve extra and httpx (the dev extra). TF-free.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")


def start_service(args, extra):
    proc = subprocess.Popen([sys.executable, "-m", "ssd_isb", "serve", "--port", "0",
                             "--threads", str(args.threads), "--tiles", args.tiles, "--zoom",
                             args.zoom, *extra], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        line = proc.stdout.readline()
        if "listening on" in line:
            return proc, line.split("listening on ")[1].split()[0]
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit(f"the service did not start: {proc.stderr.read()[-500:]}")


def stop_service(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def stats(ms):
    a = np.asarray(ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2), "n": len(a)}


async def clients(url, bodies, concurrency, total):
    import httpx

    latencies, errors = [], []
    counter = iter(range(total))

    async def client(http):
        for i in counter:
            body = bodies[i % len(bodies)]
            t0 = time.perf_counter()
            try:
                r = await http.post(url + "/v1/segment", content=body,
                                    headers={"content-type": "image/jpeg"})
                if r.status_code != 200:
                    errors.append(r.status_code)
                    continue
            except httpx.HTTPError as err:
                errors.append(type(err).__name__)
                continue
            latencies.append((time.perf_counter() - t0) * 1e3)

    async with httpx.AsyncClient(timeout=120) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        seconds = time.perf_counter() - t0
    return {**stats(latencies), "requests_per_s": round(len(latencies) / seconds, 2),
            "errors": len(errors), "error_kinds": sorted(set(map(str, errors)))}


def load(args):
    import cv2

    from ssd_isb.runtime import Segmenter

    paths = sorted(os.path.join(args.images, f) for f in os.listdir(args.images)
                   if f.endswith(".jpg"))[:args.count]
    bodies = [open(p, "rb").read() for p in paths]
    seg = Segmenter(args.model, threads=args.threads, tiles=args.tiles, zoom=args.zoom)
    frames = [cv2.imread(p) for p in paths]
    for f in frames[:3]:
        seg(f)
    ms = []
    t0 = time.perf_counter()
    for i in range(args.requests):
        t = time.perf_counter()
        seg(frames[i % len(frames)])
        ms.append((time.perf_counter() - t) * 1e3)
    inproc = {**stats(ms), "requests_per_s": round(args.requests / (time.perf_counter() - t0),
                                                    2)}
    del seg
    proc, url = start_service(args, ["--model", args.model] if args.model else [])
    try:
        asyncio.run(clients(url, bodies, 2, 6))  # warm-up
        rows = {str(c): asyncio.run(clients(url, bodies, c, args.requests))
                for c in (1, 4, 16)}
    finally:
        stop_service(proc)
    return {"mode": "load", "in_process": inproc, "served": rows,
            "p50_ratio_1_client": round(rows["1"]["p50_ms"] / inproc["p50_ms"], 3),
            "throughput_ratio_16_clients": round(rows["16"]["requests_per_s"] /
                                                 inproc["requests_per_s"], 3),
            "images": len(paths), "requests": args.requests, "threads": args.threads,
            "tiles": args.tiles, "zoom": args.zoom}


def soak(args):
    import httpx

    paths = sorted(os.path.join(args.images, f) for f in os.listdir(args.images)
                   if f.endswith(".jpg"))[:args.count]
    bodies = [open(p, "rb").read() for p in paths]
    video = os.path.join(SHARED, "data", "videos", "pedestrians_480x360.avi")
    proc, url = start_service(args, ["--source", video, "--loop", "--track"])
    stop = threading.Event()
    seen = [0] * args.viewers

    def viewer(k):
        while not stop.is_set():
            try:
                with httpx.stream("GET", url + "/v1/streams/0/mjpeg", timeout=30) as r:
                    for chunk in r.iter_bytes():
                        seen[k] += chunk.count(b"--frame")
                        if stop.is_set():
                            return
            except httpx.HTTPError:
                time.sleep(0.5)

    threads = [threading.Thread(target=viewer, args=(k,), daemon=True)
               for k in range(args.viewers)]
    for t in threads:
        t.start()
    samples, latencies, errors = [], [], 0
    end = time.time() + args.minutes * 60
    next_sample, i = time.time(), 0
    with httpx.Client(timeout=60) as http:
        while time.time() < end:
            t0 = time.perf_counter()
            try:
                r = http.post(url + "/v1/segment", content=bodies[i % len(bodies)],
                              headers={"content-type": "image/jpeg"})
                errors += r.status_code != 200
                latencies.append((time.perf_counter() - t0) * 1e3)
            except httpx.HTTPError:
                errors += 1
            i += 1
            if time.time() >= next_sample:
                samples.append({"t_s": round(time.time() - (end - args.minutes * 60), 1),
                                "rss_mb": round(rss_mb(proc.pid), 1)})
                next_sample += 10
            time.sleep(max(0.0, 1.0 / args.rate - (time.perf_counter() - t0)))
        streams = http.get(url + "/v1/streams").json()["streams"]
    stop.set()
    stop_service(proc)
    return {"mode": "soak", "minutes": args.minutes, "rate": args.rate,
            "viewers": args.viewers, "requests": i, "errors": errors,
            "latency": stats(latencies), "rss_samples": samples,
            **rss_summary(samples), "viewer_frames": seen, "stream": streams[0]}


def rss_summary(samples) -> dict:
    """Growth of the service's RSS over the soak: the median of the last fifth of the samples
    over that of the second fifth (the first is model load and warm-up). Medians, because
    the allocator hands memory back for a moment now and then (a looped video reopened): a
    dip is not growth. The settled range (min, max) is kept beside it."""
    rss = [s["rss_mb"] for s in samples]
    fifth = max(1, len(rss) // 5)
    settled = rss[fifth:] or rss
    early, late = float(np.median(rss[fifth:2 * fifth] or rss)), float(np.median(rss[-fifth:]))
    return {"rss_settled_min_mb": min(settled), "rss_settled_max_mb": max(settled),
            "rss_early_median_mb": early, "rss_late_median_mb": late,
            "rss_growth": round(late / early - 1, 4)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=("load", "soak"), default="load")
    p.add_argument("--model", help="model file (default: the shipped one)")
    p.add_argument("--images", default=os.path.join(SHARED, "data", "coco_person_val2017",
                                                    "images"))
    p.add_argument("--count", type=int, default=20, help="images used")
    p.add_argument("--requests", type=int, default=120, help="requests per concurrency")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tiles", default="auto")
    p.add_argument("--zoom", default="auto")
    p.add_argument("--minutes", type=float, default=10.0, help="soak length")
    p.add_argument("--rate", type=float, default=8.0, help="soak photos per second")
    p.add_argument("--viewers", type=int, default=10, help="soak MJPEG viewers")
    p.add_argument("--output", help="JSON report")
    args = p.parse_args(argv)
    sys.path.insert(0, ROOT)
    report = load(args) if args.mode == "load" else soak(args)
    print(json.dumps(report, indent=2))
    if args.output:
        from ssd_isb.utils.files import write_json

        write_json(args.output, report)  # atomic: a stopped run leaves the last report whole
    return 0


if __name__ == "__main__":
    sys.exit(main())
