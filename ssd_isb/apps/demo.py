"""``ssd-isb demo``: live person segmentation on a camera, video file, stream or image folder.

TF-free with TFLite/ONNX/TensorRT models. Overlays masks (a colour per instance), boxes, scores
and a live FPS counter; records the annotated stream with ``--output``; runs headless with
``--no-display``. Keys in the window: q or Esc quits, space pauses, s saves a snapshot.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Dict, Optional

import cv2

from ..utils.errors import UsageError, check_range
from ..utils.files import OutputError, check_output_file, check_writable, write_json
from .frame_pipeline import WINDOW, FramePipeline, fps_text, has_gui, stream_path  # noqa: F401
from ..utils.progress import progress
from ..runtime import Segmenter
from ..utils.signals import stopped_by
from ..runtime.video import VIDEO_EXTENSIONS, FrameSource, SourceError

log = logging.getLogger("ssd_isb.apps.demo")


def check_outputs(output: Optional[str], tracks: Optional[str], summary_path: Optional[str]):
    """Before any work: a bad path fails now, not after the first frame."""
    if output:
        if not output.lower().endswith(VIDEO_EXTENSIONS):
            raise SourceError(f"{output}: cannot write this video format (use .mp4 or .avi)")
        check_writable(os.path.dirname(os.path.abspath(output)) or ".")
    if tracks:
        if not tracks.lower().endswith(".jsonl"):
            raise UsageError(f"--tracks {tracks}: give a .jsonl file (the MOT .txt is "
                             "written beside it)")
        check_output_file(tracks, "--tracks")
    if summary_path:
        check_output_file(summary_path, "--summary")


def run_demo(model: Optional[str], source, output: Optional[str] = None, display: bool = True,
             max_frames: Optional[int] = None, backend: Optional[str] = None,
             threads: Optional[int] = None, smooth: bool = False, score_threshold: float = 0.5,
             reconnect_seconds: float = 20.0, snapshot_dir: str = ".",
             summary_path: Optional[str] = None, track: bool = False,
             similarity: str = "box", tracks: Optional[str] = None,
             blur_background: bool = False,
             replace_background: Optional[str] = None, tiles="auto", zoom="auto") -> Dict:
    """Run the demo loop until the source ends, ``max_frames`` or a quit key.

    ``model`` None is the shipped default; ``summary_path`` also writes the summary as JSON.
    ``source`` may be a list: several sources run in one process
    (:func:`ssd_isb.apps.streams.run_streams`). ``track`` gives each person an ID kept from frame
    to frame (ByteTrack), and ``tracks`` writes them per frame (JSON lines + MOT ``.txt``).
    ``blur_background`` / ``replace_background`` (an image file) show the frame with what is
    not person blurred or replaced: from a semantic model's map, or from the union of an
    instance model's masks (the shipped default when ``model`` is None). ``tiles`` and
    ``zoom``: sliced inference and the second look per person
    (:class:`~ssd_isb.runtime.Segmenter`).

    Returns:
        Summary: ``frames``, ``dropped``, ``unreadable``, ``reconnects``, ``ended_by``,
        ``fps_median``, ``fps_p95`` (the 95th-percentile slowest frame as FPS),
        ``latency_ms_median``, ``output``; with ``track``, ``track_ids`` (IDs given) and
        ``track_ms_median`` (the tracker's time per frame).
    """
    check_range("--score-threshold", score_threshold, 0.0, 1.0)
    check_range("--max-frames", max_frames, 1)
    check_range("--reconnect-seconds", reconnect_seconds, 0.0)
    if tracks and not track:
        raise UsageError("--tracks needs --track")
    check_outputs(output, tracks, summary_path)
    effect = None
    if blur_background or replace_background:
        from .background import BackgroundEffect

        if blur_background and replace_background:
            raise UsageError("--blur-background and --replace-background: choose one")
        if track or smooth:
            raise UsageError("--track and --smooth draw instances; a background effect shows "
                             "the person map instead")
        effect = BackgroundEffect("replace" if replace_background else "blur",
                                  replace_background)
    if display and not has_gui():
        raise UsageError("this OpenCV has no window support (opencv-python-headless): use "
                         "--no-display, or pip install opencv-python")
    from ..samples import resolve_source

    sources = [resolve_source(str(s)) for s in (list(source) if isinstance(source, (list, tuple))
                                               else [source])]
    if len(sources) > 1 and effect is not None:
        raise UsageError("background effects run on one --source")
    if len(sources) > 1:
        from .streams import run_streams

        return run_streams(model, sources, output=output, display=display,
                           max_frames=max_frames, backend=backend, threads=threads,
                           smooth=smooth, score_threshold=score_threshold,
                           reconnect_seconds=reconnect_seconds, summary_path=summary_path,
                           track=track, similarity=similarity, tracks=tracks, tiles=tiles,
                           zoom=zoom)
    if effect is not None:
        from ..runtime.semantic import person_segmenter

        seg = person_segmenter(model, backend, threads, score_threshold, tiles, zoom)
    else:
        seg = Segmenter(model, backend=backend, threads=threads,
                        score_threshold=score_threshold, tiles=tiles, zoom=zoom)
    frames = FrameSource(sources[0], reconnect_seconds=reconnect_seconds)
    pipe = FramePipeline(seg, track=track, similarity=similarity, smooth=smooth,
                         output=output, tracks=tracks, background=effect)
    paused, last, write_error = False, None, None
    ended_by = ""
    # Headless runs show a progress bar (on a terminal); a window is its own progress.
    total = min(frames.stats.frame_count or 10 ** 9, max_frames or 10 ** 9)
    stream = frames if display else progress(frames, total=None if total == 10 ** 9 else total,
                                             desc="demo", unit="frame")
    try:
        for frame in stream:
            out = pipe(frame)
            fps_text(out, pipe.fps(), paused)
            pipe.record(out, frames.stats.fps)
            last = out
            if display:
                cv2.imshow(WINDOW, out)
                key = cv2.waitKey(1) & 0xFF
                while True:
                    if key in (ord("q"), 27):
                        ended_by = "quit key"
                        break
                    if key == ord("s") and last is not None:
                        path = os.path.join(snapshot_dir, f"snapshot_{int(time.time())}.png")
                        cv2.imwrite(path, last)
                        log.info("saved %s", path)
                    if key == ord(" "):
                        paused = not paused
                    if not paused:
                        break
                    key = cv2.waitKey(50) & 0xFF
                if ended_by:
                    break
            if max_frames and pipe.frames >= max_frames:
                ended_by = "max frames"
                break
    except KeyboardInterrupt as stop:
        # Ctrl-C (or SIGTERM, from a service manager) is how a headless camera run is
        # stopped: end it like the quit key, with the summary (and its JSON) of what ran.
        ended_by = stopped_by(stop)
    finally:
        frames.close()
        try:
            pipe.close()
        except OutputError as err:  # the summary of what ran is still written, then this
            write_error = err
        if display:
            cv2.destroyAllWindows()
    summary = {
        "frames": pipe.frames, "dropped": frames.stats.dropped,
        "unreadable": frames.stats.unreadable, "reconnects": frames.stats.reconnects,
        "ended_by": ended_by or frames.stats.ended_by or "source ended",
        **pipe.summary(), "backend": seg.name,
    }
    if effect is not None:
        summary["background"] = effect.mode
        summary["person_source"] = type(seg).__name__
    if summary_path:
        write_json(summary_path, summary)
    if write_error is not None:
        raise write_error
    return summary


def summary_line(s: Dict) -> str:
    """What ``ssd-isb demo`` prints about a run (:func:`run_demo`'s summary): one line, or
    one per stream and a total for several sources."""
    if "streams" in s:
        from .streams import streams_lines

        return streams_lines(s)
    tracked = (f"; {s['track_ids']} track IDs, tracker {s['track_ms_median']} ms/frame"
               if "track_ids" in s else "")
    return (f"{s['frames']} frames ({s['dropped']} dropped, {s['unreadable']} unreadable, "
            f"{s['reconnects']} reconnects; ended: {s['ended_by']}); FPS median "
            f"{s['fps_median']}, p95 {s['fps_p95']} [{s['backend']}]{tracked}"
            + (f" -> {s['output']}" if s["output"] else "")
            + (f", tracks -> {s['tracks']}" if s.get("tracks") else ""))
