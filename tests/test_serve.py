"""``ssd-isb serve`` as users meet it: a real child process on an ephemeral 127.0.0.1 port, a
real HTTP client, a real WebSocket client, a real MQTT broker (mosquitto) and a real browser
(headless Chromium). Every wait is bounded."""

import http.server
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest

from conftest import ROOT, need, street_video

httpx = pytest.importorskip("httpx", reason="the dev extra installs httpx")
pytest.importorskip("uvicorn", reason="ssd-isb serve needs the serve extra")

VIDEO = street_video()  # ../shared's street video, or a clip of the shipped photos
PHOTO = os.path.join(ROOT, "ssd_isb", "samples", "000000000885.jpg")
FAST = ["--tiles", "off", "--zoom", "off"]


class Service:
    """``python -m ssd_isb serve ARGS`` in a child process, stopped at the end."""

    def __init__(self, *args, env=None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ssd_isb", "serve", "--port", "0", *args], cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **(env or {})})
        self.lines = []
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if "listening on" in line:
                break
        assert any("listening on" in l for l in self.lines), (self.lines,
                                                               self.proc.stderr.read())
        address = self.lines[-1].split("listening on ")[1].split()[0]
        self.url, _, query = address.partition("/?token=")
        self.token = query or None

    def get(self, path, **kw):
        return httpx.get(self.url + path, timeout=30, **kw)

    def post(self, path, **kw):
        return httpx.post(self.url + path, timeout=60, **kw)

    def wait_frames(self, n, stream=0, timeout=60, headers=None):
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.get("/v1/streams", headers=headers).json()["streams"][stream]
            if s["frames"] >= n:
                return s
            time.sleep(0.2)
        raise AssertionError(f"stream {stream} made fewer than {n} frames in {timeout} s")

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return self.proc.returncode, out, err


@pytest.fixture(scope="module")
def service():
    need(VIDEO)
    s = Service("--source", VIDEO, "--track", "--loop", *FAST)
    yield s
    s.stop()


def test_health_streams_and_latest(service):
    health = service.get("/healthz").json()
    assert health["status"] == "ok" and health["streams"][0]["source"] == VIDEO
    s = service.wait_frames(30)
    assert s["state"] == "running" and s["tracking"] and s["fps"] > 0
    latest = service.get("/v1/streams/0/latest").json()
    assert latest["frame"] >= 29 and latest["image_size"] == [480, 360]
    assert latest["people"], "the street video shows people"
    p = latest["people"][0]
    assert set(p) == {"box", "score", "track_id", "segmentation"}
    assert p["segmentation"]["size"] == [360, 480]
    assert service.get("/v1/streams/7/latest").status_code == 404
    assert service.get("/v1/streams/x/latest").status_code == 404


def test_segment_a_photo_raw_multipart_and_overlay(service):
    data = open(PHOTO, "rb").read()
    r = service.post("/v1/segment", content=data, headers={"content-type": "image/jpeg"})
    assert r.status_code == 200, r.text
    body = r.json()
    h, w = cv2.imread(PHOTO).shape[:2]
    assert body["image_size"] == [w, h] and body["people"] and body["ms"] > 0
    from pycocotools import mask as mask_utils

    rle = body["people"][0]["segmentation"]
    assert mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()}).any()
    r = service.post("/v1/segment", files={"file": ("p.jpg", data, "image/jpeg")})
    assert r.status_code == 200 and len(r.json()["people"]) == len(body["people"])
    r = service.post("/v1/segment?overlay=1", content=data,
                     headers={"content-type": "image/jpeg"})
    assert r.headers["content-type"] == "image/jpeg"
    overlay = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert overlay.shape[:2] == (h, w) and int(r.headers["x-people"]) == len(body["people"])


@pytest.mark.parametrize("case,body,content_type,status,message", [
    ("garbage", b"not an image at all", "image/jpeg", 415, "not a JPEG"),
    ("wrong type", b"x", "text/plain", 415, "is not an image"),
    ("empty", b"", "image/jpeg", 400, "empty body"),
    ("truncated", "truncated", "image/jpeg", 400, "truncated"),
    ("too many pixels", "huge", "image/png", 413, "pixels, over the limit"),
    ("too many bytes", "bytes", "image/jpeg", 413, "over the limit"),
    ("multipart without file", "form", None, 400, "without a 'file' part"),
])
def test_bad_uploads_get_a_4xx_naming_the_problem(service, case, body, content_type, status,
                                                 message):
    kw = {}
    if body == "truncated":
        data = open(PHOTO, "rb").read()
        body = data[:len(data) // 2]
    elif body == "huge":
        ok, png = cv2.imencode(".png", np.zeros((8000, 6000), np.uint8))  # 48 MP, small file
        body = png.tobytes()
    elif body == "bytes":
        body = b"\xff\xd8\xff" + b"\x00" * (21 * 1024 * 1024)
    if body == "form":
        kw = {"data": {"other": "x"}, "files": {"note": ("a.txt", b"x", "text/plain")}}
    else:
        kw = {"content": body, "headers": {"content-type": content_type}}
    r = service.post("/v1/segment", **kw)
    assert r.status_code == status, (case, r.text)
    assert message in r.json()["error"] and r.json()["status"] == status


def test_nothing_from_a_request_becomes_a_path_and_cors_is_off(service):
    for path in ("/v1/streams/../../etc/passwd", "/static/../setup.cfg", "/v1/streams/0/../x",
                 "/v1/files?path=/etc/passwd"):
        r = service.get(path)
        assert r.status_code == 404 and "root:" not in r.text and "[metadata]" not in r.text
    r = service.get("/v1/streams", headers={"origin": "http://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_websocket_events_carry_people_and_track_ids(service):
    from websockets.sync.client import connect

    with connect(service.url.replace("http", "ws") + "/v1/streams/0/events",
                 open_timeout=10) as ws:
        messages = [json.loads(ws.recv(timeout=20)) for _ in range(5)]
    frames = [m["frame"] for m in messages]
    assert frames == sorted(frames) and len(set(frames)) == 5
    assert any(m["people"] for m in messages)
    assert all("track_id" in p and "segmentation" not in p for m in messages
               for p in m["people"])


def test_a_stalled_viewer_stalls_nothing(service):
    """A client that opens the MJPEG stream and stops reading: the others are served at once,
    the stream goes on, and when it reads again it gets the newest frame; what it missed is
    counted as its own drop."""
    host, port = service.url.split("//")[1].split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: a small
    sock.connect((host, int(port)))                              # window, soon full
    sock.sendall(b"GET /v1/streams/0/mjpeg HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        before = service.get("/v1/streams").json()["streams"][0]
        for _ in range(10):  # stalled for 5 s
            t0 = time.time()
            assert service.get("/healthz").status_code == 200
            assert time.time() - t0 < 2  # the others are served at once
            time.sleep(0.5)
        during = service.get("/v1/streams").json()["streams"][0]
        assert during["frames"] > before["frames"] + 20  # the stream went on
        sock.settimeout(10)
        got = b""
        while got.count(b"--frame") < 40:  # the viewer reads again
            chunk = sock.recv(65536)
            assert chunk, "the server hung up on the slow viewer"
            got += chunk
        after = service.get("/v1/streams").json()["streams"][0]
        assert after["viewer_dropped"] > before["viewer_dropped"], after
    finally:
        sock.close()
    metrics = service.get("/metrics").text
    assert 'ssd_isb_viewer_dropped_frames_total{route="mjpeg",stream="0"}' in metrics


def test_metrics_are_prometheus_text(service):
    service.wait_frames(10)
    text = service.get("/metrics").text
    for name in ("ssd_isb_frames_total", "ssd_isb_inference_seconds_bucket",
                 "ssd_isb_people", "ssd_isb_dropped_frames_total", "ssd_isb_reconnects_total",
                 "ssd_isb_requests_total", "ssd_isb_stream_up"):
        assert name in text, name
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name for f in text_string_to_metric_families(text)}
    assert {"ssd_isb_frames", "ssd_isb_inference_seconds", "ssd_isb_requests"} <= families


def test_a_token_guards_every_route_but_healthz():
    need(VIDEO)
    s = Service("--source", VIDEO, "--loop", "--token", "s3cret", *FAST)
    try:
        assert s.get("/healthz").status_code == 200
        for path in ("/", "/v1/streams", "/v1/streams/0/latest", "/metrics"):
            assert s.get(path).status_code == 401, path
            assert s.get(path, headers={"authorization": "Bearer wrong"}).status_code == 401
        auth = {"authorization": "Bearer s3cret"}
        assert s.get("/v1/streams", headers=auth).status_code == 200
        r = s.post("/v1/segment", content=open(PHOTO, "rb").read(),
                   headers={"content-type": "image/jpeg"})
        assert r.status_code == 401 and "token" in r.json()["error"]
        # The page takes it once: a cookie, and the token leaves the address bar.
        r = s.get("/?token=s3cret", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.cookies.get("ssd_isb_token")
        assert cookie == "s3cret" and "httponly" in r.headers["set-cookie"].lower()
        assert s.get("/", cookies={"ssd_isb_token": cookie}).status_code == 200
    finally:
        code, out, err = s.stop()
    assert code == 0, err


def test_beyond_loopback_a_token_is_generated_and_printed():
    s = Service("--host", "0.0.0.0", *FAST)
    try:
        assert s.token and len(s.token) >= 20 and "token generated" in s.lines[-1]
        url = s.url.replace("0.0.0.0", "127.0.0.1")
        assert httpx.get(url + "/v1/streams", timeout=10).status_code == 401
        assert httpx.get(url + "/v1/streams", timeout=10, headers={
            "authorization": f"Bearer {s.token}"}).status_code == 200
    finally:
        s.stop()


def test_cors_only_when_asked():
    s = Service("--cors", "http://app.example", *FAST)
    try:
        r = s.get("/v1/streams", headers={"origin": "http://app.example"})
        assert r.headers.get("access-control-allow-origin") == "http://app.example"
        r = s.get("/v1/streams", headers={"origin": "http://evil.example"})
        assert "access-control-allow-origin" not in r.headers
    finally:
        s.stop()


class _Camera(http.server.BaseHTTPRequestHandler):
    """An MJPEG camera on loopback that sends ``per_connection`` frames and hangs up (a camera
    that drops its stream); it takes the next connection."""

    frames = []
    per_connection = 25

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace;boundary=frame")
        self.end_headers()
        try:
            for frame in self.frames[:self.per_connection]:
                jpg = cv2.imencode(".jpg", frame)[1].tobytes()
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                 + str(len(jpg)).encode() + b"\r\n\r\n" + jpg + b"\r\n")
                self.wfile.flush()
                time.sleep(0.04)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


def test_a_camera_that_drops_is_reopened_while_the_page_stays_up():
    cap = cv2.VideoCapture(need(VIDEO))
    _Camera.frames = [cap.read()[1] for _ in range(25)]
    camera = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Camera)
    camera.daemon_threads = True
    threading.Thread(target=camera.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{camera.server_address[1]}/cam.mjpg"
    s = Service("--source", url, *FAST)
    try:
        deadline = time.time() + 60
        status = None
        while time.time() < deadline:
            status = s.get("/v1/streams").json()["streams"][0]
            assert s.get("/healthz").status_code == 200
            if status["reconnects"] >= 2 and status["frames"] > 30:
                break
            time.sleep(0.3)
        assert status["reconnects"] >= 2 and status["frames"] > 30, status
        assert "ssd_isb_reconnects_total" in s.get("/metrics").text
    finally:
        code, _, err = s.stop()
        camera.shutdown()
        camera.server_close()
    assert code == 0, err


def test_sigterm_drains_and_exits_0_within_5_s():
    need(VIDEO)
    s = Service("--source", VIDEO, "--loop", *FAST)
    s.wait_frames(5)
    # A viewer holds an MJPEG stream open: the stop must not wait for it.
    viewer = httpx.Client(timeout=30)
    stream = viewer.stream("GET", s.url + "/v1/streams/0/mjpeg")
    response = stream.__enter__()
    next(response.iter_bytes())
    t0 = time.time()
    code, out, err = s.stop(signal.SIGTERM, timeout=15)
    took = time.time() - t0
    try:
        stream.__exit__(None, None, None)
    except Exception:
        pass
    assert code == 0 and took < 5, (code, took, err)
    assert "stopped after" in out and "Traceback" not in err


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _broker(port):
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.path.exists(exe):
        pytest.skip("mosquitto is not installed (apt-get install mosquitto; .ci/run does)")
    proc = subprocess.Popen([exe, "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("mosquitto did not start")


def test_mqtt_events_counts_and_a_broker_that_goes_away():
    mqtt = pytest.importorskip("paho.mqtt.client")
    need(VIDEO)
    port = _free_port()
    broker = _broker(port)
    got, lock = [], threading.Lock()

    def listen():
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-listener")
        client.on_message = lambda c, u, m: (lock.acquire(), got.append(
            (m.topic, m.payload.decode(), m.retain)), lock.release())
        client.on_connect = lambda c, u, f, r, p=None: c.subscribe("ssd-isb/#", qos=1)
        client.reconnect_delay_set(0.2, 1)
        client.connect("127.0.0.1", port)
        client.loop_start()
        return client

    listener = listen()
    s = Service("--source", VIDEO, "--loop", "--track", "--mqtt", f"127.0.0.1:{port}", *FAST)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            with lock:
                topics = {t for t, _, _ in got}
            if {"ssd-isb/status", "ssd-isb/streams/0/events",
                    "ssd-isb/streams/0/people"} <= topics:
                break
            time.sleep(0.2)
        with lock:
            status = [p for t, p, _ in got if t == "ssd-isb/status"]
            events = [json.loads(p) for t, p, _ in got if t == "ssd-isb/streams/0/events"]
        assert status[-1] == "online" and events, got[:5]
        assert events[0]["type"] == "enter" and "track_id" in events[0]
        # The broker goes away: the service runs on, and reconnects when it is back.
        broker.terminate()
        broker.wait(10)
        before = s.get("/v1/streams").json()["streams"][0]["frames"]
        s.wait_frames(before + 20)
        assert s.get("/healthz").json()["status"] == "ok"
        listener.loop_stop()
        broker = _broker(port)
        with lock:
            got.clear()
        listener = listen()
        deadline = time.time() + 30
        while time.time() < deadline:
            with lock:
                if any(t == "ssd-isb/streams/0/events" for t, _, _ in got):
                    break
            time.sleep(0.2)
        with lock:
            assert any(t == "ssd-isb/streams/0/events" for t, _, _ in got), got[:5]
            # online again after the restart (retained: a later subscriber sees it too)
            assert ("ssd-isb/status", "online") in [(t, p) for t, p, _ in got]
    finally:
        code, _, err = s.stop()
        listener.loop_stop()
        broker.terminate()
        broker.wait(10)
    assert code == 0, err


def _chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.slow
def test_the_page_in_a_real_browser(service, tmp_path):
    """Headless Chromium opens the page: the live view shows masks (pixels of the overlay
    colours), and a photo given to the drop zone comes back segmented."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="the dev extra installs "
                                                                "selenium")
    chromium, driver_path = _chromium(), shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run "
                    "installs them)")
    from selenium.webdriver.chrome.service import Service as DriverService
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1000"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=DriverService(driver_path), options=options)
    try:
        browser.set_page_load_timeout(30)
        browser.get(service.url + "/")
        wait = WebDriverWait(browser, 30)
        img = wait.until(lambda b: b.find_element(By.CSS_SELECTOR, ".stream img"))
        wait.until(lambda b: b.execute_script(
            "const i = arguments[0]; return i.complete && i.naturalWidth > 0;", img))
        wait.until(lambda b: int(b.find_element(By.CSS_SELECTOR, ".stream .stats")
                                 .get_attribute("data-people") or -1) >= 0)
        shot = cv2.imdecode(np.frombuffer(img.screenshot_as_png, np.uint8), cv2.IMREAD_COLOR)
        # The overlay blends each person in a saturated colour (draw.instance_color): the
        # street video's grey pavement has almost no saturated pixels of its own.
        hsv = cv2.cvtColor(shot, cv2.COLOR_BGR2HSV)
        assert (hsv[..., 1] > 150).mean() > 0.002, "no overlay colour in the live view"
        browser.find_element(By.ID, "file").send_keys(PHOTO)
        done = wait.until(lambda b: b.find_element(By.ID, "segmented"))
        wait.until(lambda b: b.execute_script(
            "const i = arguments[0]; return i.complete && i.naturalWidth > 0;", done))
        assert int(done.get_attribute("data-people")) > 0
    finally:
        browser.quit()
