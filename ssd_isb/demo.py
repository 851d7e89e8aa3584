"""``ssd-isb demo``: live person segmentation on a camera, video file, stream or image folder.

TF-free with TFLite/ONNX/TensorRT models. Overlays masks (a colour per instance), boxes, scores
and a live FPS counter; records the annotated stream with ``--output``; runs headless with
``--no-display``. Keys in the window: q or Esc quits, space pauses, s saves a snapshot.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Dict, List, Optional

import cv2
import numpy as np

from .files import write_json
from .runtime import Segmenter
from .runtime.draw import draw_segmentation
from .smoothing import MaskSmoother
from .tracking import tracker_for
from .tracking.output import TrackWriter
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


def stream_path(path: Optional[str], index: int, count: int) -> Optional[str]:
    """One output file per stream: ``path`` itself for one source, else ``name_<index>.ext``."""
    if not path or count == 1:
        return path
    root, ext = os.path.splitext(path)
    return f"{root}_{index}{ext}"


class FramePipeline:
    """What one stream does with each frame: segment (and track), smooth, draw, record.

    Args:
        seg: the shared :class:`Segmenter`.
        track: give people IDs (one :class:`~ssd_isb.tracking.Tracker` per stream).
        similarity: the tracker's "box" or "mask" similarity.
        smooth: temporal mask smoothing (by track ID when tracking).
        output: annotated video to record (.mp4/.avi), or None.
        tracks: JSON-lines file of the tracks (and its ``_mot.txt``), or None.
        fps: the source's frame rate, for the recording.
    """

    def __init__(self, seg: Segmenter, track: bool = False, similarity: str = "box",
                 smooth: bool = False, output: Optional[str] = None,
                 tracks: Optional[str] = None):
        self.seg = seg
        self.tracker = tracker_for(seg.score_threshold, similarity) if track else None
        self.smoother = MaskSmoother() if smooth else None
        self.output = output
        self.tracks = tracks
        self.writer = None
        self.track_writer = TrackWriter(tracks) if tracks else None
        self.loop_ms: List[float] = []
        self.track_ms: List[float] = []
        self.instances: List[int] = []
        self.ids = set()
        self.frames = 0

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The annotated frame (the FPS line drawn on it)."""
        start = time.perf_counter()
        if self.tracker is not None:
            result = self.seg.track(frame, self.tracker)
            self.track_ms.append(self.seg.last_timings["track"])
            self.ids.update(result.track_ids.tolist())
        else:
            result = self.seg(frame)
        if self.smoother is not None:
            result = self.smoother(result)
        out = draw_segmentation(frame, result)
        self.loop_ms.append((time.perf_counter() - start) * 1000.0)
        self.instances.append(len(result))
        if self.track_writer is not None:
            self.track_writer.write(self.frames, result)
        self.frames += 1
        return out

    def record(self, out: np.ndarray, fps: float) -> None:
        if not self.output:
            return
        if self.writer is None:
            self.writer = video_writer(self.output, fps, (out.shape[1], out.shape[0]))
        self.writer.write(out)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
        if self.track_writer is not None:
            self.track_writer.close()

    def fps(self) -> float:
        """The live FPS figure: the last 30 frames' median loop time."""
        return 1000.0 / np.median(self.loop_ms[-30:]) if self.loop_ms else 0.0

    def summary(self) -> Dict:
        lat = np.asarray(self.loop_ms) if self.loop_ms else np.array([np.nan])
        out = {"fps_median": round(float(1000.0 / np.median(lat)), 2),
               "fps_p95": round(float(1000.0 / np.percentile(lat, 95)), 2),
               "latency_ms_median": round(float(np.median(lat)), 2),
               "instances_per_frame": round(float(np.mean(self.instances))
                                            if self.instances else 0.0, 2),
               "output": self.output}
        if self.tracker is not None:
            out.update({"track_ids": len(self.ids),
                        "track_ms_median": round(float(np.median(self.track_ms)), 3)
                        if self.track_ms else None, "tracks": self.tracks})
        return out


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
             similarity: str = "box", tracks: Optional[str] = None) -> Dict:
    """Run the demo loop until the source ends, ``max_frames`` or a quit key.

    ``model`` None is the shipped default; ``summary_path`` also writes the summary as JSON.
    ``source`` may be a list: several sources run in one process
    (:func:`ssd_isb.streams.run_streams`). ``track`` gives each person an ID kept from frame
    to frame (ByteTrack), and ``tracks`` writes them per frame (JSON lines + MOT ``.txt``).

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
    if display and not has_gui():
        raise UsageError("this OpenCV has no window support (opencv-python-headless): use "
                         "--no-display, or pip install opencv-python")
    sources = list(source) if isinstance(source, (list, tuple)) else [source]
    if len(sources) > 1:
        from .streams import run_streams

        return run_streams(model, sources, output=output, display=display,
                           max_frames=max_frames, backend=backend, threads=threads,
                           smooth=smooth, score_threshold=score_threshold,
                           reconnect_seconds=reconnect_seconds, summary_path=summary_path,
                           track=track, similarity=similarity, tracks=tracks)
    seg = Segmenter(model, backend=backend, threads=threads, score_threshold=score_threshold)
    frames = FrameSource(sources[0], reconnect_seconds=reconnect_seconds)
    pipe = FramePipeline(seg, track=track, similarity=similarity, smooth=smooth,
                         output=output, tracks=tracks)
    paused, last = False, None
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
    except KeyboardInterrupt:
        # Ctrl-C is how a headless camera run is stopped: end it like the quit key, with the
        # summary (and its JSON) of what ran.
        ended_by = "interrupted"
    finally:
        frames.close()
        pipe.close()
        if display:
            cv2.destroyAllWindows()
    summary = {
        "frames": pipe.frames, "dropped": frames.stats.dropped,
        "unreadable": frames.stats.unreadable, "reconnects": frames.stats.reconnects,
        "ended_by": ended_by or frames.stats.ended_by or "source ended",
        **pipe.summary(), "backend": seg.backend.name,
    }
    if summary_path:
        write_json(summary_path, summary)
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
