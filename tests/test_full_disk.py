"""A full disk is an error, not a silent loss (issue 37): a real filesystem that fills up (a
small tmpfs), the real command in a child process. The write that fails is named, the exit code
is non-zero, and what was done before it stays on the disk."""

import glob
import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from conftest import SAMPLES, street_video


@pytest.fixture
def small_disk(tmp_path):
    """A 400 KB tmpfs: room for a couple of overlays, not for a folder of them."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", f"ssdisb{uuid.uuid4().hex[:6]}",
                           str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'}): "
                    "needs root with CAP_SYS_ADMIN, as CI has")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _run(*args):
    return subprocess.run([sys.executable, "-m", "ssd_isb", *args], capture_output=True,
                          text=True, timeout=600)


def test_predict_on_a_full_disk_names_the_file_and_keeps_the_results(small_disk, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for k in range(4):  # 16 real photos: more overlays than the disk holds
        for src in glob.glob(os.path.join(SAMPLES, "*.jpg")):
            shutil.copy(src, photos / f"{k}_{os.path.basename(src)}")
    out = small_disk / "pred"
    r = _run("predict", "--source", str(photos), "--output", str(out), "--tiles", "off",
             "--zoom", "off")
    assert r.returncode == 2, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "cannot write" in lines[0] and str(out) in lines[0], r.stderr
    # What was segmented before the disk filled is on it, as COCO results.
    results = json.loads((out / "results.json").read_text())
    overlays = sorted(p.name for p in out.glob("*_overlay.jpg"))
    assert overlays and results
    assert {r["image_id"] for r in results} and all(r["segmentation"]["counts"] for r in results)


def test_demo_on_a_full_disk_says_the_video_is_incomplete(small_disk):
    out = small_disk / "out.mp4"
    r = _run("demo", "--source", street_video(), "--no-display", "--max-frames", "120",
             "--output", str(out), "--tiles", "off", "--zoom", "off")
    assert r.returncode == 2, r.stdout + r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and str(out) in lines[0] and "not written completely" in lines[0]


def test_two_predicts_started_together_take_two_folders(tmp_path):
    """Two real processes, the same --output, started together: each claims its own folder
    (``out`` and ``out-2``, never a name like ``out2``), and no result is lost or mixed."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for src in glob.glob(os.path.join(SAMPLES, "*.jpg")):
        shutil.copy(src, photos / os.path.basename(src))
    out = tmp_path / "race"
    cmd = [sys.executable, "-m", "ssd_isb", "predict", "--source", str(photos), "--output",
           str(out), "--tiles", "off", "--zoom", "off"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    folders = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("race"))
    assert folders == ["race", "race-2"]
    for name in folders:
        results = json.loads((tmp_path / name / "results.json").read_text())
        assert len({r["image_id"] for r in results}) == 4  # each run: its own four photos
        assert len(list((tmp_path / name).glob("*_overlay.jpg"))) == 4
    said = sorted(line for o, _ in outs for line in o.splitlines() if "results.json" in line)
    assert len(said) == 2 and said[0] != said[1]
