// The live page: one MJPEG view per stream with its FPS and people count (WebSocket
// events), toggles that pick the overlay style, and a drop zone that posts a photo to
// /v1/segment?overlay=1. The token, when the service has one, travels in a same-site cookie
// set by /?token=T: images, fetches and sockets carry it without script access to it.
"use strict";

const $ = (id) => document.getElementById(id);

function style() {
  const b = (id) => ($(id).checked ? "1" : "0");
  return `masks=${b("masks")}&boxes=${b("boxes")}&blur=${b("blur")}`;
}

function view(stream) {
  const box = document.createElement("div");
  box.className = "stream";
  box.id = `stream-${stream.id}`;
  const img = document.createElement("img");
  img.alt = `stream ${stream.id}`;
  img.dataset.stream = stream.id;
  img.src = `/v1/streams/${stream.id}/mjpeg?${style()}`;
  const stats = document.createElement("div");
  stats.className = "stats";
  stats.textContent = `#${stream.id} ${stream.source}: ${stream.state}`;
  const events = document.createElement("div");
  events.className = "events";
  box.append(img, stats, events);
  return box;
}

function listen(stream) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/v1/streams/${stream.id}/events`);
  const stats = document.querySelector(`#stream-${stream.id} .stats`);
  const events = document.querySelector(`#stream-${stream.id} .events`);
  let times = [];
  ws.onmessage = (msg) => {
    const data = JSON.parse(msg.data);
    const now = performance.now();
    times.push(now);
    times = times.filter((t) => now - t < 2000);
    const fps = times.length > 1 ? (times.length - 1) / ((now - times[0]) / 1000) : 0;
    stats.textContent = `#${stream.id} ${stream.source}: ${data.people.length} people, ` +
      `${fps.toFixed(1)} FPS, frame ${data.frame}`;
    stats.dataset.people = data.people.length;
    for (const e of data.events) {
      const line = document.createElement("div");
      line.textContent = `frame ${e.frame}: #${e.track_id} ${e.type}s`;
      events.prepend(line);
    }
  };
  ws.onclose = () => setTimeout(() => listen(stream), 2000);
}

async function start() {
  const r = await fetch("/v1/streams");
  if (!r.ok) {
    $("health").textContent = `streams: HTTP ${r.status}`;
    return;
  }
  const { streams } = await r.json();
  for (const s of streams) {
    $("streams").append(view(s));
    listen(s);
  }
  for (const id of ["masks", "boxes", "blur"]) {
    $(id).addEventListener("change", () => {
      for (const img of document.querySelectorAll(".stream img")) {
        img.src = `/v1/streams/${img.dataset.stream}/mjpeg?${style()}`;
      }
    });
  }
  setInterval(async () => {
    const h = await fetch("/healthz");
    if (h.ok) {
      const j = await h.json();
      $("health").textContent = `service: ${j.status}; ` +
        j.streams.map((s) => `#${s.id} ${s.state}`).join(", ");
    }
  }, 3000);
}

async function segment(file) {
  const body = new FormData();
  body.append("file", file);
  const r = await fetch("/v1/segment?overlay=1", { method: "POST", body });
  const out = $("result");
  out.textContent = "";
  if (!r.ok) {
    const e = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
    out.textContent = `refused: ${e.error}`;
    return;
  }
  const img = document.createElement("img");
  img.id = "segmented";
  img.alt = `${r.headers.get("x-people")} people`;
  img.dataset.people = r.headers.get("x-people");
  img.src = URL.createObjectURL(await r.blob());
  out.append(img);
}

const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files.length) segment(e.dataTransfer.files[0]);
});
$("file").addEventListener("change", (e) => { if (e.target.files.length) segment(e.target.files[0]); });
start();
