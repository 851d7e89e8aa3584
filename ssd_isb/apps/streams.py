"""Several video sources in one process: a capture thread per source, one model (TF-free).

``ssd-isb demo --source 0 --source rtsp://... --source video.mp4``. Each source is read on
its own thread: a live one (camera, URL) keeps only its newest frame, so a slow model never
lags behind it (the frames it replaced are counted as dropped); a file waits for the model,
so no frame of it is lost. The model takes the streams in turn (round robin): every shipped
model is exported with batch 1, so there is no batch to share between sources; each stream
keeps its own tracker, smoother, output files and FPS. A stream that dies reconnects for its
bounded time (:class:`~ssd_isb.runtime.video.FrameSource`) and then ends alone; the others go on.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Dict, List, Optional

import cv2
import numpy as np

from ..utils.files import OutputError, write_json
from .frame_pipeline import WINDOW, FramePipeline, fps_text, stream_path
from ..runtime import Segmenter
from ..utils.signals import stopped_by
from ..runtime.video import FrameSource, SourceError

log = logging.getLogger("ssd_isb.apps.streams")


class _Unopened:
    """The frame source of a stream that could not be opened: no frames, nothing counted."""

    live = False

    def __init__(self):
        from ..runtime.video import SourceStats

        self.stats = SourceStats(ended_by="cannot open")

    def __iter__(self):
        return iter(())

    def close(self) -> None:
        pass


class StreamReader:
    """One source read on its own thread into a one-frame slot.

    Args:
        index: the stream's number (its output files carry it).
        source: camera index, file, URL or image folder.
        ready: set whenever any reader has a new frame (the main loop waits on it).
        reconnect_seconds: how long a dropped live source is retried.
    """

    def __init__(self, index: int, source, ready: threading.Event,
                 reconnect_seconds: float = 20.0):
        self.index = index
        self.source = str(source)
        self.ready = ready
        self.dropped = 0
        self.error: Optional[str] = None
        try:
            self.frames = FrameSource(source, reconnect_seconds=reconnect_seconds)
        except SourceError as err:
            # One source that cannot be opened does not stop the others: it is reported,
            # and its stream ends at once (as a stream that dies later does).
            self.frames = _Unopened()
            self.error = str(err)
            log.warning("stream %d: %s", index, err)
        self.live = self.frames.live
        self._lock = threading.Condition()
        self._frame: Optional[np.ndarray] = None
        self._done = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture-{index}",
                                        daemon=True)

    def start(self) -> "StreamReader":
        if self.error is not None:
            with self._lock:
                self._done = True
            self.ready.set()
            return self
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for frame in self.frames:
                with self._lock:
                    if self.live:
                        self.dropped += self._frame is not None  # the newest frame wins
                    else:
                        while self._frame is not None and not self._stop.is_set():
                            self._lock.wait(0.1)
                    if self._stop.is_set():
                        break
                    self._frame = frame
                self.ready.set()
        except Exception as err:  # a dead stream ends alone: said once, the others go on
            self.error = f"{self.source}: {err}"
            log.warning("%s", self.error)
        finally:
            with self._lock:
                self._done = True
                self._lock.notify_all()
            self.ready.set()

    def take(self) -> Optional[np.ndarray]:
        """The waiting frame, or None (never blocks)."""
        with self._lock:
            frame, self._frame = self._frame, None
            self._lock.notify_all()
        return frame

    @property
    def ended(self) -> bool:
        with self._lock:
            return self._done and self._frame is None

    @property
    def ended_by(self) -> str:
        if self.error:
            return "error"
        return self.frames.stats.ended_by or "source ended"

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        self.frames.close()
        if self._thread.ident is not None:
            self._thread.join(timeout=5)


def run_streams(model: Optional[str], sources: List, output: Optional[str] = None,
                display: bool = True, max_frames: Optional[int] = None,
                backend: Optional[str] = None, threads: Optional[int] = None,
                smooth: bool = False, score_threshold: float = 0.5,
                reconnect_seconds: float = 20.0, summary_path: Optional[str] = None,
                track: bool = False, similarity: str = "box",
                tracks: Optional[str] = None, tiles="auto", zoom="auto") -> Dict:
    """Run the demo on several sources at once (see the module docstring).

    Arguments as :func:`ssd_isb.apps.demo.run_demo`; ``output`` and ``tracks`` get the stream's
    number before their extension (``out_0.mp4``, ``out_1.mp4``); ``max_frames`` is per
    stream.

    Returns:
        ``streams``: one summary per source (``source``, ``frames``, ``dropped``,
        ``unreadable``, ``reconnects``, ``ended_by``, ``fps`` = its frames over the run's
        wall time, ``latency_ms_median`` and the rest of a single stream's summary), and
        ``frames``, ``seconds``, ``fps_total`` (all streams' frames over the wall time),
        ``ended_by``, ``backend``.
    """
    seg = Segmenter(model, backend=backend, threads=threads, score_threshold=score_threshold,
                    tiles=tiles, zoom=zoom)
    ready = threading.Event()
    readers = [StreamReader(k, source, ready, reconnect_seconds)
               for k, source in enumerate(sources)]
    if all(r.error for r in readers):
        raise SourceError("; ".join(r.error for r in readers))
    n = len(readers)
    pipes = [FramePipeline(seg, track=track, similarity=similarity, smooth=smooth,
                           output=stream_path(output, k, n), tracks=stream_path(tracks, k, n))
             for k in range(n)]
    finished = [False] * n
    ended_by, write_error = "", None
    start = time.perf_counter()
    for r in readers:
        r.start()
    try:
        while not all(finished):
            ready.clear()
            worked = False
            for k, (reader, pipe) in enumerate(zip(readers, pipes)):
                if finished[k]:
                    continue
                frame = reader.take()
                if frame is None:
                    if reader.ended:
                        finished[k] = True
                        log.info("stream %d (%s) ended: %s", k, reader.source,
                                 reader.ended_by)
                    continue
                worked = True
                out = pipe(frame)
                fps_text(out, pipe.fps())
                pipe.record(out, reader.frames.stats.fps)
                if display:
                    cv2.imshow(f"{WINDOW} {k}", out)
                if max_frames and pipe.frames >= max_frames:
                    finished[k] = True
            if display and worked and (cv2.waitKey(1) & 0xFF) in (ord("q"), 27):
                ended_by = "quit key"
                break
            if not worked:
                ready.wait(0.05)
    except KeyboardInterrupt as stop:
        ended_by = stopped_by(stop)
    finally:
        for r in readers:
            r.close()
        for p in pipes:
            try:
                p.close()
            except OutputError as err:  # every stream's files are finished first
                write_error = write_error or err
        if display:
            cv2.destroyAllWindows()
    seconds = time.perf_counter() - start
    streams = []
    for reader, pipe in zip(readers, pipes):
        stats = reader.frames.stats
        done = max_frames and pipe.frames >= max_frames
        streams.append({
            "source": reader.source, "frames": pipe.frames,
            "dropped": stats.dropped + reader.dropped, "unreadable": stats.unreadable,
            "reconnects": stats.reconnects,
            "ended_by": ("max frames" if done else ended_by or reader.ended_by),
            "fps": round(pipe.frames / max(seconds, 1e-9), 2), **pipe.summary()})
    total = sum(s["frames"] for s in streams)
    summary = {"streams": streams, "frames": total, "seconds": round(seconds, 2),
               "fps_total": round(total / max(seconds, 1e-9), 2),
               "ended_by": ended_by or "all streams ended", "backend": seg.backend.name}
    if summary_path:
        write_json(summary_path, summary)
    if write_error is not None:
        raise write_error
    return summary


def streams_lines(s: Dict) -> str:
    """One line per stream, then the total."""
    lines = []
    for k, st in enumerate(s["streams"]):
        tracked = f", {st['track_ids']} track IDs" if "track_ids" in st else ""
        lines.append(f"[{k}] {st['source']}: {st['frames']} frames ({st['dropped']} dropped, "
                     f"{st['unreadable']} unreadable, {st['reconnects']} reconnects; ended: "
                     f"{st['ended_by']}); {st['fps']} FPS, {st['latency_ms_median']} ms per "
                     f"frame{tracked}" + (f" -> {st['output']}" if st["output"] else ""))
    lines.append(f"all {len(s['streams'])} streams: {s['frames']} frames in {s['seconds']} s, "
                 f"{s['fps_total']} FPS total [{s['backend']}]")
    return "\n".join(lines)
