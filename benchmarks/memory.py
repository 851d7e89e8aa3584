#!/usr/bin/env python3
"""Peak memory of a runtime-only process: a fresh interpreter imports ssd_isb.runtime (never
TensorFlow), loads the model, segments real images, and reports its peak RSS.

    python benchmarks/memory.py --model ems_int8.tflite --runs 50 --output memory.json

The baseline (Python + numpy + OpenCV + the backend library, no model) is measured the same way
and subtracted, so ``model_rss_mb`` is what the model and its buffers cost.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, resource, sys
sys.path.insert(0, {root!r})
from ssd_isb.runtime import Segmenter, read_image
from ssd_isb.runtime.backends import infer_backend
backend = {backend!r} or infer_backend({model!r})
if backend == "tflite":
    import ssd_isb.runtime.backends.tflite_backend as m; m.interpreter_class()
elif backend == "onnx":
    import onnxruntime
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
peak = base
if {load!r}:
    seg = Segmenter({model!r}, backend={backend!r}, threads={threads!r})
    images = [read_image(p) for p in {images!r}]
    for i in range({runs!r}):
        seg(images[i % len(images)])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"baseline_rss_mb": base, "peak_rss_mb": peak,
                  "tensorflow_imported": "tensorflow" in sys.modules}}))
"""


def measure(model, backend, threads, images, runs, load=True):
    code = CHILD.format(root=ROOT, model=model, backend=backend, threads=threads,
                        images=images, runs=runs, load=load)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"memory.py: the measuring process failed: {res.stderr[-500:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    sys.path.insert(0, ROOT)
    from ssd_isb.benchmark import default_images
    from ssd_isb.export.calibration import folder_images

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--backend")
    p.add_argument("--threads", type=int)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--images", help="folder of real images (default: ../shared/data photos)")
    p.add_argument("--output")
    args = p.parse_args(argv)
    images = folder_images(args.images) if args.images else default_images()
    if not images:
        print("memory.py: no images (pass --images)", file=sys.stderr)
        return 2
    images = images[:10]
    empty = measure(args.model, args.backend, args.threads, images, 0, load=False)
    full = measure(args.model, args.backend, args.threads, images, args.runs)
    report = {"model": os.path.abspath(args.model), "runs": args.runs,
              "baseline_rss_mb": round(empty["peak_rss_mb"], 1),
              "peak_rss_mb": round(full["peak_rss_mb"], 1),
              "model_rss_mb": round(full["peak_rss_mb"] - empty["peak_rss_mb"], 1),
              "model_bytes": os.path.getsize(args.model),
              "tensorflow_imported": full["tensorflow_imported"]}
    print(json.dumps(report, indent=2))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
