"""``ssd-isb serve``: the segmenter as a service on a headless device (the ``serve`` extra).

A live page, a REST API, per-stream events over WebSocket and MQTT, and Prometheus metrics,
around the same parts the demo uses: :class:`~ssd_isb.runtime.Segmenter`, a capture thread per
source that reconnects (:class:`~ssd_isb.runtime.video.FrameSource`), the tracker and the overlays.

* :mod:`.settings`: what the command takes, checked before anything starts;
* :mod:`.engine`: the one inference thread (photos first, then the streams in turn) and each
  stream's state;
* :mod:`.presence`: people entering and leaving, by track ID;
* :mod:`.uploads`: a posted photo, checked (bytes, pixels, format) and decoded;
* :mod:`.metrics`, :mod:`.mqtt`: Prometheus text and the MQTT publisher;
* :mod:`.app`: the HTTP routes (Starlette), the token check and the page in ``static/``.
"""
