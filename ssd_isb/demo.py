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
import numpy as np

from .files import write_json
from .runtime import Segmenter
from .runtime.draw import draw_segmentation
from .smoothing import MaskSmoother
from .errors import UsageError, check_range
from .files import check_output_file, check_writable
from .progress import progress
from .video import VIDEO_EXTENSIONS, FrameSource, SourceError, video_writer

log = logging.getLogger("ssd_isb.demo")
WINDOW = "ssd-isb"


def has_gui() -> bool:
    """Whether this OpenCV build can open windows (opencv-python-headless cannot)."""
    info = cv2.getBuildInformation()
    gui = info[info.find("GUI:"):].splitlines()[0] if "GUI:" in info else ""
    return bool(gui) and "NONE" not in gui.upper()


def fps_text(frame: np.ndarray, fps: float, paused: bool = False) -> None:
    label = f"{fps:5.1f} FPS" + ("  [paused]" if paused else "")
    cv2.putText(frame, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.65, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(frame, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.65, (255, 255, 255), 1,
                cv2.LINE_AA)


def run_demo(model: Optional[str], source, output: Optional[str] = None, display: bool = True,
             max_frames: Optional[int] = None, backend: Optional[str] = None,
             threads: Optional[int] = None, smooth: bool = False, score_threshold: float = 0.5,
             reconnect_seconds: float = 20.0, snapshot_dir: str = ".",
             summary_path: Optional[str] = None) -> Dict:
    """Run the demo loop until the source ends, ``max_frames`` or a quit key.

    ``model`` None is the shipped default; ``summary_path`` also writes the summary as JSON.

    Returns:
        Summary: ``frames``, ``dropped``, ``unreadable``, ``reconnects``, ``ended_by``,
        ``fps_median``, ``fps_p95`` (the 95th-percentile slowest frame as FPS),
        ``latency_ms_median``, ``output``.
    """
    check_range("--score-threshold", score_threshold, 0.0, 1.0)
    check_range("--max-frames", max_frames, 1)
    check_range("--reconnect-seconds", reconnect_seconds, 0.0)
    if output:  # before any work: a bad path fails now, not after the first frame
        if not output.lower().endswith(VIDEO_EXTENSIONS):
            raise SourceError(f"{output}: cannot write this video format (use .mp4 or .avi)")
        check_writable(os.path.dirname(os.path.abspath(output)) or ".")
    if summary_path:
        check_output_file(summary_path, "--summary")
    if display and not has_gui():
        raise UsageError("this OpenCV has no window support (opencv-python-headless): use "
                         "--no-display, or pip install opencv-python")
    seg = Segmenter(model, backend=backend, threads=threads, score_threshold=score_threshold)
    frames = FrameSource(source, reconnect_seconds=reconnect_seconds)
    smoother = MaskSmoother() if smooth else None
    writer = None
    loop_ms, instances = [], []
    paused, last = False, None
    shown = 0
    ended_by = ""
    # Headless runs show a progress bar (on a terminal); a window is its own progress.
    total = min(frames.stats.frame_count or 10 ** 9, max_frames or 10 ** 9)
    stream = frames if display else progress(frames, total=None if total == 10 ** 9 else total,
                                             desc="demo", unit="frame")
    try:
        for frame in stream:
            start = time.perf_counter()
            result = seg(frame)
            if smoother is not None:
                result = smoother(result)
            out = draw_segmentation(frame, result)
            elapsed = (time.perf_counter() - start) * 1000.0
            loop_ms.append(elapsed)
            instances.append(len(result))
            fps_text(out, 1000.0 / np.median(loop_ms[-30:]), paused)
            if output:
                if writer is None:
                    writer = video_writer(output, frames.stats.fps,
                                          (out.shape[1], out.shape[0]))
                writer.write(out)
            shown += 1
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
            if max_frames and shown >= max_frames:
                ended_by = "max frames"
                break
    except KeyboardInterrupt:
        # Ctrl-C is how a headless camera run is stopped: end it like the quit key, with the
        # summary (and its JSON) of what ran.
        ended_by = "interrupted"
    finally:
        frames.close()
        if writer is not None:
            writer.release()
        if display:
            cv2.destroyAllWindows()
    lat = np.asarray(loop_ms) if loop_ms else np.array([np.nan])
    summary = {
        "frames": shown, "dropped": frames.stats.dropped,
        "unreadable": frames.stats.unreadable, "reconnects": frames.stats.reconnects,
        "ended_by": ended_by or frames.stats.ended_by or "source ended",
        "fps_median": round(float(1000.0 / np.median(lat)), 2),
        "fps_p95": round(float(1000.0 / np.percentile(lat, 95)), 2),
        "latency_ms_median": round(float(np.median(lat)), 2),
        "instances_per_frame": round(float(np.mean(instances)) if instances else 0.0, 2),
        "backend": seg.backend.name, "output": output,
    }
    if summary_path:
        write_json(summary_path, summary)
    return summary


def summary_line(s: Dict) -> str:
    """The one line ``ssd-isb demo`` prints about a run (:func:`run_demo`'s summary)."""
    return (f"{s['frames']} frames ({s['dropped']} dropped, {s['unreadable']} unreadable, "
            f"{s['reconnects']} reconnects; ended: {s['ended_by']}); FPS median "
            f"{s['fps_median']}, p95 {s['fps_p95']} [{s['backend']}]"
            + (f" -> {s['output']}" if s["output"] else ""))
