"""Events and counts to an MQTT broker (paho-mqtt), with a retained status topic.

Topics under the prefix (default ``ssd-isb``): ``status`` (retained ``online``/``offline``,
``offline`` also as the last will, so a killed service is reported by the broker),
``streams/<k>/events`` (one JSON message per enter or leave), ``streams/<k>/people`` (the
count, retained, on change). paho's network thread reconnects by itself; while the broker is
away the service runs on and a bounded queue keeps the latest messages.
"""

from __future__ import annotations

import json
import logging
from typing import Dict, Optional

log = logging.getLogger("ssd_isb.apps.serve")


class Publisher:
    """Publish to ``host:port`` under ``prefix``.

    Args:
        host, port: the broker.
        prefix: topic prefix.
        client_id: MQTT client id (default: ``ssd-isb-<pid>``).
    """

    def __init__(self, host: str, port: int, prefix: str = "ssd-isb",
                 client_id: Optional[str] = None):
        import os

        import paho.mqtt.client as mqtt

        self.prefix = prefix.rstrip("/")
        self.connected = False
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"ssd-isb-{os.getpid()}")
        self.client.max_queued_messages_set(1000)
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.client.will_set(self.topic("status"), "offline", qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self._last_count: Dict[int, int] = {}
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()

    def topic(self, *parts) -> str:
        return "/".join([self.prefix, *(str(p) for p in parts)])

    def _on_connect(self, client, userdata, flags, reason, properties=None):
        self.connected = not getattr(reason, "is_failure", False)
        if self.connected:
            client.publish(self.topic("status"), "online", qos=1, retain=True)
            for k, n in self._last_count.items():  # counts again after a broker restart
                client.publish(self.topic("streams", k, "people"), str(n), qos=1, retain=True)

    def _on_disconnect(self, client, userdata, flags, reason, properties=None):
        if self.connected:
            log.warning("MQTT broker disconnected (%s); reconnecting", reason)
        self.connected = False

    def frame(self, stream: int, people: int, events) -> None:
        """A stream's frame: its events, and its count when it changed."""
        for event in events:
            self.client.publish(self.topic("streams", stream, "events"),
                                json.dumps({"stream": stream, **event}), qos=1)
        if self._last_count.get(stream) != people:
            self._last_count[stream] = people
            self.client.publish(self.topic("streams", stream, "people"), str(people), qos=1,
                                retain=True)

    def close(self) -> None:
        """Say offline (retained) and disconnect."""
        try:
            if self.connected:
                self.client.publish(self.topic("status"), "offline", qos=1,
                                    retain=True).wait_for_publish(timeout=2)
            self.client.disconnect()
        finally:
            self.client.loop_stop()
