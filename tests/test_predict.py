"""``ssd-isb predict`` and ``ssd-isb models`` with the shipped default model (TF-free)."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import BLOCK_TF, DATA, ROOT, need
from ssd_isb.cli import main
from ssd_isb.zoo import DEFAULT_MODEL, ZOO_DIR, default_model_path, shipped_models

CROWD = "000000001000.jpg"  # a dozen children on a tennis court, COCO image 1000
VIDEO = os.path.join(DATA, "videos", "pedestrians_480x360.avi")


def _gt(file_name):
    ann = need(os.path.join(DATA, "coco_person_val2017", "annotations.json"))
    with open(ann) as fh:
        data = json.load(fh)
    image = next(im for im in data["images"] if im["file_name"] == file_name)
    return image, [a for a in data["annotations"] if a["image_id"] == image["id"]]


def test_default_model_is_shipped_with_sidecar():
    path = default_model_path()
    assert os.path.basename(path) == DEFAULT_MODEL and os.path.getsize(path) > 1e6
    models = {m["file"]: m for m in shipped_models()}
    default = models[DEFAULT_MODEL]
    assert default["default"] and default["variant"] == "multi_shape"
    assert default["quantization"] == "int8" and default["input_size"] == [320, 320]
    # Every shipped TFLite file comes with measured dev-validation figures.
    for m in models.values():
        if m["task"] == "semantic":  # person IoU on the dev split
            assert m["metrics"] and m["metrics"]["semantic"]["person_iou"] > 0, m["file"]
        else:
            assert m["metrics"] and m["metrics"]["segm"]["AP50"] > 0, m["file"]


def test_predict_image_writes_overlay_and_coco_json(tmp_path, capsys):
    pytest.importorskip("pycocotools")
    from pycocotools import mask as mask_utils

    src = need(os.path.join(DATA, "coco_person_val2017", "images", CROWD))
    out = tmp_path / "pred"
    assert main(["predict", "--source", src, "--output", str(out), "--threads", "2"]) == 0
    assert "persons in 1 images" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert len(results) >= 5
    image = cv2.imread(src)
    h, w = image.shape[:2]
    info, anns = _gt(CROWD)
    gt = [mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(a["segmentation"], h, w)))
          .astype(bool) for a in anns if not a.get("iscrowd")]
    ious, masks = [], []
    for r in results:
        assert r["file_name"] == CROWD and r["image_id"] == info["id"] == 1000
        assert r["category_id"] == 1 and 0.5 <= r["score"] <= 1.0
        x, y, bw, bh = r["bbox"]
        assert 0 <= x and 0 <= y and x + bw <= w + 1 and y + bh <= h + 1
        mask = mask_utils.decode(r["segmentation"]).astype(bool)
        assert mask.shape == (h, w)
        ious.append(max((mask & g).sum() / (mask | g).sum() for g in gt))
        masks.append(mask)
    # The masks lie on the real people and cover most of them (a crowd of overlapping
    # children: per-instance IoU is modest for this int8 model, the union is not).
    predicted = np.any(masks, axis=0)
    people = np.any(gt, axis=0)
    assert (predicted & people).sum() / predicted.sum() > 0.7
    assert (predicted & people).sum() / people.sum() > 0.5
    assert np.median(ious) > 0.25, ious
    overlay = cv2.imread(str(out / "000000001000_overlay.jpg"))
    assert overlay.shape == image.shape
    changed = np.abs(overlay.astype(int) - image.astype(int)).sum(axis=2) > 90
    drawn = np.zeros((h, w), np.uint8)  # box outlines and the label strip above each box
    for r in results:
        x, y, bw, bh = (int(round(v)) for v in r["bbox"])
        cv2.rectangle(drawn, (x, y), (x + bw, y + bh), 1, 7)
        cv2.rectangle(drawn, (x, max(y - 18, 0)), (x + max(bw, 90), y), 1, -1)
    elsewhere = ~predicted & (drawn == 0)
    # The overlay is coloured where the masks are, and nowhere else but the boxes and labels
    # (JPEG noise aside).
    assert changed[predicted].mean() > 0.5 and changed[elsewhere].mean() < 0.05, (
        changed[predicted].mean(), changed[elsewhere].mean())


def test_predict_folder_skips_corrupt_images(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("FudanPed00001.jpg", "FudanPed00002.jpg"):
        src = need(os.path.join(DATA, "pennfudan", "Images", name))
        cv2.imwrite(str(folder / name), cv2.imread(src))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    out = tmp_path / "out"
    assert main(["predict", "--source", str(folder), "--output", str(out)]) == 0
    printed = capsys.readouterr()
    assert "persons in 2 images, 1 unreadable skipped" in printed.out
    results = json.loads((out / "results.json").read_text())
    assert {r["file_name"] for r in results} == {"FudanPed00001.jpg", "FudanPed00002.jpg"}
    # Not COCO file names and no annotations: a running number, so they are valid COCO results.
    assert {r["image_id"] for r in results} == {1, 2}
    assert sorted(os.listdir(out)) == ["FudanPed00001_overlay.jpg", "FudanPed00002_overlay.jpg",
                                       "results.json"]


def test_predict_video_writes_annotated_video(tmp_path, capsys):
    need(VIDEO)
    out = tmp_path / "v"
    assert main(["predict", "--source", VIDEO, "--output", str(out), "--max-frames", "12"]) == 0
    assert "in 12 frames" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results and {r["frame"] for r in results} <= set(range(12))
    cap = cv2.VideoCapture(str(out / "pedestrians_480x360_annotated.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) \
        == (480, 360)
    cap.release()


def test_predict_track_on_a_video_and_a_frame_folder(tmp_path, capsys):
    """--track: every result carries its person's track_id, the tracks are written per frame
    (tracks.jsonl, tracks_mot.txt), and the overlay labels people by ID; a folder of frames
    is a sequence too, and one image is refused before any work."""
    need(VIDEO)
    out = tmp_path / "v"
    assert main(["predict", "--source", VIDEO, "--output", str(out), "--max-frames", "20",
                 "--track", "--no-overlays"]) == 0
    said = capsys.readouterr().out
    assert "track IDs ->" in said and "tracks.jsonl" in said
    results = json.loads((out / "results.json").read_text())
    lines = [json.loads(x) for x in open(out / "tracks.jsonl")]
    assert results and all("track_id" in r for r in results)
    assert sorted((r["frame"], r["track_id"]) for r in results) == \
        sorted((e["frame"], e["track_id"]) for e in lines)
    mot = open(out / "tracks_mot.txt").read().split()
    assert len(mot) == len(lines) and mot[0].startswith("1,")
    # the same people keep their IDs: most IDs live for many of the 20 frames
    lives = {}
    for e in lines:
        lives[e["track_id"]] = lives.get(e["track_id"], 0) + 1
    assert max(lives.values()) >= 15

    frames = tmp_path / "frames"
    frames.mkdir()
    cap = cv2.VideoCapture(VIDEO)
    for i in range(8):
        cv2.imwrite(str(frames / f"{i:04d}.jpg"), cap.read()[1])
    assert main(["predict", "--source", str(frames), "--output", str(tmp_path / "f"),
                 "--track"]) == 0
    capsys.readouterr()
    lines = [json.loads(x) for x in open(tmp_path / "f" / "tracks.jsonl")]
    assert {e["frame"] for e in lines} <= set(range(8)) and len({e["frame"] for e in lines}) > 4

    one = os.path.join(DATA, "pennfudan", "Images", "FudanPed00001.jpg")
    assert main(["predict", "--source", need(one), "--output", str(tmp_path / "o"),
                 "--track"]) == 2
    assert "one image has no frames to track" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_predict_errors(tmp_path, capsys):
    assert main(["predict", "--source", str(tmp_path / "none.jpg"), "--output",
                 str(tmp_path)]) == 2
    assert "none.jpg: no such image, folder or video" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["predict", "--source", str(tmp_path / "empty"), "--output",
                 str(tmp_path / "o")]) == 2
    assert "no image files" in capsys.readouterr().err


def test_models_lists_the_zoo(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert DEFAULT_MODEL + " *" in out and "multi_shape" in out
    assert main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {m["file"] for m in listed} == {f for f in os.listdir(ZOO_DIR)
                                           if f.endswith((".tflite", ".onnx", ".keras"))}


def test_models_into_a_closed_pipe_is_quiet():
    """`ssd-isb models | head -1`: the reader leaves early (here before a line is written:
    `true` reads nothing); no BrokenPipeError traceback."""
    import subprocess
    import sys

    r = subprocess.run(f"{sys.executable} -m ssd_isb models | true", shell=True,
                       capture_output=True, text=True, timeout=120)
    assert r.stderr == "", r.stderr


def test_predict_runs_without_tensorflow(tmp_path):
    src = need(os.path.join(DATA, "coco_person_val2017", "images", CROWD))
    code = BLOCK_TF + f"""
from ssd_isb.cli import main
assert main(["predict", "--source", {src!r}, "--output", {str(tmp_path)!r}]) == 0
assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules
"""
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (tmp_path / "results.json").exists()


def test_overlays_keep_every_extension():
    from ssd_isb.apps.predict import overlay_name

    names = ["a.jpg", "a.webp", "a.tif", "a.TIFF", "a.png", "a.bmp", "a.jpeg"]
    assert len({overlay_name(n) for n in names}) == len(names)
    assert overlay_name("a.webp") == "a_overlay.webp" and overlay_name("a.gif") == "a_overlay.jpg"
