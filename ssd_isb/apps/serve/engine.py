"""The service's inference thread and its streams (TF-free).

One thread owns the :class:`~ssd_isb.runtime.Segmenter` (a model runs one call at a time; on a
small CPU two would only fight for its cores): it takes posted photos first, then the streams in
turn. Each stream is read on its own capture thread into a one-frame slot (a live source keeps
its newest frame and counts the ones it replaced; a file waits for the model). A camera that
dies is reopened for as long as the service runs; its state says so.

What a frame gives is kept as an immutable :class:`Latest` (people, events, the frame and its
overlays), so the HTTP side reads it from any thread without waiting for the model.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np

from ...core.boxes import xyxy_to_xywh
from ...runtime.draw import draw_segmentation
from ...runtime.rle import encode_mask
from ...runtime.video import FrameSource, SourceError, is_live, parse_source
from .presence import Presence

log = logging.getLogger("ssd_isb.apps.serve")

Style = Tuple[bool, bool, bool]  # (masks, boxes, blur)
DEFAULT_STYLE: Style = (True, True, False)
RETRY_SECONDS = 2.0  # a dead camera is tried again this often, for as long as the service runs


def people_json(result, masks: bool = True) -> List[Dict]:
    """The people of a :class:`~ssd_isb.runtime.Segmentation` as the API gives them: ``box``
    (x, y, w, h px), ``score``, ``track_id`` when tracked and ``segmentation`` (COCO RLE)."""
    out = []
    xywh = xyxy_to_xywh(result.boxes)
    for i in range(len(result)):
        person = {"box": [round(float(v), 1) for v in xywh[i]],
                  "score": round(float(result.scores[i]), 4)}
        if result.track_ids is not None:
            person["track_id"] = int(result.track_ids[i])
        if masks:
            person["segmentation"] = encode_mask(result.masks[i])
        out.append(person)
    return out


def render(frame: np.ndarray, result, style: Style) -> np.ndarray:
    """The overlay of a frame: masks and/or boxes, on a blurred background when asked."""
    masks, boxes, blur = style
    base = frame
    if blur:
        from ..background import BackgroundEffect
        from ...runtime.person_map import PersonMap

        base = BackgroundEffect("blur")(frame, PersonMap.from_masks(result.masks,
                                                                    frame.shape[:2]))
    if not masks:
        import dataclasses

        result = dataclasses.replace(result, masks=np.zeros((len(result), 1, 1), bool))
    if not masks and not boxes:
        return base
    return draw_segmentation(base, result, boxes=boxes)


def jpeg(image: np.ndarray, quality: int = 80) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return data.tobytes()


@dataclass
class Latest:
    """What the last segmented frame of a stream gave (never changed once made)."""

    frame_no: int
    time: float
    people: List[Dict]
    events: List[Dict]
    ms: float
    frame: np.ndarray = field(repr=False)
    result: object = field(repr=False)
    overlays: Dict[Style, bytes] = field(default_factory=dict, repr=False)


class Stream:
    """One source: its capture thread, its tracker, its counters and its last frame.

    Args:
        index: its number in the API.
        source: camera index, file, URL or folder.
        loop: replay a file or folder from its start when it ends.
        reconnect_seconds: how long one FrameSource retries before the stream reopens it.
    """

    def __init__(self, index: int, source: str, loop: bool = False,
                 reconnect_seconds: float = 20.0, track: bool = False,
                 score_threshold: float = 0.5):
        self.index = index
        self.source = str(source)
        self.loop = loop
        self.reconnect_seconds = reconnect_seconds
        self.live = is_live(parse_source(source))
        self.state = "starting"
        self.error: Optional[str] = None
        self.frames = 0  # segmented
        self.captured = 0
        self.dropped = 0  # live frames replaced before the model took them
        self.reconnects = 0
        self.viewer_dropped = 0
        self.latest: Optional[Latest] = None
        self.tracker = None
        self.presence = Presence() if track else None
        if track:
            from ...tracking import tracker_for

            self.tracker = tracker_for(score_threshold)
            self.presence = Presence(self.tracker.config.lost_frames)
        self._times: deque = deque(maxlen=30)
        self._slot: Optional[np.ndarray] = None
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._source: Optional[FrameSource] = None
        self._thread = threading.Thread(target=self._capture, name=f"capture-{index}",
                                        daemon=True)
        self.wake: Optional[threading.Event] = None

    def start(self, wake: threading.Event) -> "Stream":
        self.wake = wake
        self._thread.start()
        return self

    @property
    def fps(self) -> float:
        if len(self._times) < 2:
            return 0.0
        return (len(self._times) - 1) / max(self._times[-1] - self._times[0], 1e-9)

    def _capture(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                self._source = FrameSource(self.source, reconnect_seconds=self.reconnect_seconds)
            except SourceError as err:
                self.error = str(err)
                if not self.live:  # a missing file stays missing
                    self.state = "error"
                    log.warning("stream %d: %s", self.index, err)
                    return
                self.state = "reconnecting"
                self._stop.wait(RETRY_SECONDS)
                continue
            if not first:
                self.reconnects += 1
            first = False
            self.state, self.error = "running", None
            before = self._source.stats.reconnects
            try:
                for frame in self._source:
                    self.reconnects += self._source.stats.reconnects - before
                    before = self._source.stats.reconnects
                    self.captured += 1
                    with self._lock:
                        if self.live:
                            self.dropped += self._slot is not None  # the newest frame wins
                        else:
                            while self._slot is not None and not self._stop.is_set():
                                self._lock.wait(0.1)
                        if self._stop.is_set():
                            break
                        self._slot = frame
                    if self.wake is not None:
                        self.wake.set()
            except Exception as err:  # a dead source is reported, and retried if live
                self.error = f"{self.source}: {err}"
                log.warning("stream %d: %s", self.index, self.error)
            finally:
                self._source.close()
            if self._stop.is_set():
                break
            if self.live:
                self.state = "reconnecting"
                self._stop.wait(RETRY_SECONDS)
            elif self.loop:
                continue
            else:
                self.state = "ended"
                return

    def take(self) -> Optional[np.ndarray]:
        with self._lock:
            frame, self._slot = self._slot, None
            self._lock.notify_all()
        return frame

    def status(self) -> Dict:
        """What ``GET /v1/streams`` says of it."""
        latest = self.latest
        return {"id": self.index, "source": self.source, "state": self.state,
                "error": self.error, "fps": round(self.fps, 2), "frames": self.frames,
                "captured": self.captured, "dropped": self.dropped,
                "viewer_dropped": self.viewer_dropped, "reconnects": self.reconnects,
                "people": len(latest.people) if latest else 0,
                "present": self.presence.present if self.presence else None,
                "last_frame": latest.frame_no if latest else None,
                "tracking": self.tracker is not None}

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        if self._source is not None:
            self._source.close()
        if self._thread.ident is not None:
            self._thread.join(timeout=3)


class Engine:
    """The inference thread and the streams.

    Args:
        segmenter: the model (used by this thread only).
        streams: the sources.
        metrics: :class:`~ssd_isb.apps.serve.metrics.Metrics` or None.
        publisher: :class:`~ssd_isb.apps.serve.mqtt.Publisher` or None.
        jpeg_quality: of the overlays.
    """

    def __init__(self, segmenter, streams: List[Stream], metrics=None, publisher=None,
                 jpeg_quality: int = 80):
        self.seg = segmenter
        self.streams = streams
        self.metrics = metrics
        self.publisher = publisher
        self.quality = jpeg_quality
        self.listeners: List[Callable[[int], None]] = []  # called with a stream's index
        self._photos: "queue.Queue" = queue.Queue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)
        self._next = 0
        self._reported: Dict[int, Tuple[int, int]] = {}

    def start(self) -> "Engine":
        for s in self.streams:
            s.start(self._wake)
        self._thread.start()
        return self

    def submit(self, image: np.ndarray, overlay: bool = False) -> concurrent.futures.Future:
        """Segment a photo ahead of the streams; the future gives ``(people, ms, jpeg or
        None)``."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        if self._stop.is_set():
            future.set_exception(RuntimeError("the service is stopping"))
            return future
        self._photos.put((image, overlay, future))
        self._wake.set()
        return future

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._photos.get_nowait()
            except queue.Empty:
                job = None
            if job is not None:
                self._photo(*job)
                continue
            if not self._stream_turn():
                self._wake.wait(0.05)
                self._wake.clear()
        while True:  # photos still waiting get an answer
            try:
                _, _, future = self._photos.get_nowait()
            except queue.Empty:
                break
            future.set_exception(RuntimeError("the service is stopping"))

    def _photo(self, image: np.ndarray, overlay: bool, future) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            t0 = time.perf_counter()
            result = self.seg(image)
            ms = (time.perf_counter() - t0) * 1e3
            if self.metrics:
                self.metrics.latency.labels("photo").observe(ms / 1e3)
            picture = jpeg(render(image, result, DEFAULT_STYLE), self.quality) if overlay \
                else None
            future.set_result((people_json(result), ms, picture))
        except Exception as err:  # the caller's future carries it to the HTTP answer
            future.set_exception(err)

    def _stream_turn(self) -> bool:
        n = len(self.streams)
        for i in range(n):
            stream = self.streams[(self._next + i) % n]
            frame = stream.take()
            if frame is None:
                continue
            self._next = (self._next + i + 1) % n
            self._frame(stream, frame)
            return True
        return False

    def _frame(self, stream: Stream, frame: np.ndarray) -> None:
        t0 = time.perf_counter()
        try:
            result = (self.seg.track(frame, stream.tracker) if stream.tracker is not None
                      else self.seg(frame))
        except Exception as err:  # noqa: BLE001 - one bad frame must not end the service
            log.warning("stream %d: a frame failed: %s", stream.index, err)
            return
        ms = (time.perf_counter() - t0) * 1e3
        events = []
        if stream.presence is not None and result.track_ids is not None:
            events = stream.presence.update(stream.frames, result.track_ids.tolist())
        latest = Latest(stream.frames, time.time(), people_json(result), events, ms, frame,
                        result)
        latest.overlays[DEFAULT_STYLE] = jpeg(render(frame, result, DEFAULT_STYLE),
                                              self.quality)
        stream.latest = latest
        stream.frames += 1
        stream._times.append(time.perf_counter())
        self._account(stream, latest, ms)
        for listener in list(self.listeners):
            listener(stream.index)

    def _account(self, stream: Stream, latest: Latest, ms: float) -> None:
        if self.metrics is not None:
            k = str(stream.index)
            m = self.metrics
            m.frames.labels(k).inc()
            m.latency.labels("stream").observe(ms / 1e3)
            m.people.labels(k).set(len(latest.people))
            m.fps.labels(k).set(stream.fps)
            dropped, reconnects = self._reported.get(stream.index, (0, 0))
            m.dropped.labels(k).inc(stream.dropped - dropped)
            m.reconnects.labels(k).inc(stream.reconnects - reconnects)
            self._reported[stream.index] = (stream.dropped, stream.reconnects)
            for e in latest.events:
                m.events.labels(k, e["type"]).inc()
        if self.publisher is not None:
            self.publisher.frame(stream.index, len(latest.people), latest.events)

    def overlay(self, index: int, style: Style = DEFAULT_STYLE) -> Optional[Tuple[int, bytes]]:
        """(frame number, JPEG) of a stream's last frame in a style (made once per frame)."""
        latest = self.streams[index].latest
        if latest is None:
            return None
        picture = latest.overlays.get(style)
        if picture is None:
            picture = jpeg(render(latest.frame, latest.result, style), self.quality)
            latest.overlays[style] = picture
        return latest.frame_no, picture

    def stop(self) -> None:
        """Stop the streams and the inference thread (a photo being segmented finishes)."""
        self._stop.set()
        self._wake.set()
        for s in self.streams:
            s.close()
        if self._thread.ident is not None:
            self._thread.join(timeout=5)
        if self.metrics is not None:
            for s in self.streams:
                self.metrics.up.labels(str(s.index)).set(0)
