#!/usr/bin/env python3
"""Latency and FPS of a model on a device with only the runtime installed (no TensorFlow).

    python benchmarks/fps.py --model ems_int8.tflite --threads 2 --runs 200 --output fps.json

Same measurement and JSON as ``ssd-isb benchmark`` (ssd_isb.measure.benchmark.run_benchmark).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ssd_isb.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["benchmark", *sys.argv[1:]]))
