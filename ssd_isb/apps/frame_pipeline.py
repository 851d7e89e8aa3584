"""What one display stream does with each frame: segment (and track), smooth, draw, record.

Shared by ``ssd-isb demo`` with one source (:mod:`ssd_isb.apps.demo`) and with several
(:mod:`ssd_isb.apps.streams`), so neither imports the other. TF-free.
"""

from __future__ import annotations

import os
import time
from typing import Dict, List, Optional

import cv2
import numpy as np

from ..runtime import Segmenter
from ..runtime.draw import draw_segmentation
from .smoothing import MaskSmoother
from ..tracking import tracker_for
from ..tracking.output import TrackWriter
from ..runtime.video import check_video, video_writer

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
        background: a :class:`~ssd_isb.apps.background.BackgroundEffect`; ``seg`` is then a person
            map source (:func:`ssd_isb.runtime.semantic.person_segmenter`) and the frame shows
            the effect instead of the instance overlay.
    """

    def __init__(self, seg: Segmenter, track: bool = False, similarity: str = "box",
                 smooth: bool = False, output: Optional[str] = None,
                 tracks: Optional[str] = None, background=None):
        self.seg = seg
        self.background = background
        self.tracker = tracker_for(seg.score_threshold, similarity) if track else None
        self.smoother = MaskSmoother() if smooth else None
        self.output = output
        self.tracks = tracks
        self.writer = None
        self.recorded = 0  # frames written to ``output``
        self.track_writer = TrackWriter(tracks) if tracks else None
        self.loop_ms: List[float] = []
        self.track_ms: List[float] = []
        self.instances: List[int] = []
        self.ids = set()
        self.frames = 0

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The annotated frame (the FPS line drawn on it)."""
        start = time.perf_counter()
        if self.background is not None:
            person = self.seg(frame)
            out = self.background(frame, person)
            self.loop_ms.append((time.perf_counter() - start) * 1000.0)
            self.instances.append(int(person.mask.any()))
            self.frames += 1
            return out
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
        self.recorded += 1

    def close(self) -> None:
        """Finish the files: the video gets its index (also after Ctrl-C or SIGTERM) and is
        checked to open, since OpenCV says nothing when a full disk swallowed it.

        Raises:
            OutputError: the recorded video is unreadable (one line naming it).
        """
        if self.track_writer is not None:
            self.track_writer.close()
        if self.writer is not None:
            self.writer.release()
            self.writer = None
            if self.recorded:
                check_video(self.output, self.recorded)

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
