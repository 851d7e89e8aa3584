"""``ssd-isb serve``: put the model, the streams and the HTTP app together and run them.

SIGTERM (systemd's stop) and Ctrl-C end the service the same way: it stops taking new
connections, lets the requests in flight finish, ends the MJPEG and event streams, stops the
cameras and the inference thread, says ``offline`` on MQTT, and exits 0 within seconds.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Dict, Optional

from .settings import ServeSettings

log = logging.getLogger("ssd_isb.apps.serve")
GRACE_SECONDS = 3  # in-flight requests this long after a stop, then connections are closed


def build_service(settings: ServeSettings):
    """(engine, app, metrics, publisher, stopping event) of the settings, not yet started."""
    from ...runtime import Segmenter
    from .app import build_app
    from .engine import Engine, Stream
    from .metrics import Metrics
    from .mqtt import Publisher
    from .settings import mqtt_address

    settings.check()
    seg = Segmenter(settings.model, backend=settings.backend, threads=settings.threads,
                    score_threshold=settings.score_threshold, tiles=settings.tiles,
                    zoom=settings.zoom)
    metrics = Metrics()
    streams = [Stream(k, s, loop=settings.loop, reconnect_seconds=settings.reconnect_seconds,
                      track=settings.track, score_threshold=settings.score_threshold)
               for k, s in enumerate(settings.sources)]
    for s in streams:
        metrics.up.labels(str(s.index)).set(0)
    publisher = None
    if settings.mqtt:
        host, port = mqtt_address(settings.mqtt)
        publisher = Publisher(host, port, settings.mqtt_topic)
    engine = Engine(seg, streams, metrics, publisher, settings.jpeg_quality)
    stopping = asyncio.Event()
    app = build_app(settings, engine, metrics, seg.path, stopping)
    return engine, app, metrics, publisher, stopping


def run_server(settings: ServeSettings, ready=None) -> Dict:
    """Serve until SIGTERM or Ctrl-C; returns a summary of the run.

    Args:
        settings: the options.
        ready: called with the address once the server listens (tests, the CLI's line).
    """
    import uvicorn

    engine, app, metrics, publisher, stopping = build_service(settings)

    class Server(uvicorn.Server):
        """uvicorn's server, stopped gracefully by SIGTERM and Ctrl-C alike: the stop is the
        service's normal end (exit 0), not re-raised after the drain."""

        def handle_exit(self, sig, frame):  # noqa: ARG002 - signal handler signature
            self.should_exit = True
            try:
                loop = asyncio.get_running_loop()
                loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:
                pass

        async def startup(self, sockets=None):
            await super().startup(sockets)
            if not self.should_exit:
                host, port = self.servers[0].sockets[0].getsockname()[:2]
                address = f"http://{host}:{port}"
                if ready is not None:
                    ready(address)
                for s in engine.streams:
                    metrics.up.labels(str(s.index)).set(1)

    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning",
                            timeout_graceful_shutdown=GRACE_SECONDS, lifespan="on")
    server = Server(config)
    engine.start()
    try:
        server.run()
    finally:
        stopping.set()
        engine.stop()
        if publisher is not None:
            publisher.close()
    return {"streams": [s.status() for s in engine.streams],
            "frames": sum(s.frames for s in engine.streams)}

