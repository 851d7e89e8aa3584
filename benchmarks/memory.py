#!/usr/bin/env python3
"""Peak memory of a runtime-only process: a fresh interpreter imports ssd_isb.runtime (never
TensorFlow), loads the model, segments real images, and reports its peak RSS.

    python benchmarks/memory.py --model ems_int8.tflite --runs 50 --output memory.json

The baseline (Python + numpy + OpenCV + the backend library, no model) is measured the same way
and subtracted, so ``model_rss_mb`` is what the model and its buffers cost
(ssd_isb.measure.memory.measure_memory).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> int:
    sys.path.insert(0, ROOT)
    from ssd_isb.utils.files import write_json
    from ssd_isb.measure.benchmark import default_images
    from ssd_isb.measure.memory import measure_memory
    from ssd_isb.runtime.image_io import list_images

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--backend")
    p.add_argument("--threads", type=int)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--images", help="folder of real images (default: ../shared/data photos)")
    p.add_argument("--output")
    args = p.parse_args(argv)
    images = list_images(args.images) if args.images else default_images()
    if not images:
        print("memory.py: no images (pass --images)", file=sys.stderr)
        return 2
    try:
        report = measure_memory(args.model, images[:10], args.runs, backend=args.backend,
                                threads=args.threads)
    except RuntimeError as err:
        print(f"memory.py: {err}", file=sys.stderr)
        return 1
    report = {"model": os.path.abspath(args.model), "runs": args.runs, **report}
    print(json.dumps(report, indent=2))
    if args.output:
        write_json(args.output, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
