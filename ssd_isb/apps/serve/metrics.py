"""Prometheus metrics of the service (``GET /metrics``), names starting with ``ssd_isb_``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """One registry per service (tests run several in one process)."""

    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.frames = Counter("ssd_isb_frames", "frames segmented", ["stream"], registry=r)
        self.dropped = Counter("ssd_isb_dropped_frames",
                               "live frames replaced by newer ones before the model took them",
                               ["stream"], registry=r)
        self.viewer_dropped = Counter("ssd_isb_viewer_dropped_frames",
                                      "frames a slow viewer did not get (it gets the newest)",
                                      ["stream", "route"], registry=r)
        self.reconnects = Counter("ssd_isb_reconnects", "times a stream was reopened",
                                  ["stream"], registry=r)
        self.people = Gauge("ssd_isb_people", "people in the last frame", ["stream"],
                            registry=r)
        self.up = Gauge("ssd_isb_stream_up", "1 while a stream delivers frames", ["stream"],
                        registry=r)
        self.fps = Gauge("ssd_isb_stream_fps", "frames segmented per second", ["stream"],
                         registry=r)
        self.latency = Histogram("ssd_isb_inference_seconds",
                                 "time to segment one frame or photo", ["kind"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.requests = Counter("ssd_isb_requests", "HTTP requests by route and status code",
                                ["route", "code"], registry=r)
        self.events = Counter("ssd_isb_events", "enter and leave events", ["stream", "type"],
                              registry=r)

    def text(self) -> bytes:
        """The exposition format."""
        return generate_latest(self.registry)
