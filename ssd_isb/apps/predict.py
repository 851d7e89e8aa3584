"""``ssd-isb predict``: segment the people in images, a folder or a video; write the overlays
and one COCO results file (TF-free with TFLite/ONNX/TensorRT models).

``results.json`` is a COCO results list: ``file_name`` (and ``image_id`` when known: from
``--annotations``, or a COCO-style numeric file name), ``category_id`` (person = 1), ``bbox``
(x, y, w, h in pixels), ``score`` and ``segmentation`` (compressed RLE, pycocotools-compatible).
Videos add ``frame`` (0-based). An unreadable image is skipped, named and counted; nothing
else is lost: results reach ``results.jsonl`` as they are made, and Ctrl-C, SIGTERM or a write
error still leave ``results.json`` with everything done.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Dict, List, Optional

import cv2
import numpy as np

from ..utils.errors import UsageError, check_range
from ..utils.files import (RUN_MARK, OutputError, check_writable, release_run_folder, run_folder,
                    write_json)
from ..utils.progress import progress
from ..runtime import ImageError, Segmenter, read_image
from ..runtime.coco_results import to_coco_results
from ..runtime.draw import draw_segmentation
from ..runtime.image_io import IMAGE_EXTENSIONS, is_image_file, list_images, truncated
from ..utils.signals import Terminated, stopped_by
from ..runtime.video import FrameSource, SourceError, check_video, video_writer

log = logging.getLogger("ssd_isb.apps.predict")
RESULTS = "results.json"
TRACKS = "tracks.jsonl"  # with --track; tracks_mot.txt beside it


def _image_ids(annotations: Optional[str]) -> Dict[str, int]:
    if not annotations:
        return {}
    from ..data.coco import read_coco_json

    data = read_coco_json(annotations)
    return {im["file_name"]: int(im["id"]) for im in data.get("images", [])}


def image_ids(names: List[str], known: Dict[str, int]) -> Dict[str, int]:
    """An ``image_id`` for every file: from ``known`` (annotations), else COCO's numeric file
    names (000000001000.jpg is image 1000), else a running number past the largest id in use
    (the annotations' included), so every result is a valid COCO result and none takes an
    annotated image's id."""
    out = {}
    for name in names:
        stem = os.path.splitext(name)[0]
        if name in known:
            out[name] = known[name]
        elif stem.isdigit():
            out[name] = int(stem)
    missing = [n for n in names if n not in known]
    if known and missing:
        log.warning("%d image(s) are not in --annotations (e.g. %s): their results get ids "
                    "the annotations do not use", len(missing), missing[0])
    next_id = max(list(out.values()) + list(known.values()), default=0) + 1
    for name in names:
        if name not in out:
            out[name], next_id = next_id, next_id + 1
    return out


class ResultsLog:
    """``results.jsonl``: one line per image or frame done, written and flushed as it is made,
    so a killed run (even by SIGKILL) keeps every result it computed; ``results.json`` is
    written from it at the end. ``--resume`` reads it back to skip the images done.

    Each line is ``{"file_name", "frame" (videos), "results": [...]}``.
    """

    NAME = "results.jsonl"

    def __init__(self, folder: str):
        self.path = os.path.join(folder, self.NAME)
        self.fh = None

    def done(self) -> List[Dict]:
        """The lines of an earlier run (a half-written last line is dropped)."""
        import json

        if not os.path.exists(self.path):
            return []
        out = []
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    break
        return out

    def write(self, record: Dict) -> None:
        """Append one image's (or frame's) record and flush it to the OS."""
        import json

        try:
            if self.fh is None:
                self.fh = open(self.path, "a", encoding="utf-8")
            self.fh.write(json.dumps(record, separators=(",", ":")) + "\n")
            self.fh.flush()
        except OSError as err:
            raise OutputError(f"{self.path}: cannot write ({err.strerror or err}); the "
                              f"results so far are in it") from None

    def close(self) -> None:
        if self.fh is not None:
            try:
                self.fh.close()
            except OSError:
                pass
            self.fh = None

    def remove(self) -> None:
        """Drop the log once ``results.json`` holds the whole run."""
        self.close()
        if os.path.exists(self.path):
            os.remove(self.path)


HUGE_PIXELS = 40e6


def warn_if_huge(image: np.ndarray, name: str) -> None:
    """Say so when an image is so large that its full-resolution masks cost gigabytes (a 12000
    x 9000 photo: 108 MB per person): the model sees it at 320x320 anyway."""
    h, w = image.shape[:2]
    if h * w > HUGE_PIXELS:
        log.warning("%s is %dx%d (%.0f MP): each person's full-resolution mask takes %.0f MB "
                    "and drawing takes seconds; downscale such images first if you can", name,
                    w, h, h * w / 1e6, h * w / 1e6)


def overlay_name(name: str) -> str:
    """``a.jpg`` -> ``a_overlay.jpg``, ``a.png`` -> ``a_overlay.png``: the input's extension
    stays, so two inputs that differ only by it keep two overlays."""
    stem, ext = os.path.splitext(name)
    # OpenCV writes every format the folder listing reads (webp and tif included), so a.jpg,
    # a.webp and a.tif keep three overlays.
    return f"{stem}_overlay{ext if ext.lower() in IMAGE_EXTENSIONS else '.jpg'}"


def predict(model: Optional[str], source: str, output: str, backend: Optional[str] = None,
            threads: Optional[int] = None, score_threshold: float = 0.5,
            annotations: Optional[str] = None, overlays: bool = True,
            max_frames: Optional[int] = None, exist_ok: bool = False, track: bool = False,
            similarity: str = "box", tiles="auto", zoom="auto", resume: bool = False) -> Dict:
    """Segment ``source`` (an image, a folder of images or a video file) with ``model``.

    Results reach the disk as they are made (``results.jsonl``, one line per image or frame,
    flushed), and ``results.json`` is written whole at the end, also when Ctrl-C or SIGTERM
    ends the run (the summary then says how far it got).

    Args:
        model: model file (its sidecar beside it).
        source: image file, folder of images, or video file.
        output: folder for ``results.json`` and the overlays (claimed; a used one is left
            alone and the next numbered one, ``output-2`` ..., is used, unless ``exist_ok``).
        backend, threads: runtime backend and CPU threads.
        score_threshold: detections kept.
        annotations: a COCO json whose image ids the results should carry.
        overlays: write an overlay image per image (or an annotated video).
        max_frames: stop after this many frames of a video, or images of a folder.
        exist_ok: write into ``output`` even if it holds an earlier run.
        track: a video or a folder of frames (in name order) is one sequence: each person
            keeps an ID (ByteTrack), each result carries its ``track_id``, and the tracks are
            written per frame to ``tracks.jsonl`` and ``tracks_mot.txt``.
        similarity: the tracker's "box" or "mask" similarity.
        tiles, zoom: sliced inference and the second look per person
            (:class:`~ssd_isb.runtime.Segmenter`).
        resume: continue the folder run in ``output`` (its ``results.jsonl``): the images
            it did are skipped (not with ``track``: a sequence is tracked from its start).

    Returns:
        Summary: ``images``, ``instances``, ``unreadable``, ``results`` (path),
        ``overlays`` (paths), ``ms_per_image``, ``backend``, ``model``, ``stopped``
        ("interrupted", "terminated" or None), ``resumed`` (images taken from the earlier run).

    Raises:
        SourceError: the source does not exist or holds no image.
        OutputError: the output folder cannot be written (checked before any work), or a
            result file or overlay cannot be written (the line names it; what was done is
            kept).
        UsageError: a threshold or frame count out of range.
    """
    check_range("--score-threshold", score_threshold, 0.0, 1.0)
    check_range("--max-frames", max_frames, 1)
    from ..samples import resolve_source

    source = resolve_source(source)
    if not os.path.exists(source):
        raise SourceError(f"{source}: no such image, folder or video")
    if track and is_image_file(source):
        raise UsageError(f"--track {source}: one image has no frames to track across (give "
                         "a video or a folder of frames)")
    if resume and (track or not os.path.isdir(source)):
        raise UsageError("--resume continues a folder of images without --track")
    if resume and not os.path.isfile(os.path.join(output, ResultsLog.NAME)):
        raise UsageError(f"--resume: {output} holds no {ResultsLog.NAME} of an earlier run")
    output = check_writable(output) if resume else run_folder(output, exist_ok)
    try:
        return _predict(model, source, output, backend, threads, score_threshold, annotations,
                        overlays, max_frames, track, similarity, tiles, zoom, resume)
    except BaseException:
        # A failed run leaves no empty folder behind (what it wrote, it keeps).
        left = os.listdir(output) if os.path.isdir(output) else None
        if left is not None and set(left) <= {RUN_MARK}:
            for name in left:
                os.remove(os.path.join(output, name))
            os.rmdir(output)
        raise


def _predict(model, source, output, backend, threads, score_threshold, annotations, overlays,
             max_frames, track=False, similarity="box", tiles="auto", zoom="auto",
             resume=False) -> Dict:
    seg = Segmenter(model, backend=backend, threads=threads, score_threshold=score_threshold,
                    tiles=tiles, zoom=zoom)
    tracking = None
    if track:
        from ..tracking import tracker_for
        from ..tracking.output import TrackWriter

        tracking = (tracker_for(score_threshold, similarity),
                    TrackWriter(os.path.join(output, TRACKS)))
    known = _image_ids(annotations)
    log_file = ResultsLog(output)
    results: List[Dict] = []
    written: List[str] = []
    unreadable: List[str] = []
    times: List[float] = []
    stopped, total, resumed = None, None, 0
    cut_short: List[str] = []  # truncated files, segmented as far as they go
    video = not (os.path.isdir(source) or is_image_file(source))
    try:
        if not video:
            paths = [source] if os.path.isfile(source) else list_images(source)
            if not paths:
                raise SourceError(f"{source}: no image files ({', '.join(IMAGE_EXTENSIONS)})")
            paths = paths[:max_frames] if max_frames else paths
            total = len(paths)
            ids = image_ids([os.path.basename(p) for p in paths], known)
            if resume:
                earlier = log_file.done()
                done = {r["file_name"] for r in earlier}
                for r in earlier:
                    results += r["results"]
                resumed = sum(1 for p in paths if os.path.basename(p) in done)
                paths = [p for p in paths if os.path.basename(p) not in done]
            try:
                _predict_images(seg, paths, ids, output, results, written, unreadable, times,
                                overlays, tracking, log_file, cut_short)
            except KeyboardInterrupt as stop:
                stopped = stopped_by(stop)
            if len(times) + resumed == 0 and not stopped:
                raise SourceError(f"{source}: none of its {total} images is readable")
        else:
            try:
                unreadable_frames = _predict_video(seg, source, output, results, written,
                                                   times, overlays, max_frames, tracking,
                                                   log_file)
            except _VideoInterrupted as stop:
                stopped = "terminated" if stop.terminated else "interrupted"
                unreadable_frames = stop.args[0]
            unreadable += [f"{source} frame"] * unreadable_frames
            if not times and not stopped:
                raise SourceError(f"{source}: no readable frame (not an image, folder or "
                                  f"video)")
    finally:
        log_file.close()
        if tracking:
            tracking[1].close()
        # Whatever ends the run (done, Ctrl-C, SIGTERM, a write error), the results made so
        # far are in results.json too.
        results_path = os.path.join(output, RESULTS)
        if results or times:
            write_json(results_path, results, indent=None)
            if not stopped:  # complete: results.json holds it all, nothing to resume
                log_file.remove()
            release_run_folder(output)
    return {"images": len(times) + resumed, "instances": len(results),
            "unreadable": len(unreadable), "unreadable_files": unreadable,
            "truncated": len(cut_short), "truncated_files": cut_short,
            "results": results_path, "overlays": written,
            "ms_per_image": round(float(np.median(times)), 2) if times else None,
            "backend": seg.backend.name, "model": os.path.abspath(seg.path),
            "unit": "frames" if video else "images", "output": output,
            "stopped": stopped, "interrupted": stopped is not None, "total": total,
            "resumed": resumed, "tracks": tracking[1].path if tracking else None,
            "track_ids": tracking[1].identities if tracking else None}


def segment(seg: Segmenter, image: np.ndarray, tracking=None):
    """One image or frame; with ``tracking`` (tracker, writer), tracked and written."""
    if tracking is None:
        return seg(image)
    tracker, writer = tracking
    result = seg.track(image, tracker)
    writer.write(tracker.frame - 1, result)
    return result


def with_track_ids(entries: List[Dict], result) -> List[Dict]:
    """Each COCO result entry with its person's ``track_id`` (when tracked)."""
    if result.track_ids is not None:
        for entry, tid in zip(entries, result.track_ids.tolist()):
            entry["track_id"] = int(tid)
    return entries


class _VideoInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a video: carries the unreadable frames so far."""

    def __init__(self, unreadable: int, terminated: bool):
        super().__init__(unreadable)
        self.terminated = terminated


def write_image(path: str, image: np.ndarray) -> str:
    """``cv2.imwrite``, which answers a full disk or a missing folder with False, as an
    error naming the file."""
    try:
        ok = cv2.imwrite(path, image)
    except cv2.error as err:
        raise OutputError(f"{path}: cannot write ({str(err).strip().splitlines()[-1]})") \
            from None
    if not ok:
        raise OutputError(f"{path}: cannot write (disk full or not writable?)")
    return path


def _predict_images(seg: Segmenter, paths: List[str], ids: Dict[str, int], output: str,
                    results: List[Dict], written: List[str], unreadable: List[str],
                    times: List[float], overlays: bool, tracking=None,
                    log_file: Optional[ResultsLog] = None,
                    cut_short: Optional[List[str]] = None) -> None:
    cut_short = [] if cut_short is None else cut_short
    for path in progress(paths, desc="predict"):
        name = os.path.basename(path)
        try:
            image = read_image(path)
        except ImageError as err:
            if len(paths) == 1 and not results:  # the one image asked for: bad input
                raise SourceError(str(err)) from None
            log.warning("%s, skipped", err)
            unreadable.append(path)
            continue
        warn_if_huge(image, path)
        if truncated(path):  # read_image warned; the summary counts them
            cut_short.append(path)
        t0 = time.perf_counter()
        result = segment(seg, image, tracking)
        times.append((time.perf_counter() - t0) * 1e3)
        entries = with_track_ids(to_coco_results(result, ids[name], file_name=name), result)
        results.extend(entries)
        if log_file is not None:
            log_file.write({"file_name": name, "results": entries})
        if overlays:
            out_path = os.path.join(output, overlay_name(name))
            written.append(write_image(out_path, draw_segmentation(image, result)))


def _predict_video(seg: Segmenter, source: str, output: str, results: List[Dict],
                   written: List[str], times: List[float], overlays: bool,
                   max_frames: Optional[int], tracking=None,
                   log_file: Optional[ResultsLog] = None) -> int:
    name = os.path.basename(source)
    frames = FrameSource(source)
    writer = None
    total = int(frames.stats.frame_count or 0) or None
    try:
        for index, frame in enumerate(progress(frames, total=min(total or 10**9, max_frames or
                                                                   10**9) if total else None,
                                               desc=name, unit="frame")):
            t0 = time.perf_counter()
            result = segment(seg, frame, tracking)
            times.append((time.perf_counter() - t0) * 1e3)
            entries = with_track_ids(to_coco_results(result, index, file_name=name), result)
            for entry in entries:
                entry["frame"] = index
            results.extend(entries)
            if log_file is not None:
                log_file.write({"file_name": name, "frame": index, "results": entries})
            if overlays:
                if writer is None:
                    path = os.path.join(output, os.path.splitext(name)[0] + "_annotated.mp4")
                    writer = video_writer(path, frames.stats.fps, (frame.shape[1],
                                                                   frame.shape[0]))
                    written.append(path)
                writer.write(draw_segmentation(frame, result))
            if max_frames and len(times) >= max_frames:
                break
    except KeyboardInterrupt as stop:
        raise _VideoInterrupted(frames.stats.unreadable, isinstance(stop, Terminated)) \
            from None
    finally:
        frames.close()
        if writer is not None:
            writer.release()
            if times:
                check_video(written[-1], len(times))
    return frames.stats.unreadable


def summary_line(s: Dict) -> str:
    """The one line ``ssd-isb predict`` prints about a run (:func:`predict`'s summary)."""
    skipped = f", {s['unreadable']} unreadable skipped" if s["unreadable"] else ""
    if s.get("truncated"):
        skipped += f", {s['truncated']} truncated (segmented as far as they go)"
    if s.get("resumed"):
        skipped += f" ({s['resumed']} from the earlier run)"
    if s.get("stopped"):
        of = f" of {s['total']}" if s.get("total") else ""
        skipped += f"; {s['stopped']} after {s['images']}{of} {s['unit']}"
    if s.get("tracks"):
        skipped += f"; {s['track_ids']} track IDs -> {s['tracks']}"
    return (f"{s['instances']} persons in {s['images']} {s['unit']}{skipped} "
            f"({s['ms_per_image']} ms each, {s['backend']}) -> {s['results']}"
            + (f" and {len(s['overlays'])} overlays" if s["overlays"] else ""))
