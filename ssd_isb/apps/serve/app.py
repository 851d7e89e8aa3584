"""The HTTP side of ``ssd-isb serve`` (Starlette on uvicorn).

Routes (the contract; ``docs/serving.md`` shows them in use):

* ``GET /``: the live page (static HTML and JS, no build step);
* ``GET /healthz``: ``{"status": "ok", ...}`` with each stream's state (never needs a token);
* ``POST /v1/segment``: a JPEG/PNG body (or multipart ``file``) -> ``people``, ``image_size``,
  ``ms``; ``?overlay=1`` answers the overlay JPEG instead;
* ``GET /v1/streams``, ``GET /v1/streams/{k}/latest``: states and counters, the last frame's
  people;
* ``GET /v1/streams/{k}/mjpeg``: the overlay as MJPEG (``masks``, ``boxes``, ``blur`` = 0/1);
* ``WS /v1/streams/{k}/events``: per-frame JSON with the enter/leave events;
* ``GET /metrics``: Prometheus text.

With a token, every route but ``/healthz`` needs ``Authorization: Bearer T``; a browser gives it
once as ``/?token=T``, which sets a same-site cookie the page, its images and its WebSockets
then carry. Viewers never wait on each other or on the model: each gets the newest frame, and
what it missed is counted as dropped for that viewer only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import time
from typing import Dict, Optional

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from .engine import DEFAULT_STYLE, Engine
from .settings import ServeSettings
from .uploads import UploadError, decode_upload

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
COOKIE = "ssd_isb_token"
BOUNDARY = "frame"
EVENT_QUEUE = 8  # messages a WebSocket viewer may lag before the oldest are dropped

TOKEN_FORM = """<!doctype html><meta charset="utf-8"><title>ssd-isb</title>
<form method="get" action="/"><label>This service needs its token:
<input name="token" type="password" autofocus></label> <button>Open</button></form>"""


def error(status: int, message: str) -> JSONResponse:
    """A 4xx/5xx answer: ``{"error": message, "status": status}``."""
    return JSONResponse({"error": message, "status": status}, status_code=status)


class Hub:
    """Wakes the viewers of a stream when its engine thread has a new frame."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.events: Dict[int, asyncio.Event] = {}

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.events = {s.index: asyncio.Event() for s in self.engine.streams}
        self.engine.listeners.append(self._from_engine)

    def _from_engine(self, index: int) -> None:  # on the engine's thread
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._wake, index)

    def _wake(self, index: int) -> None:
        event = self.events[index]
        self.events[index] = asyncio.Event()
        event.set()

    async def next_frame(self, index: int, after: Optional[int], timeout: float = 5.0
                         ) -> bool:
        """Wait until stream ``index`` has a frame newer than ``after`` (False on timeout)."""
        latest = self.engine.streams[index].latest
        if latest is not None and (after is None or latest.frame_no > after):
            return True
        try:
            await asyncio.wait_for(self.events[index].wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False


def build_app(settings: ServeSettings, engine: Engine, metrics, model_name: str,
              stopping: Optional[asyncio.Event] = None) -> Starlette:
    """The service's Starlette application around a started (or startable) engine."""
    hub = Hub(engine)
    started = time.time()
    token = settings.token

    def authorized(request) -> bool:
        if token is None:
            return True
        given = None
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            given = header[7:].strip()
        given = given or request.cookies.get(COOKIE) or request.query_params.get("token")
        return given is not None and hmac.compare_digest(given.encode(), token.encode())

    def count(route: str, code: int) -> None:
        if metrics is not None:
            metrics.requests.labels(route, str(code)).inc()

    def stream_of(request):
        try:
            k = int(request.path_params["k"])
            return engine.streams[k] if 0 <= k < len(engine.streams) else None
        except (ValueError, KeyError):
            return None

    def refused(request, route: str, needs_stream: bool = False):
        """The error answer (counted) for a request without the token, or naming no stream
        when ``needs_stream``; None when it may go on."""
        if not authorized(request):
            count(route, 401)
            return error(401, "missing or wrong token (Authorization: Bearer T)")
        if needs_stream and stream_of(request) is None:
            count(route, 404)
            return error(404, f"no stream {request.path_params['k']} (GET /v1/streams)")
        return None

    async def page(request: Request):
        if token is not None and request.query_params.get("token"):
            if not authorized(request):
                count("/", 401)
                return HTMLResponse(TOKEN_FORM, status_code=401)
            # Taken once: a cookie for the page, its images and sockets; the token leaves the
            # address bar (and the browser's history).
            response = Response(status_code=303, headers={"location": "/"})
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
            count("/", 303)
            return response
        if not authorized(request):
            count("/", 401)
            return HTMLResponse(TOKEN_FORM, status_code=401)
        with open(os.path.join(STATIC, "index.html"), encoding="utf-8") as fh:
            count("/", 200)
            return HTMLResponse(fh.read())

    async def script(request: Request):
        with open(os.path.join(STATIC, "app.js"), encoding="utf-8") as fh:
            return Response(fh.read(), media_type="text/javascript")

    async def healthz(request: Request):
        count("/healthz", 200)
        return JSONResponse({"status": "ok" if not (stopping and stopping.is_set())
                             else "stopping", "model": model_name,
                             "uptime_s": round(time.time() - started, 1),
                             "streams": [{"id": s.index, "source": s.source, "state": s.state}
                                         for s in engine.streams]})

    async def segment(request: Request):
        route = "/v1/segment"
        if (answer := refused(request, route)) is not None:
            return answer
        try:
            length = int(request.headers.get("content-length") or 0)
        except ValueError:
            length = 0
        if length > settings.max_upload_bytes:
            count(route, 413)
            return error(413, f"the body is {length} bytes, over the limit of "
                              f"{settings.max_upload_bytes}")
        content_type = request.headers.get("content-type", "")
        try:
            if content_type.startswith("multipart/form-data"):
                form = await request.form(max_files=1, max_fields=4,
                                          max_part_size=settings.max_upload_bytes)
                upload = form.get("file")
                if upload is None or isinstance(upload, str):
                    raise UploadError("multipart body without a 'file' part")
                data = await upload.read(settings.max_upload_bytes + 1)
                kind = upload.content_type or ""
            else:
                data = bytearray()
                async for chunk in request.stream():
                    data += chunk
                    if len(data) > settings.max_upload_bytes:
                        raise UploadError(f"the body is over the limit of "
                                          f"{settings.max_upload_bytes} bytes", 413)
                data, kind = bytes(data), content_type
            image = decode_upload(data, kind, settings.max_upload_bytes,
                                  settings.max_upload_pixels)
        except UploadError as err:
            count(route, err.status)
            return error(err.status, str(err))
        except Exception as err:  # a broken multipart body
            count(route, 400)
            return error(400, f"unreadable body ({str(err).splitlines()[0][:200]})")
        overlay = request.query_params.get("overlay") in ("1", "true", "yes")
        try:
            people, ms, picture = await asyncio.wrap_future(engine.submit(image, overlay))
        except RuntimeError as err:
            count(route, 503)
            return error(503, str(err))
        count(route, 200)
        if overlay:
            return Response(picture, media_type="image/jpeg",
                            headers={"x-people": str(len(people)), "x-ms": f"{ms:.1f}"})
        return JSONResponse({"people": people, "image_size": [int(image.shape[1]),
                                                              int(image.shape[0])],
                             "ms": round(ms, 2)})

    async def streams(request: Request):
        if (answer := refused(request, "/v1/streams")) is not None:
            return answer
        count("/v1/streams", 200)
        return JSONResponse({"streams": [s.status() for s in engine.streams]})

    async def latest(request: Request):
        route = "/v1/streams/{k}/latest"
        if (answer := refused(request, route, needs_stream=True)) is not None:
            return answer
        stream = stream_of(request)
        last = stream.latest
        count(route, 200)
        if last is None:
            return JSONResponse({"stream": stream.index, "state": stream.state, "frame": None,
                                 "people": []})
        return JSONResponse({"stream": stream.index, "state": stream.state,
                             "frame": last.frame_no, "time": last.time,
                             "ms": round(last.ms, 2), "people": last.people,
                             "image_size": [int(last.frame.shape[1]),
                                            int(last.frame.shape[0])]})

    async def mjpeg(request: Request):
        route = "/v1/streams/{k}/mjpeg"
        if (answer := refused(request, route, needs_stream=True)) is not None:
            return answer
        stream = stream_of(request)
        q = request.query_params
        style = tuple(q.get(k, d) not in ("0", "false", "no")
                      for k, d in (("masks", "1"), ("boxes", "1"), ("blur", "0")))
        count(route, 200)

        async def frames():
            sent = None
            loop = asyncio.get_running_loop()
            while not (stopping and stopping.is_set()):
                if not await hub.next_frame(stream.index, sent, timeout=1.0):
                    if await request.is_disconnected():
                        return
                    continue
                got = await loop.run_in_executor(None, engine.overlay, stream.index,
                                                 style if style != DEFAULT_STYLE
                                                 else DEFAULT_STYLE)
                if got is None:
                    continue
                frame_no, picture = got
                if sent is not None and frame_no > sent + 1:
                    # This viewer was slower than the stream: it gets the newest frame, and
                    # what it missed is its own loss.
                    missed = frame_no - sent - 1
                    stream.viewer_dropped += missed
                    if metrics is not None:
                        metrics.viewer_dropped.labels(str(stream.index), "mjpeg").inc(missed)
                sent = frame_no
                yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: "
                       f"{len(picture)}\r\n\r\n").encode() + picture + b"\r\n"

        return StreamingResponse(frames(),
                                 media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                                 headers={"cache-control": "no-store"})

    async def events(websocket: WebSocket):
        route = "/v1/streams/{k}/events"
        if not authorized(websocket):
            count(route, 401)
            await websocket.close(code=4401, reason="missing or wrong token")
            return
        stream = stream_of(websocket)
        if stream is None:
            count(route, 404)
            await websocket.close(code=4404, reason="no such stream")
            return
        await websocket.accept()
        count(route, 101)
        sent = None
        try:
            while not (stopping and stopping.is_set()):
                if not await hub.next_frame(stream.index, sent, timeout=1.0):
                    continue
                last = stream.latest
                if last is None or (sent is not None and last.frame_no <= sent):
                    continue
                if sent is not None and last.frame_no > sent + 1:
                    missed = last.frame_no - sent - 1
                    stream.viewer_dropped += missed
                    if metrics is not None:
                        metrics.viewer_dropped.labels(str(stream.index), "events").inc(missed)
                sent = last.frame_no
                message = {"stream": stream.index, "frame": last.frame_no, "time": last.time,
                           "people": [{k: v for k, v in p.items() if k != "segmentation"}
                                      for p in last.people],
                           "events": last.events}
                await asyncio.wait_for(websocket.send_text(json.dumps(message)), 5.0)
        except (WebSocketDisconnect, asyncio.TimeoutError, RuntimeError):
            return

    async def prometheus(request: Request):
        if (answer := refused(request, "/metrics")) is not None:
            return answer
        count("/metrics", 200)
        return Response(metrics.text(), media_type="text/plain; version=0.0.4")

    middleware = []
    if settings.cors:
        from starlette.middleware.cors import CORSMiddleware

        middleware.append(Middleware(CORSMiddleware, allow_origins=list(settings.cors),
                                     allow_methods=["GET", "POST"],
                                     allow_headers=["authorization", "content-type"]))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        hub.attach(asyncio.get_running_loop())
        yield

    routes = [Route("/", page), Route("/app.js", script), Route("/healthz", healthz),
              Route("/v1/segment", segment, methods=["POST"]),
              Route("/v1/streams", streams), Route("/v1/streams/{k}/latest", latest),
              Route("/v1/streams/{k}/mjpeg", mjpeg),
              WebSocketRoute("/v1/streams/{k}/events", events),
              Route("/metrics", prometheus)]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
