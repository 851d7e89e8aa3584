"""Seconds per optimizer update: one process vs two local workers (MultiWorkerMirrored, CPU).

Both train the same small Multi-Shape config (Penn-Fudan, global batch 4 = 2 x 2 accumulated)
for the same updates from the imported zoo detector; the figure is the median over the
checkpointed epochs after the first (which includes tracing), from the chief's
``summary.json`` (``epoch_seconds``). Run alone on the machine: the two workers share its cores.

    python benchmarks/multi_worker.py --output docs/results/multi_worker.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def run(workers: int, cfg: str, init: str, workdir: str, threads: int):
    procs = []
    ports = _free_ports(workers)
    for k in range(workers):
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": "1"}
        extra = []
        if workers > 1:
            env["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}"
                                                                  for p in ports]},
                                           "task": {"type": "worker", "index": k}})
            extra = ["--strategy", "multi-worker"]
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "ssd_isb", "train", "--config", cfg, "--init", init,
             "--workdir", workdir, "--quiet", *extra], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = [p.communicate()[0] for p in procs]
    for p, out in zip(procs, outs):
        if p.returncode:
            raise SystemExit(out[-2000:])
    summary = json.load(open(os.path.join(workdir, "summary.json")))
    return summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--updates", type=int, default=12)
    ap.add_argument("--every", type=int, default=3, help="updates per checkpointed epoch")
    ap.add_argument("--output", default="docs/results/multi_worker.json")
    args = ap.parse_args()
    from test_training import tiny_config

    from ssd_isb.config import load_config
    from ssd_isb.model import build_detector
    from ssd_isb.model.pretrained import import_into_detector, read_zoo_tflite

    tmp = tempfile.mkdtemp(prefix="mw_bench_")
    init = os.path.join(tmp, "zoo.weights.h5")
    detector = build_detector(load_config("embedded_multi_shape"))
    import_into_detector(detector, read_zoo_tflite(os.path.join(
        ROOT, "..", "shared", "pretrained", "ssd_mobilenet_v1_0.75_coco_quant", "detect.tflite")))
    detector.save_weights(init)
    cfg = os.path.join(tmp, "bench.yaml")
    with open(cfg, "w") as fh:
        yaml.safe_dump(tiny_config(steps=args.updates, checkpoint_every=args.every,
                                   validation_batches=1), fh)
    cores = os.cpu_count() or 1
    rows = []
    for workers in (1, 2):
        started = time.time()
        s = run(workers, cfg, init, os.path.join(tmp, f"w{workers}"),
                threads=max(1, cores // workers))
        # Epochs after the first (tracing), each `every` updates and a checkpoint.
        later = sorted(s["epoch_seconds"][1:])
        median = later[len(later) // 2] / args.every
        rows.append({"workers": workers, "updates": s["steps"], "global_batch": s["global_batch"],
                     "seconds": round(s["seconds"], 1),
                     "seconds_per_update": round(median, 2),
                     "seconds_per_update_range": [round(later[0] / args.every, 2),
                                                  round(later[-1] / args.every, 2)],
                     "wall_seconds": round(time.time() - started, 1),
                     "train_images_per_worker": s["train_images"],
                     "epoch_seconds": s["epoch_seconds"]})
        print(rows[-1], flush=True)
    out = {"machine": f"{cores} CPU cores, no GPU; both workers on this one machine",
           "config": "tests/test_training.py tiny_config (Penn-Fudan, Multi-Shape 3 branches)",
           "rows": rows,
           "ratio_2_over_1": round(rows[1]["seconds_per_update"]
                                   / rows[0]["seconds_per_update"], 2)}
    os.makedirs(os.path.dirname(os.path.join(ROOT, args.output)), exist_ok=True)
    with open(os.path.join(ROOT, args.output), "w") as fh:
        json.dump(out, fh, indent=2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
