"""``ssd-isb predict``: segment the people in images, a folder or a video; write the overlays
and one COCO results file (TF-free with TFLite/ONNX/TensorRT models).

``results.json`` is a COCO results list: ``file_name`` (and ``image_id`` when known: from
``--annotations``, or a COCO-style numeric file name), ``category_id`` (person = 1), ``bbox``
(x, y, w, h in pixels), ``score`` and ``segmentation`` (compressed RLE, pycocotools-compatible).
Videos add ``frame`` (0-based). An unreadable image is skipped, named and counted; nothing
else is lost.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Dict, List, Optional

import cv2
import numpy as np

from .errors import UsageError, check_range
from .files import check_writable, run_folder, write_json
from .progress import progress
from .runtime import ImageError, Segmenter, read_image
from .runtime.coco_results import to_coco_results
from .runtime.draw import draw_segmentation
from .runtime.image_io import IMAGE_EXTENSIONS, is_image_file, list_images
from .video import FrameSource, SourceError, video_writer

log = logging.getLogger("ssd_isb.predict")
RESULTS = "results.json"
TRACKS = "tracks.jsonl"  # with --track; tracks_mot.txt beside it


def _image_ids(annotations: Optional[str]) -> Dict[str, int]:
    if not annotations:
        return {}
    from .data.coco import read_coco_json

    data = read_coco_json(annotations)
    return {im["file_name"]: int(im["id"]) for im in data.get("images", [])}


def image_ids(names: List[str], known: Dict[str, int]) -> Dict[str, int]:
    """An ``image_id`` for every file: from ``known`` (annotations), else COCO's numeric file
    names (000000001000.jpg is image 1000), else a running number past the largest id in use,
    so every result is a valid COCO result."""
    out = {}
    for name in names:
        stem = os.path.splitext(name)[0]
        if name in known:
            out[name] = known[name]
        elif stem.isdigit():
            out[name] = int(stem)
    next_id = max(out.values(), default=0) + 1
    for name in names:
        if name not in out:
            out[name], next_id = next_id, next_id + 1
    return out


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
            similarity: str = "box", tiles="auto", zoom="auto") -> Dict:
    """Segment ``source`` (an image, a folder of images or a video file) with ``model``.

    Args:
        model: model file (its sidecar beside it).
        source: image file, folder of images, or video file.
        output: folder for ``results.json`` and the overlays (created; a used one is left
            alone and the next numbered one, ``output2`` ..., is used, unless ``exist_ok``).
        backend, threads: runtime backend and CPU threads.
        score_threshold: detections kept.
        annotations: a COCO json whose image ids the results should carry.
        overlays: write an overlay image per image (or an annotated video).
        max_frames: stop a video after this many frames.
        exist_ok: write into ``output`` even if it holds an earlier run.
        track: a video or a folder of frames (in name order) is one sequence: each person
            keeps an ID (ByteTrack), each result carries its ``track_id``, and the tracks are
            written per frame to ``tracks.jsonl`` and ``tracks_mot.txt``.
        similarity: the tracker's "box" or "mask" similarity.
        tiles, zoom: sliced inference and the second look per person
            (:class:`~ssd_isb.runtime.Segmenter`).

    Returns:
        Summary: ``images``, ``instances``, ``unreadable``, ``results`` (path),
        ``overlays`` (paths), ``ms_per_image``, ``backend``, ``model``.

    Raises:
        SourceError: the source does not exist or holds no image.
        OutputError: the output folder cannot be written (checked before any work).
        UsageError: a threshold or frame count out of range.
    """
    check_range("--score-threshold", score_threshold, 0.0, 1.0)
    check_range("--max-frames", max_frames, 1)
    if not os.path.exists(source):
        raise SourceError(f"{source}: no such image, folder or video")
    if track and is_image_file(source):
        raise UsageError(f"--track {source}: one image has no frames to track across (give "
                         "a video or a folder of frames)")
    folder = run_folder(output, exist_ok)
    made = not os.path.exists(folder)
    output = check_writable(folder)
    try:
        return _predict(model, source, output, backend, threads, score_threshold, annotations,
                        overlays, max_frames, track, similarity, tiles, zoom)
    except BaseException:
        # A failed run leaves no empty folder behind (what it wrote, it keeps).
        if made and os.path.isdir(output) and not os.listdir(output):
            os.rmdir(output)
        raise


def _predict(model, source, output, backend, threads, score_threshold, annotations, overlays,
             max_frames, track=False, similarity="box", tiles="auto", zoom="auto") -> Dict:
    seg = Segmenter(model, backend=backend, threads=threads, score_threshold=score_threshold,
                    tiles=tiles, zoom=zoom)
    tracking = None
    if track:
        from .tracking import tracker_for
        from .tracking.output import TrackWriter

        tracking = (tracker_for(score_threshold, similarity),
                    TrackWriter(os.path.join(output, TRACKS)))
    known = _image_ids(annotations)
    results: List[Dict] = []
    written: List[str] = []
    unreadable: List[str] = []
    times: List[float] = []
    interrupted, total = False, None
    video = not (os.path.isdir(source) or is_image_file(source))
    if not video:
        paths = [source] if os.path.isfile(source) else list_images(source)
        if not paths:
            raise SourceError(f"{source}: no image files ({', '.join(IMAGE_EXTENSIONS)})")
        ids = image_ids([os.path.basename(p) for p in paths], known)
        try:
            _predict_images(seg, paths, ids, output, results, written, unreadable, times,
                            overlays, tracking)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if tracking:
                tracking[1].close()
        count = len(times)
        if count == 0 and not interrupted:
            raise SourceError(f"{source}: none of its {len(paths)} images is readable")
        total = len(paths)
    else:
        try:
            count, unreadable_frames = _predict_video(seg, source, output, results, written,
                                                      times, overlays, max_frames, tracking)
        except _VideoInterrupted as stop:
            interrupted = True
            count, unreadable_frames = stop.args
        finally:
            if tracking:
                tracking[1].close()
        unreadable += [f"{source} frame"] * unreadable_frames
        if count == 0 and not interrupted:
            raise SourceError(f"{source}: no readable frame (not an image, folder or video)")
    # Also after Ctrl-C: what was segmented is kept (its results.json, its overlays).
    results_path = os.path.join(output, RESULTS)
    write_json(results_path, results, indent=None)
    return {"images": count, "instances": len(results), "unreadable": len(unreadable),
            "unreadable_files": unreadable, "results": results_path, "overlays": written,
            "ms_per_image": round(float(np.median(times)), 2) if times else None,
            "backend": seg.backend.name, "model": os.path.abspath(seg.path),
            "unit": "frames" if video else "images", "output": output,
            "interrupted": interrupted, "total": total,
            "tracks": tracking[1].path if tracking else None,
            "track_ids": tracking[0]._next_id - 1 if tracking else None}


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
    """Ctrl-C during a video: carries (frames done, unreadable frames)."""


def _predict_images(seg: Segmenter, paths: List[str], ids: Dict[str, int], output: str,
                    results: List[Dict], written: List[str], unreadable: List[str],
                    times: List[float], overlays: bool, tracking=None) -> None:
    for path in progress(paths, desc="predict"):
        name = os.path.basename(path)
        try:
            image = read_image(path)
        except ImageError as err:
            if len(paths) == 1:  # the one image asked for: bad input, not a skip
                raise SourceError(str(err)) from None
            log.warning("%s, skipped", err)
            unreadable.append(path)
            continue
        warn_if_huge(image, path)
        t0 = time.perf_counter()
        result = segment(seg, image, tracking)
        times.append((time.perf_counter() - t0) * 1e3)
        results.extend(with_track_ids(to_coco_results(result, ids[name], file_name=name),
                                      result))
        if overlays:
            out_path = os.path.join(output, overlay_name(name))
            cv2.imwrite(out_path, draw_segmentation(image, result))
            written.append(out_path)


def _predict_video(seg: Segmenter, source: str, output: str, results: List[Dict],
                   written: List[str], times: List[float], overlays: bool,
                   max_frames: Optional[int], tracking=None):
    name = os.path.basename(source)
    frames = FrameSource(source)
    writer = None
    count = 0
    total = int(frames.stats.frame_count or 0) or None
    try:
        for index, frame in enumerate(progress(frames, total=min(total or 10**9, max_frames or
                                                                   10**9) if total else None,
                                               desc=name, unit="frame")):
            t0 = time.perf_counter()
            result = segment(seg, frame, tracking)
            times.append((time.perf_counter() - t0) * 1e3)
            for entry in with_track_ids(to_coco_results(result, index, file_name=name), result):
                entry["frame"] = index
                results.append(entry)
            count += 1
            if overlays:
                if writer is None:
                    path = os.path.join(output, os.path.splitext(name)[0] + "_annotated.mp4")
                    writer = video_writer(path, frames.stats.fps, (frame.shape[1],
                                                                   frame.shape[0]))
                    written.append(path)
                writer.write(draw_segmentation(frame, result))
            if max_frames and count >= max_frames:
                break
    except KeyboardInterrupt:
        raise _VideoInterrupted(count, frames.stats.unreadable) from None
    finally:
        frames.close()
        if writer is not None:
            writer.release()
    return count, frames.stats.unreadable


def summary_line(s: Dict) -> str:
    """The one line ``ssd-isb predict`` prints about a run (:func:`predict`'s summary)."""
    skipped = f", {s['unreadable']} unreadable skipped" if s["unreadable"] else ""
    if s.get("interrupted"):
        of = f" of {s['total']}" if s.get("total") else ""
        skipped += f"; interrupted after {s['images']}{of} {s['unit']}"
    if s.get("tracks"):
        skipped += f"; {s['track_ids']} track IDs -> {s['tracks']}"
    return (f"{s['instances']} persons in {s['images']} {s['unit']}{skipped} "
            f"({s['ms_per_image']} ms each, {s['backend']}) -> {s['results']}"
            + (f" and {len(s['overlays'])} overlays" if s["overlays"] else ""))
