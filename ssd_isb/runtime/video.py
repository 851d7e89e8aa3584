"""Frames from a camera, a video file, a stream URL or an image folder (OpenCV, TF-free).

Live sources (a camera index or a URL) are read on their own thread that keeps only the newest
frame, so a slow model never builds up lag; frames it overwrote are counted as dropped. A live
source that fails is reopened with exponential backoff for a bounded time, then the source ends
cleanly. Files are read in order (nothing dropped): an unreadable frame is skipped and counted,
and the end of the file (or a truncated tail) ends the source.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator, Optional, Tuple, Union

import cv2
import numpy as np

from ..utils.errors import SSDISBError
from ..utils.files import check_writable
from .image_io import ImageError, list_images, read_image

log = logging.getLogger("ssd_isb.runtime.video")

MAX_BAD_FRAMES = 25  # consecutive unreadable frames that end a file


class SourceError(SSDISBError, ValueError):
    """A frame source cannot be opened, or an output video cannot be written; names it."""


@dataclass
class SourceStats:
    """What a source delivered and lost."""

    frames: int = 0
    dropped: int = 0  # live frames replaced by newer ones before being processed
    unreadable: int = 0
    reconnects: int = 0
    ended_by: str = ""
    fps: float = 0.0  # the source's own frame rate, when it reports one
    size: Tuple[int, int] = (0, 0)  # (width, height)
    frame_count: int = 0  # frames of a file or folder, when known (for progress bars)
    timestamps: list = field(default_factory=list, repr=False)


VIDEO_EXTENSIONS = (".mp4", ".avi")


class VideoWriter:
    """An OpenCV video writer whose every frame is brought to the video's size (frames of a
    folder of images differ in size; OpenCV would drop them silently)."""

    def __init__(self, path: str, fps: float, size: Tuple[int, int]):
        if not path.lower().endswith(VIDEO_EXTENSIONS):
            raise SourceError(f"{path}: cannot write this video format (use .mp4 or .avi)")
        check_writable(os.path.dirname(os.path.abspath(path)) or ".")
        fourcc = cv2.VideoWriter_fourcc(*("mp4v" if path.lower().endswith(".mp4") else "MJPG"))
        self.size = (int(size[0]), int(size[1]))
        self.writer = cv2.VideoWriter(path, fourcc, fps if fps and fps < 120 else 15.0,
                                      self.size)
        if not self.writer.isOpened():
            raise SourceError(f"{path}: OpenCV cannot open a video writer for it")

    def write(self, frame: np.ndarray) -> None:
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(frame)

    def release(self) -> None:
        self.writer.release()


def check_video(path: str, frames: int) -> str:
    """After a writer is released: the file opens and holds frames. OpenCV writes nothing
    and says nothing on a full disk, and a killed writer leaves an .mp4 without its index.

    Raises:
        OutputError: ``path`` is missing, empty or unreadable (one line naming it).
    """
    from ..utils.files import OutputError

    cap = cv2.VideoCapture(path)
    try:
        readable = cap.isOpened() and cap.read()[0]
    finally:
        cap.release()
    if not readable:
        size = os.path.getsize(path) if os.path.exists(path) else 0
        raise OutputError(f"{path}: the video of {frames} frames was not written completely "
                          f"({size} bytes; disk full?)")
    return path


def video_writer(path: str, fps: float, size: Tuple[int, int]) -> VideoWriter:
    """A writer for ``path`` (.mp4: mp4v, .avi: MJPG) at ``fps`` and (width, height).

    Raises:
        SourceError: an unknown extension, or OpenCV cannot write it.
        OutputError: the folder cannot be written.
    """
    return VideoWriter(path, fps, size)


def parse_source(source: Union[str, int]) -> Union[str, int]:
    """'0' -> camera 0; anything else is a path or URL."""
    if isinstance(source, int):
        return source
    return int(source) if str(source).isdigit() else str(source)


def is_live(source: Union[str, int]) -> bool:
    """Cameras and network streams (not files or folders)."""
    return isinstance(source, int) or ("://" in str(source)
                                       and not str(source).startswith("file://"))


class FrameSource:
    """Iterate BGR frames from any source; see the module docstring.

    Args:
        source: camera index, file path, URL or image folder.
        reconnect_seconds: how long a dropped live source is retried before giving up.
        latest_only: keep only the newest frame (default: for live sources).
    """

    def __init__(self, source: Union[str, int], reconnect_seconds: float = 20.0,
                 latest_only: Optional[bool] = None):
        self.source = parse_source(source)
        self.reconnect_seconds = reconnect_seconds
        self.live = is_live(self.source)
        self.latest_only = self.live if latest_only is None else latest_only
        self.stats = SourceStats()
        self._stop = threading.Event()
        self._cap = None
        self._lock = threading.Condition()
        self._latest: Optional[np.ndarray] = None
        self._fresh = False
        self._done = False
        self._thread: Optional[threading.Thread] = None
        self._images = None
        if isinstance(self.source, str) and os.path.isdir(self.source):
            self._images = list_images(self.source)
            if not self._images:
                raise SourceError(f"{self.source}: no images in this folder")
            self.stats.frame_count = len(self._images)
        elif not self.live and not os.path.exists(str(self.source)):
            raise SourceError(f"{self.source}: no such video file or folder")
        else:
            self._open()
            if self._cap is None:
                raise SourceError(f"{self.source}: cannot open this video source")

    # -- opening -------------------------------------------------------------------------------
    def _open(self) -> bool:
        cap = cv2.VideoCapture(self.source)
        if not cap.isOpened():
            cap.release()
            return False
        if self._cap is not None:
            self._cap.release()
        self._cap = cap
        self.stats.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.stats.frame_count = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0), 0)
        self.stats.size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                           int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        return True

    def _reconnect(self) -> bool:
        """Reopen a live source with backoff (0.25 s doubling to 4 s) within the time bound."""
        deadline = time.monotonic() + self.reconnect_seconds
        delay = 0.25
        while not self._stop.is_set() and time.monotonic() < deadline:
            log.warning("%s: stream lost, reconnecting in %.2f s", self.source, delay)
            self._stop.wait(delay)
            if self._open():
                ok, frame = self._cap.read()
                if ok and frame is not None:
                    self.stats.reconnects += 1
                    self._publish(frame)
                    return True
            delay = min(delay * 2, 4.0)
        return False

    # -- live reading thread ---------------------------------------------------------------------
    def _publish(self, frame: np.ndarray) -> None:
        with self._lock:
            if self._fresh:
                self.stats.dropped += 1
            self._latest = frame
            self._fresh = True
            self._lock.notify_all()

    def _reader(self) -> None:
        while not self._stop.is_set():
            ok, frame = self._cap.read()
            if ok and frame is not None:
                self._publish(frame)
                continue
            if not self._reconnect():
                self.stats.ended_by = "stream lost"
                break
        with self._lock:
            self._done = True
            self._lock.notify_all()

    def _live_frames(self) -> Iterator[np.ndarray]:
        self._thread = threading.Thread(target=self._reader, name="capture", daemon=True)
        self._thread.start()
        while True:
            with self._lock:
                while not self._fresh and not self._done:
                    self._lock.wait(0.5)
                if not self._fresh and self._done:
                    return
                frame, self._fresh = self._latest, False
            self.stats.frames += 1
            yield frame

    # -- files and folders -----------------------------------------------------------------------
    def _file_frames(self) -> Iterator[np.ndarray]:
        total = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        bad = 0
        while not self._stop.is_set():
            ok, frame = self._cap.read()
            if ok and frame is not None:
                bad = 0
                self.stats.frames += 1
                yield frame
                continue
            position = int(self._cap.get(cv2.CAP_PROP_POS_FRAMES) or 0)
            if total and position < total - 1 and bad < MAX_BAD_FRAMES:
                # Skip the frame, unless the decoder cannot move past it: then the file ends
                # here, before the frame count its header gives (said once, counted as no
                # unreadable frame, not once per retry).
                if not self._cap.grab() and int(self._cap.get(cv2.CAP_PROP_POS_FRAMES)
                                                or 0) <= position:
                    log.warning("%s: the file ends at frame %d, before the %d frames its "
                                "header gives", self.source, position, total)
                    self.stats.ended_by = "file ends early"
                    return
                bad += 1
                self.stats.unreadable += 1
                log.warning("%s: unreadable frame %d skipped", self.source, position)
                continue
            self.stats.ended_by = "end of file" if not bad else "unreadable tail"
            return

    def _folder_frames(self) -> Iterator[np.ndarray]:
        for path in self._images:
            if self._stop.is_set():
                return
            try:
                frame = read_image(path)
            except ImageError as err:
                self.stats.unreadable += 1
                log.warning("%s, skipped", err)
                continue
            self.stats.frames += 1
            yield frame
        self.stats.ended_by = "end of folder"

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._images is not None:
            return self._folder_frames()
        if self.latest_only:
            return self._live_frames()
        return self._file_frames()

    def close(self) -> None:
        """Stop the capture thread and release the device."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._cap is not None:
            self._cap.release()
