"""What ``ssd-isb serve`` takes, checked before the model loads (TF-free)."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field
from typing import List, Optional

from ...utils.errors import UsageError, check_range

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # a 12 MP phone JPEG is 3-8 MB
MAX_UPLOAD_PIXELS = 40_000_000  # beyond it a person's full-resolution mask alone is 40 MB


@dataclass
class ServeSettings:
    """The service's options (see ``ssd-isb serve --help``).

    Attributes:
        sources: cameras, files, URLs or folders watched from the start.
        model, backend, threads: the model and its runtime.
        host, port: where to listen; any address but loopback needs a token.
        token: the bearer token; None on loopback: no token; "" (not given) off loopback:
            one is generated and printed, as Jupyter does.
        mqtt: "HOST:PORT" of an MQTT broker for events, counts and a retained status.
        mqtt_topic: the topic prefix.
        cors: origins allowed to call the API from a browser (none by default).
        tiles, zoom, track, score_threshold: how frames are segmented.
        loop: replay file sources from the start when they end (a camera stand-in).
        max_upload_bytes, max_upload_pixels: limits of ``POST /v1/segment``.
        jpeg_quality: of the MJPEG streams and overlays.
    """

    sources: List[str] = field(default_factory=list)
    model: Optional[str] = None
    backend: Optional[str] = None
    threads: Optional[int] = None
    host: str = "127.0.0.1"
    port: int = 8000
    token: Optional[str] = None
    mqtt: Optional[str] = None
    mqtt_topic: str = "ssd-isb"
    cors: List[str] = field(default_factory=list)
    tiles: str = "auto"
    zoom: str = "auto"
    track: bool = False
    score_threshold: float = 0.5
    loop: bool = False
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_upload_pixels: int = MAX_UPLOAD_PIXELS
    jpeg_quality: int = 80
    reconnect_seconds: float = 20.0
    token_generated: bool = False

    def check(self) -> "ServeSettings":
        """Validate; generate a token when listening beyond loopback without one.

        Raises:
            UsageError: one line naming the option.
        """
        check_range("--port", self.port, 0, 65535)
        check_range("--score-threshold", self.score_threshold, 0.0, 1.0)
        check_range("--max-upload-mb", self.max_upload_bytes, 1024, 2 ** 31)
        check_range("--jpeg-quality", self.jpeg_quality, 10, 100)
        if self.mqtt is not None:
            mqtt_address(self.mqtt)
        if self.token is not None and not self.token.strip():
            raise UsageError("--token: empty")
        if not is_loopback(self.host) and self.token is None:
            self.token = secrets.token_urlsafe(24)
            self.token_generated = True
        return self


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine."""
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def mqtt_address(text: str):
    """``HOST:PORT`` (or ``HOST``: port 1883) -> (host, port).

    Raises:
        UsageError: not of that form.
    """
    host, _, port = str(text).rpartition(":") if ":" in str(text) else (text, "", "1883")
    try:
        number = int(port)
    except ValueError:
        raise UsageError(f"--mqtt {text}: expected HOST:PORT") from None
    if not host or not 0 < number < 65536:
        raise UsageError(f"--mqtt {text}: expected HOST:PORT")
    return host, number
