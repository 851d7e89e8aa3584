"""Side-by-side comparison of models (thesis Table 5.5): FPS, memory, parameters and, with
annotations, mask and box AP50, in one run (TF-free unless a ``.keras`` model is compared).

Timing alternates the models run by run (round ``r`` starts at model ``r mod n``), so drift
of the machine (thermal, other load) hits every model alike and ratios in one table are fair.
Peers (YOLOv8-seg TFLite, the zoo detector) are decoded as their authors specify
(:mod:`ssd_isb.peers`) and timed in the same rounds.
"""

from __future__ import annotations

import glob
import os
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from ..utils.errors import SSDISBError, UsageError
from ..core.metadata import read_sidecar
from ..runtime.backends import EXTENSIONS as MODEL_EXTENSIONS
from ..runtime.image_io import read_image
from .host import cpu_model, versions
from .kinds import EVAL_THRESHOLD, make_segmenter
from .memory import measure_memory
from .timing import time_interleaved


class NoModelFile(SSDISBError, FileNotFoundError):
    """A model path (or folder of models) given to the comparison is not there."""


@dataclass
class Entry:
    """One row of the comparison."""

    label: str
    kind: str
    path: str
    backend: str
    precision: str
    variant: str
    input_size: str
    params: Optional[int] = None
    backend_override: Optional[str] = None
    results: Dict = field(default_factory=dict)
    tiles: str = "off"  # an SSD-ISB model's passes (sliced inference, second look)
    zoom: str = "off"

    def segmenter(self, threads, score_threshold=None):
        """The entry's model opened as it is measured."""
        return make_segmenter(self.kind, self.path, self.backend_override, threads,
                              score_threshold=score_threshold, tiles=self.tiles,
                              zoom=self.zoom)


def ssd_isb_entry(path: str, backend: Optional[str] = None, tiles: str = "off",
                  zoom: str = "off") -> Entry:
    """An SSD-ISB model file (its sidecar gives variant, precision, input size, params), run
    with the given passes."""
    from ..runtime.backends import infer_backend

    meta = read_sidecar(path)
    name = backend or infer_backend(path)
    precision = "fp32 (Keras)" if path.endswith(".keras") else meta.precision
    size = "x".join(str(s) for s in meta.input_size)
    passes = "" if tiles == "off" and zoom == "off" else f", tiles {tiles}, zoom {zoom}"
    return Entry(label=f"SSD-ISB {meta.variant} {name} {precision}{passes}", kind="ssd-isb",
                 path=path, backend=name, precision=precision, variant=meta.variant,
                 input_size=size, params=meta.params, backend_override=backend, tiles=tiles,
                 zoom=zoom)


def peer_entries(peers: Optional[str], pretrained: Optional[str]) -> List[Entry]:
    """The YOLO-seg TFLite files under ``peers`` (YOLOv8n-seg, YOLO11n-seg, told apart by their
    file names) and the zoo detector under ``pretrained``.

    Of several exports of one peer only the full-integer one is timed: a float-I/O twin runs
    the same int8 graph and only adds (de)quantize ops.
    """
    out: List[Entry] = []
    if peers:
        files = sorted(glob.glob(os.path.join(peers, "**", "*seg*.tflite"), recursive=True))
        for kind, tag, label in (("yolov8-seg", "yolov8", "YOLOv8n-seg"),
                                 ("yolo11-seg", "yolo11", "YOLO11n-seg")):
            mine = [f for f in files if os.path.basename(f).lower().startswith(tag)]
            full = [f for f in mine if "full_integer" in os.path.basename(f)]
            for path in (full or mine)[:1]:
                out.append(Entry(label=f"{label} (peer) {os.path.basename(path)}", kind=kind,
                                 path=path, backend="tflite", precision="int8",
                                 variant=label.lower(), input_size="640x640"))
    if pretrained:
        for path in sorted(glob.glob(os.path.join(pretrained, "**", "detect.tflite"),
                                     recursive=True)):
            folder = os.path.basename(os.path.dirname(path))
            out.append(Entry(label=f"zoo detector {folder} (boxes only)", kind="zoo-detector",
                             path=path, backend="tflite", precision="uint8",
                             variant="detector only", input_size="300x300"))
    return out


def _is_instance_model(path: str) -> bool:
    from ..core.metadata import MetadataError, read_sidecar

    try:
        return read_sidecar(path).task != "semantic"
    except MetadataError:
        return False


def model_files(paths: Sequence[str]) -> List[str]:
    """Model files from a mix of files and folders (folders: every instance model with a
    sidecar; semantic models are compared by ``benchmarks/semantic.py``)."""
    out: List[str] = []
    for p in paths:
        if os.path.isdir(p):
            found = sorted(f for f in glob.glob(os.path.join(p, "*"))
                           if f.endswith(tuple(MODEL_EXTENSIONS)) and _is_instance_model(f))
            if not found:
                raise NoModelFile(f"{p}: no model file with a sidecar in this folder")
            out += found
        elif not os.path.exists(p):
            raise NoModelFile(f"{p}: no such model file")
        else:
            out.append(p)
    return out


def time_entries(entries: Sequence[Entry], frames: Sequence, runs: int, warmup: int,
                 threads: Optional[int], progress=None) -> List:
    """Load every entry and time them together (:func:`~ssd_isb.measure.timing.
    time_interleaved`); fills ``entry.results`` and ``entry.params``; returns the loaded
    segmenters."""
    segmenters = []
    for e in entries:
        t0 = time.perf_counter()
        seg = e.segmenter(threads)
        e.results["load_seconds"] = round(time.perf_counter() - t0, 2)
        if e.params is None:
            e.params = seg.params
        segmenters.append(seg)
        if progress:
            progress(f"loaded {e.label}")
    for e, timed in zip(entries, time_interleaved(segmenters, frames, runs, warmup)):
        e.results.update(timed)
    return segmenters


def frames_with_people(segmenter, images: Sequence[str], counts: Sequence[int]) -> Dict:
    """For each count, the first real image in which ``segmenter`` finds that many people
    (else the one nearest to it): {count: (path, decoded frame)}."""
    found: Dict[int, tuple] = {}
    best: Dict[int, tuple] = {}
    for path in images:
        frame = read_image(path)
        n = len(segmenter(frame))
        for k in counts:
            if k not in found and (k not in best or abs(n - k) < best[k][0]):
                best[k] = (abs(n - k), path, frame)
                if n == k:
                    found[k] = (path, frame)
        if len(found) == len(counts):
            break
    return {k: found.get(k, best[k][1:]) for k in counts}


def evaluate_entries(entries: Sequence[Entry], annotations: str, images: str, split: str,
                     threads: Optional[int], max_images: Optional[int] = None,
                     progress=None) -> None:
    """Mask and box AP50 (and the rest of the metric set) of every entry on one split.

    The zoo detector has no masks: its filled boxes are scored (the box-mask floor).
    """
    from ..evaluation.evaluate import evaluate_segmenter

    for e in entries:
        seg = e.segmenter(threads, EVAL_THRESHOLD[e.kind])
        report = evaluate_segmenter(seg, annotations, images, e.path,
                                    box_masks=e.kind == "zoo-detector",
                                    split=split, max_images=max_images)
        e.results["segm"] = report["segm"]
        e.results["bbox"] = report["bbox"]
        e.results["eval_images"] = report["images"]
        if progress:
            progress(f"evaluated {e.label}: mask AP50 {report['segm']['AP50']:.2f}")


def compare(models: Sequence[str], images: Sequence[str], runs: int = 50, warmup: int = 5,
            threads: Optional[int] = 2, peers: Optional[str] = None,
            pretrained: Optional[str] = None, annotations: Optional[str] = None,
            annotation_images: Optional[str] = None, split: str = "all",
            memory: bool = True, memory_runs: int = 10, max_images: Optional[int] = None,
            people: Sequence[int] = (), progress=None, passes: Sequence = (("off", "off"),)
            ) -> Dict:
    """Run the whole comparison.

    Args:
        models: SSD-ISB model files or folders of them.
        images: real image paths for timing and memory (cycled).
        runs: timed runs per model (after ``warmup``), alternated across models.
        warmup: untimed runs per model.
        threads: CPU threads of every model.
        peers: folder of peer TFLite files (``../shared/peers``), or None.
        pretrained: folder holding the zoo ``detect.tflite`` (``../shared/pretrained``), or None.
        annotations: COCO json; with it every model's AP is measured too.
        annotation_images: image folder of ``annotations``.
        split: "all", "val" or "train" (the deterministic hold-out; "val" = dev-validation).
        memory: measure peak RSS of each model in a fresh process.
        memory_runs: segmentations in the memory process.
        max_images: score only the first N images of the split.
        people: also time every model on one real frame with each of these numbers of people
            (as the first SSD-ISB model counts them at its application threshold), alternated.
        progress: callable receiving one-line progress messages.
        passes: (tiles, zoom) settings each SSD-ISB model is measured with, one row each.

    Returns:
        ``{"rows": [...], "threads", "runs", "cpu", "versions", ...}``; each row has label,
        kind, path, backend, precision, variant, input_size, params, model_bytes and results.
    """
    entries = [ssd_isb_entry(p, tiles=t, zoom=z) for p in model_files(models)
               for t, z in passes]
    entries += peer_entries(peers, pretrained)
    if not entries:
        raise UsageError("nothing to compare: give --models and/or --peer")
    frames = [read_image(p) for p in images]
    segmenters = time_entries(entries, frames, runs, warmup, threads, progress)
    by_people = {}
    if people:
        counter = next((s for e, s in zip(entries, segmenters) if e.kind == "ssd-isb"), None)
        if counter is None:
            raise UsageError("--people needs an SSD-ISB model to count the people")
        for k, (path, frame) in frames_with_people(counter, images, people).items():
            timed = time_interleaved(segmenters, [frame], runs, warmup)
            by_people[k] = {"image": os.path.basename(path),
                            "people": len(counter(frame)),
                            "latency_ms": [t["latency_ms"]["total"] for t in timed]}
            if progress:
                progress(f"timed a frame with {by_people[k]['people']} people")
    if memory:
        for e in entries:
            e.results["memory"] = measure_memory(e.path, images[:5], memory_runs, kind=e.kind,
                                                 backend=e.backend_override, threads=threads,
                                                 tiles=e.tiles, zoom=e.zoom)
            if progress:
                progress(f"memory {e.label}: {e.results['memory']['peak_rss_mb']} MB")
    if annotations:
        evaluate_entries(entries, annotations, annotation_images, split, threads, max_images,
                         progress)
    # The peer to beat: YOLO11n-seg where it is measured, else YOLOv8n-seg.
    peer = next((e for e in entries if e.kind == "yolo11-seg"),
                next((e for e in entries if e.kind == "yolov8-seg"), None))
    detector = next((e for e in entries if e.kind == "zoo-detector"), None)
    rows = []
    for i, e in enumerate(entries):
        row = {"label": e.label, "kind": e.kind, "path": os.path.abspath(e.path),
               "backend": e.backend, "precision": e.precision, "variant": e.variant,
               "input_size": e.input_size, "params": e.params,
               "model_bytes": os.path.getsize(e.path), **e.results}
        for key, ref in (("latency_vs_peer", peer), ("latency_vs_detector", detector)):
            if ref is not None:
                row[key] = round(e.results["latency_ms"]["total"]["median"] /
                                 ref.results["latency_ms"]["total"]["median"], 3)
        if by_people:
            row["latency_by_people"] = {str(v["people"]): v["latency_ms"][i]
                                        for v in by_people.values()}
        rows.append(row)
    return {"rows": rows, "threads": threads, "runs": runs, "warmup": warmup,
            "people_frames": {str(v["people"]): v["image"] for v in by_people.values()},
            "timing_images": len(images), "split": split if annotations else None,
            "annotations": os.path.abspath(annotations) if annotations else None,
            "cpu": cpu_model(), "cpu_count": os.cpu_count(), "versions": versions()}


def _fmt(value, digits=1) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}"


def markdown_table(report: Dict) -> str:
    """The comparison as one markdown table (thesis Table 5.5 layout, plus AP and ratios)."""
    has_ap = any("segm" in r for r in report["rows"])
    has_peer = any("latency_vs_peer" in r for r in report["rows"])
    has_detector = any("latency_vs_detector" in r for r in report["rows"])
    head = ["Model", "Backend", "Precision", "Input", "FPS", "Latency ms (p90)",
            "Inference ms", "Peak RSS MB (model)", "File MB", "Params"]
    if has_ap:
        head += ["Mask AP50", "Box AP50", "Mask AP50 small", "Box AP50 small"]
    if has_peer:
        head += ["Latency / peer"]
    if has_detector:
        head += ["Latency / detector"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in report["rows"]:
        lat = r["latency_ms"]["total"]
        mem = r.get("memory")
        cells = [r["label"], r["backend"], r["precision"], r["input_size"],
                 _fmt(r["fps_median"]), f"{lat['median']:.1f} ({lat['p90']:.1f})",
                 _fmt(r["latency_ms"]["inference"]["median"]),
                 f"{mem['peak_rss_mb']:.0f} ({mem['model_rss_mb']:.0f})" if mem else "–",
                 _fmt(r["model_bytes"] / 1e6, 2),
                 f"{r['params'] / 1e6:.2f} M" if r.get("params") else "–"]
        if has_ap:
            cells += [_fmt(r.get(kind, {}).get(key)) for key in ("AP50", "AP50_small")
                      for kind in ("segm", "bbox")]
        if has_peer:
            cells += [f"{r['latency_vs_peer']:.2f}"]
        if has_detector:
            cells += [f"{r['latency_vs_detector']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    note = (f"{report['threads']} threads, {report['runs']} runs per model alternated, "
            f"{report['timing_images']} timing images, {report['cpu']} "
            f"({report['cpu_count']} cores)")
    if report.get("split"):
        note += f"; AP on split '{report['split']}' of {os.path.basename(report['annotations'])}"
    text = "\n".join(lines) + f"\n\n{note}.\n"
    people = report.get("people_frames") or {}
    if people:
        head = ["Model"] + [f"{k} people ({name}): ms median (p90)" for k, name in people.items()]
        rows = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        for r in report["rows"]:
            by = r.get("latency_by_people", {})
            rows.append("| " + " | ".join([r["label"]] + [
                f"{by[k]['median']:.1f} ({by[k]['p90']:.1f})" for k in people]) + " |")
        text += ("\nEnd-to-end latency on one real frame per number of people (as the first "
                 "SSD-ISB model counts them), models alternated:\n\n" + "\n".join(rows) + "\n")
    return text
