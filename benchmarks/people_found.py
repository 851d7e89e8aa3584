#!/usr/bin/env python3
"""People found at the application threshold (0.5): ours per tile and zoom setting, against
exact labels and against YOLO11n-seg's people (issue 34's measure), on real frames.

    python benchmarks/people_found.py --annotations M/annotations.json --images M/images \\
        --tiles auto 2x3 off --peer ../shared/peers --output docs/results/people_found.json

Per setting: recall and precision against the labels (crowd regions left out), detections,
and the share of the people YOLO11n-seg keeps at 0.5 that ours finds too (box IoU 0.5,
greedy by score). Accuracy only: nothing here is timed. Ctrl-C or SIGTERM writes the counts of
the frames done (exit 130 / 143). TF-free.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER = "YOLO11n-seg (peer)"


def main(argv=None) -> int:
    sys.path.insert(0, ROOT)
    from ssd_isb.utils.errors import SSDISBError
    from ssd_isb.utils.files import check_output_file

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="model file (default: the shipped one)")
    p.add_argument("--annotations", required=True, help="COCO json of the frames")
    p.add_argument("--images", required=True, help="their folder")
    p.add_argument("--tiles", nargs="+", default=["auto", "off"], help="tile settings")
    p.add_argument("--zoom", default="off", help="zoom setting of every row (boxes only "
                   "change where the second look re-detects)")
    p.add_argument("--threshold", type=float, default=0.5, help="the application threshold")
    p.add_argument("--count", type=int, help="first N frames")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--peer", help="folder with the YOLO11n-seg TFLite file (../shared/peers)")
    p.add_argument("--output", help="JSON report")
    args = p.parse_args(argv)
    try:
        if args.output:
            check_output_file(args.output)
        return _run(args, p)
    except SSDISBError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _run(args, p) -> int:
    from ssd_isb.measure.people_found import coco_frames, count_people
    from ssd_isb.measure.timing import one_blas_thread
    from ssd_isb.runtime import Segmenter
    from ssd_isb.utils.files import write_json
    from ssd_isb.utils.signals import exit_code, stop_signals, stopped_by

    models = {f"tiles {t}, zoom {args.zoom}": Segmenter(
        args.model, threads=args.threads, score_threshold=min(args.threshold, 0.5), tiles=t,
        zoom=args.zoom) for t in args.tiles}
    reference = None
    if args.peer:
        from ssd_isb.peers import Yolo11Seg

        found = sorted(glob.glob(os.path.join(args.peer, "**", "yolo11*seg*.tflite"),
                                 recursive=True))
        if not found:
            p.error(f"{args.peer}: no YOLO11n-seg TFLite file")
        models[PEER] = Yolo11Seg(found[0], threads=args.threads,
                                 score_threshold=min(args.threshold, 0.25))
        reference = PEER
    tallies, stop = {}, None

    def frames():
        for i, item in enumerate(coco_frames(args.annotations, args.images, args.count)):
            print(f"frame {i + 1}", file=sys.stderr, flush=True)
            yield item

    try:
        with stop_signals(), one_blas_thread():
            count_people(models, frames(), args.threshold, reference, tallies)
    except KeyboardInterrupt as err:  # Ctrl-C or SIGTERM: keep the frames counted
        stop = err
    rows = {name: t.summary() for name, t in tallies.items()}
    report = {"annotations": args.annotations, "images": args.images,
              "threshold": args.threshold, "skipped_images": coco_frames.skipped,
              "rows": rows}
    if stop is not None:
        report["stopped"] = stopped_by(stop)
    for name, r in rows.items():
        share = (f", {r['share_of_peer_found']:.3f} of {PEER}'s {r['peer_people']} people"
                 if "share_of_peer_found" in r else "")
        print(f"{name}: recall {r['recall']}, precision {r['precision']}, "
              f"{r['detections']} detections{share}")
    if args.output:
        write_json(args.output, report)
    if stop is not None:
        print(f"{stopped_by(stop)}: the counts of the frames done are above", file=sys.stderr)
        return exit_code(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
