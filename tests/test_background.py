"""Background blur/replacement from a person map, in the demo from a base-install runtime."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import BLOCK_TF, DATA, ROOT, need
from ssd_isb.apps.background import BackgroundEffect
from ssd_isb.utils.errors import UsageError
from ssd_isb.runtime.image_io import ImageError
from ssd_isb.runtime.person_map import PersonMap


def frame():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)


def test_person_pixels_kept_background_changed():
    f = frame()
    prob = np.zeros((60, 80), np.float32)
    prob[10:50, 20:40] = 1.0
    out = BackgroundEffect("blur", feather=0)(f, PersonMap(prob))
    np.testing.assert_array_equal(out[10:50, 20:40], f[10:50, 20:40])
    assert np.abs(out[:, 60:].astype(int) - f[:, 60:]).mean() > 20  # noise blurred away


def test_replace_uses_the_image(tmp_path):
    bg = np.full((30, 30, 3), (10, 200, 30), np.uint8)
    path = str(tmp_path / "bg.png")
    cv2.imwrite(path, bg)
    f = frame()
    prob = np.zeros((60, 80), np.float32)
    prob[:, :40] = 1.0
    out = BackgroundEffect("replace", path, feather=0)(f, PersonMap(prob))
    np.testing.assert_array_equal(out[:, :40], f[:, :40])
    assert (np.abs(out[:, 50:].astype(int) - (10, 200, 30)) <= 1).all()
    soft = BackgroundEffect("replace", path)(f, PersonMap(np.full((60, 80), 0.5, np.float32)))
    np.testing.assert_allclose(soft.astype(float), (f.astype(float) + (10, 200, 30)) / 2, atol=1)


def test_bad_arguments():
    with pytest.raises(UsageError, match="needs an image"):
        BackgroundEffect("replace")
    with pytest.raises(ImageError, match="nope.jpg: no such background image"):
        BackgroundEffect("replace", "nope.jpg")
    with pytest.raises(UsageError, match="blur or replace"):
        BackgroundEffect("sepia")
    with pytest.raises(ValueError, match="does not match the frame"):
        BackgroundEffect()(frame(), PersonMap(np.zeros((5, 5), np.float32)))


def test_demo_blurs_the_background_without_tensorflow(tmp_path):
    video = need(os.path.join(DATA, "videos", "pedestrians_480x360.avi"))
    out, summary = str(tmp_path / "blur.mp4"), str(tmp_path / "s.json")
    code = BLOCK_TF + f"""
import sys
from ssd_isb.cli import main
sys.exit(main(["demo", "--source", {video!r}, "--no-display", "--max-frames", "8",
               "--blur-background", "--output", {out!r}, "--summary", {summary!r}]))
"""
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-1500:]
    s = json.load(open(summary))
    assert s["frames"] == 8 and s["background"] == "blur"
    assert s["person_source"] == "InstanceUnion"  # the shipped instance model's masks
    cap = cv2.VideoCapture(out)
    ok, first = cap.read()
    src = cv2.VideoCapture(video)
    ok2, raw = src.read()
    assert ok and ok2 and first.shape == raw.shape
    # Most of the frame (street) is blurred: its high frequencies are gone.
    assert cv2.Laplacian(first, cv2.CV_64F).var() < 0.5 * cv2.Laplacian(raw, cv2.CV_64F).var()


def test_demo_refuses_mixed_options():
    from ssd_isb.apps.demo import run_demo

    with pytest.raises(UsageError, match="choose one"):
        run_demo(None, "x.mp4", display=False, blur_background=True, replace_background="a.jpg")
    with pytest.raises(UsageError, match="--track and --smooth"):
        run_demo(None, "x.mp4", display=False, blur_background=True, track=True)


def test_predict_semantic_writes_masks(tmp_path):
    from ssd_isb.apps.semantic_predict import predict_semantic

    samples = os.path.join(ROOT, "ssd_isb", "samples")
    s = predict_semantic(None, samples, str(tmp_path / "p"), threads=2)
    assert s["images"] == 4 and s["person_source"] == "InstanceUnion"
    results = json.load(open(s["results"]))
    assert all(0 < r["person_fraction"] < 1 and r["segmentation"]["counts"] for r in results)
    mask = cv2.imread(s["masks"][0], cv2.IMREAD_GRAYSCALE)
    assert set(np.unique(mask)) <= {0, 255}
    with pytest.raises(UsageError, match="demo --source VIDEO --blur-background"):
        predict_semantic(None, need(os.path.join(DATA, "videos", "pedestrians_480x360.avi")),
                         str(tmp_path / "v"))
