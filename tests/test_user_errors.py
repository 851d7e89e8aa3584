"""Bad input as a user gives it: one line naming the problem, exit 2, no traceback, and nothing
lost (issue 15). Runs the real command in-process on real files."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import BLOCK_TF, DATA, ROOT, need
from ssd_isb.cli import main

SAMPLES = os.path.join(ROOT, "ssd_isb", "samples")
PHOTO = os.path.join(SAMPLES, "000000000885.jpg")


def _coco(tmp_path, segmentation, size=(427, 640), **fields):
    """A one-image COCO file whose only person has ``segmentation`` (and ``fields``)."""
    path = tmp_path / "ann.json"
    path.write_text(json.dumps({
        "images": [{"id": 885, "file_name": "000000000885.jpg", "height": size[0],
                    "width": size[1]}],
        "annotations": [{"id": 7, "image_id": 885, "category_id": 1, "iscrowd": 0,
                         "bbox": [10, 10, 50, 100], "area": 5000.0,
                         "segmentation": segmentation, **fields}],
        "categories": [{"id": 1, "name": "person"}]}))
    return str(path)


def _bad_config(tmp_path):
    import yaml

    cfg = yaml.safe_load(open(os.path.join(ROOT, "configs", "embedded_multi_shape.yaml")))
    cfg["data"] = {"train": [{"name": "x", "annotations": str(tmp_path / "missing.json"),
                              "images": str(tmp_path)}]}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


CASES = {
    "benchmark runs 0": (["benchmark", "--runs", "0"], "--runs 0: must be >= 1"),
    "benchmark threads 0": (["benchmark", "--threads", "0", "--runs", "1"],
                            "--threads 0: must be between 1 and 256"),
    "benchmark threads 100000": (["benchmark", "--threads", "100000", "--runs", "1"],
                                 "--threads 100000: must be between 1 and 256"),
    "predict score nan": (["predict", "--source", PHOTO, "--score-threshold", "nan",
                           "--output", "{tmp}/p"], "--score-threshold nan: must be a number"),
    "evaluate max images 0": (["evaluate", "--annotations", "{tmp}/empty.json", "--images",
                               SAMPLES, "--max-images", "0", "--output", "{tmp}/r.json"],
                              "--max-images 0: must be >= 1"),
    "evaluate max images -1": (["evaluate", "--annotations", "{tmp}/empty.json", "--images",
                                SAMPLES, "--max-images", "-1", "--output", "{tmp}/r.json"],
                               "--max-images -1: must be >= 1"),
    "evaluate holdout every 0": (["evaluate", "--annotations", "{tmp}/empty.json", "--images",
                                  SAMPLES, "--split", "val", "--holdout-every", "0",
                                  "--output", "{tmp}/r.json"], "--holdout-every 0: must be >= 1"),
    "benchmark missing images": (["benchmark", "--images", "{tmp}/nowhere"],
                                 "nowhere: no such folder"),
    "predict score 1.5": (["predict", "--source", PHOTO, "--score-threshold", "1.5",
                           "--output", "{tmp}/p"], "--score-threshold 1.5: must be between"),
    "predict max frames 0": (["predict", "--source", PHOTO, "--max-frames", "0",
                              "--output", "{tmp}/p"], "--max-frames 0: must be >= 1"),
    "predict output under a file": (["predict", "--source", PHOTO, "--output",
                                     "{tmp}/afile/out"], "cannot write here"),
    "evaluate compare missing report": (["evaluate", "--compare", "{tmp}/none.json"],
                                        "none.json: no such report"),
    "evaluate compare not a report": (["evaluate", "--compare", "{tmp}/empty.json"],
                                      "empty.json: not an ssd-isb evaluate report"),
    "evaluate compare not json": (["evaluate", "--compare", "{tmp}/afile"],
                                  "afile: not a JSON report"),
    "predict unreadable image": (["predict", "--source", "{tmp}/afile.jpg", "--output",
                                  "{tmp}/p"], "afile.jpg: not a readable image"),
    "predict missing source": (["predict", "--source", "{tmp}/none.jpg", "--output", "{tmp}/p"],
                               "none.jpg: no such image, folder or video"),
    "demo max frames 0": (["demo", "--source", SAMPLES, "--no-display", "--max-frames", "0"],
                          "--max-frames 0: must be >= 1"),
    "demo bad video type": (["demo", "--source", SAMPLES, "--no-display", "--output",
                             "{tmp}/out.mkv"], "use .mp4 or .avi"),
    "demo output under a file": (["demo", "--source", SAMPLES, "--no-display", "--output",
                                  "{tmp}/afile/out.mp4"], "afile: is a file, not a folder"),
    "stats input size 300": (["stats", "--annotations", "{tmp}/empty.json", "--input-size",
                              "300"], "--input-size 300: must be a positive multiple of 32"),
    "stats input size 0": (["stats", "--annotations", "{tmp}/empty.json", "--input-size", "0"],
                           "must be a positive multiple of 32"),
    "stats empty set": (["stats", "--annotations", "{tmp}/empty.json"], "no person boxes"),
    "evaluate empty segmentation": ("segmentation:[]", "empty segmentation list"),
    "evaluate 4-number polygon": ("segmentation:[[1,2,3,4]]", "got 4"),
    "evaluate RLE of another size": ("segmentation:rle", "RLE size [100, 100] is not its "
                                     "image's [427, 640]"),
    "evaluate RLE counts short": ("segmentation:rle-short", "RLE counts cover 30 pixels, not "
                                  "its image's 427 x 640"),
    "evaluate RLE string short": ("segmentation:rle-string", "RLE counts cover 10000 pixels"),
    "evaluate image size differs": ("segmentation:size", "000000000885.jpg: the image is 640 x "
                                    "427 but"),
    "evaluate unknown category": ("segmentation:category", "category_id 3 is not in "
                                  "'categories'"),
    "evaluate negative bbox": ("segmentation:bbox", "with a non-negative width and height"),
    "train missing annotations": (["train", "--config", "{bad_config}", "--workdir",
                                   "{tmp}/run"], "missing.json: no such annotation file"),
    "export missing weights": (["export", "--weights", "{tmp}/none.keras", "--format",
                                "tflite", "--output", "{tmp}/m.tflite"],
                               "none.keras: no such weights file"),
    "predict output is a file": (["predict", "--source", PHOTO, "--output", "{tmp}/afile"],
                                 "afile: is a file, not a folder"),
    "evaluate output is a folder": (["evaluate", "--annotations", "{tmp}/empty.json",
                                     "--images", SAMPLES, "--output", "{tmp}"],
                                    "is a folder, give a file name"),
    "evaluate plots at a file": (["evaluate", "--annotations", "{tmp}/empty.json", "--images",
                                  SAMPLES, "--output", "{tmp}/r.json", "--plots", "{tmp}/afile"],
                                 "afile: is a file, not a folder"),
    "evaluate output unwritable": (["evaluate", "--annotations", "{tmp}/empty.json",
                                    "--images", SAMPLES, "--output", "/proc/ssd-isb/e.json"],
                                   "--output /proc/ssd-isb: cannot write here"),
    "benchmark output is a folder": (["benchmark", "--runs", "1", "--output", "{tmp}"],
                                     "is a folder, give a file name"),
    "benchmark output unwritable": (["benchmark", "--runs", "1", "--output",
                                     "/proc/ssd-isb/b.json"], "cannot write here"),
    "demo summary is a folder": (["demo", "--source", SAMPLES, "--no-display", "--summary",
                                  "{tmp}"], "--summary"),
    "train init missing": (["train", "--config", "embedded_multi_shape", "--init",
                            "{tmp}/nope.weights.h5", "--workdir", "{tmp}/run"],
                           "--init {tmp}/nope.weights.h5: no such file"),
    "train init tflite": (["train", "--config", "embedded_multi_shape", "--init",
                           "{tmp}/fake.tflite", "--workdir", "{tmp}/run"],
                          "convert it with ssd-isb import-weights first"),
    "train init not hdf5": (["train", "--config", "embedded_multi_shape", "--init",
                             "{tmp}/afile.weights.h5", "--workdir", "{tmp}/run"],
                            "afile.weights.h5: not a HDF5 file"),
    "evaluate images as strings": ("coco:images-strings", "images[0] must be an object"),
    "evaluate bbox a string": ("coco:bbox-string", "'bbox' must be [x, y, width, height]"),
    "evaluate no bbox": ("coco:no-bbox", "'bbox' must be [x, y, width, height], got None"),
    "predict image id not a number": ("coco:id-abc", "'id' must be a number, got 'abc'"),
    "predict annotations a folder": (["predict", "--source", PHOTO, "--annotations", "{tmp}",
                                      "--output", "{tmp}/p"], "is a folder, not a COCO"),
    "stats bbox a string": ("coco:stats-bbox", "'bbox' must be [x, y, width, height]"),
    "predict a shipped keras not installed": (["predict", "--model",
                                               "{tmp}/ssd_isb_multi_shape.keras", "--source",
                                               PHOTO, "--output", "{tmp}/p"],
                                              "ssd_isb_multi_shape.keras is in ssd_isb/zoo/ in "
                                              "a clone of the ssd-isb repository"),
    "recipe detector_from missing": (["train", "--config", "ssd_isb_single_branch",
                                      "--workdir", "{tmp}/run"],
                                     "detector_from: runs/ssd_isb_multi_shape: no such model"),
    "train workdir is a file": (["train", "--config", "embedded_multi_shape", "--workdir",
                                 "{tmp}/afile"], "afile: is a file, not a folder"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_is_one_line_and_exit_2(case, tmp_path, capsys):
    args, message = CASES[case]
    (tmp_path / "afile").write_text("x")
    (tmp_path / "afile.jpg").write_text("not a jpeg")
    (tmp_path / "afile.weights.h5").write_text("not hdf5")
    (tmp_path / "empty.json").write_text(json.dumps({"images": [], "annotations": []}))
    if isinstance(args, str) and args.startswith("coco:"):  # a malformed COCO json
        kind = args.split(":", 1)[1]
        data = json.loads(open(_coco(tmp_path, [[10, 10, 60, 10, 60, 110, 10, 110]])).read())
        if kind == "images-strings":
            data["images"] = ["000000000885.jpg"]
        elif kind in ("bbox-string", "stats-bbox"):
            data["annotations"][0]["bbox"] = "10,10,50,100"
        elif kind == "no-bbox":
            del data["annotations"][0]["bbox"]
        elif kind == "id-abc":
            data["images"][0]["id"] = "abc"
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(data))
        args = {"stats-bbox": ["stats", "--annotations", str(path)],
                "id-abc": ["predict", "--source", PHOTO, "--annotations", str(path),
                           "--output", "{tmp}/p"]}.get(
            kind, ["evaluate", "--annotations", str(path), "--images", SAMPLES])
    if isinstance(args, str):  # an evaluation with a broken ground truth
        need(os.path.join(DATA, "coco_person_val2017"))
        pytest.importorskip("pycocotools")
        from pycocotools import mask as mask_utils

        kind = args.split(":", 1)[1]
        poly = [[10, 10, 60, 10, 60, 110, 10, 110]]
        small = mask_utils.encode(np.asfortranarray(np.ones((100, 100), np.uint8)))
        seg, size, fields = {
            "[]": ([], (427, 640), {}), "[[1,2,3,4]]": ([[1, 2, 3, 4]], (427, 640), {}),
            "rle": ({"size": [100, 100], "counts": "PPaa1"}, (427, 640), {}),
            "rle-short": ({"size": [427, 640], "counts": [10, 20]}, (427, 640), {}),
            "rle-string": ({"size": [427, 640], "counts": small["counts"].decode()},
                           (427, 640), {}),
            "size": (poly, (400, 600), {}),
            "category": (poly, (427, 640), {"category_id": 3}),
            "bbox": (poly, (427, 640), {"bbox": [10, 10, -5, 100]}),
        }[kind]
        args = ["evaluate", "--annotations", _coco(tmp_path, seg, size, **fields), "--images",
                SAMPLES, "--output", "{tmp}/r.json"]
    if case.startswith("recipe") and os.path.exists(os.path.join(ROOT, "runs",
                                                                 "ssd_isb_multi_shape")):
        pytest.skip("runs/ssd_isb_multi_shape exists here: the recipe would train")
    if "{bad_config}" in args:
        pytest.importorskip("tensorflow")
    args = [a.format(tmp=tmp_path, bad_config=_bad_config(tmp_path) if "{bad_config}" in a
                     else "") for a in args]
    message = message.replace("{tmp}", str(tmp_path))
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"ssd-isb {args[0]}: error: ") and message in err, err
    assert "\n" not in err and "Traceback" not in err
    if args[0] == "predict":  # a failed run leaves no empty output folder
        assert not (tmp_path / "p").exists()


def _interrupted(args, tmp_path, wait_for, sig=None):
    """Run ``ssd-isb ARGS`` on a folder of 40 photos; send ``sig`` (Ctrl-C's SIGINT by
    default) once ``wait_for()`` holds."""
    import signal
    import shutil
    import time

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(40):
        shutil.copy(PHOTO, folder / f"{i:03d}.jpg")
    proc = subprocess.Popen([sys.executable, "-m", "ssd_isb", *args, "--source", str(folder)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not wait_for() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT if sig is None else sig)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


STOPS = [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "terminated")]


@pytest.mark.parametrize("sig,code,word", STOPS)
def test_a_stopped_predict_keeps_what_was_done(tmp_path, sig, code, word):
    """Ctrl-C and SIGTERM (systemd, Docker, a robot's supervisor) alike: results.json holds
    every image done, the summary says how far it got, exit 128 + the signal."""
    import re
    import signal

    out_dir = tmp_path / "p"

    def overlays():
        return [f for f in os.listdir(out_dir) if f.endswith("_overlay.jpg")] \
            if out_dir.exists() else []

    got, out, err = _interrupted(["predict", "--output", str(out_dir)], tmp_path,
                                 lambda: len(overlays()) >= 3, getattr(signal, sig))
    assert got == code, err
    assert "Traceback" not in err, err
    results = json.load(open(out_dir / "results.json"))
    assert 3 <= len(overlays()) < 40
    # every image with an overlay has its results (the photo holds people)
    assert {r["file_name"] for r in results} >= {f.replace("_overlay", "") for f in overlays()}
    # The signal may land between an image's results and its overlay.
    done = int(re.search(rf"{word} after (\d+) of 40 images", out).group(1))
    assert len(overlays()) <= done <= len(overlays()) + 1, out
    # The streamed log holds the same images: --resume continues from it.
    assert (out_dir / "results.jsonl").exists()
    folder = tmp_path / "many"
    assert main(["predict", "--source", str(folder), "--output", str(out_dir), "--resume",
                 "--no-overlays", "--tiles", "off", "--zoom", "off"]) == 0
    final = json.load(open(out_dir / "results.json"))
    assert len({r["file_name"] for r in final}) == 40
    assert not (out_dir / "results.jsonl").exists()  # complete: results.json holds it all


@pytest.mark.parametrize("sig,code,word", STOPS)
def test_a_stopped_headless_demo_ends_with_its_summary_and_a_whole_video(tmp_path, sig, code,
                                                                        word):
    import signal
    import time

    video = tmp_path / "d.mp4"
    summary = tmp_path / "s.json"
    started = []

    def recording():  # an .mp4 grows only at its end: wait a second after its first frame
        if video.exists() and not started:
            started.append(time.time())
        return bool(started) and time.time() > started[0] + 1.0

    got, out, err = _interrupted(["demo", "--no-display", "--output", str(video),
                                  "--summary", str(summary)], tmp_path, recording,
                                 getattr(signal, sig))
    assert got == code and "Traceback" not in err, err
    s = json.load(open(summary))
    assert s["ended_by"] == word and 0 < s["frames"] < 40
    assert f"ended: {word}" in out
    cap = cv2.VideoCapture(str(video))  # the .mp4 got its index: it opens and plays
    assert cap.isOpened() and cap.read()[0]
    cap.release()


def test_evaluate_prints_its_table_without_output(capsys):
    need(os.path.join(DATA, "coco_person_val2017"))
    pytest.importorskip("pycocotools")
    assert main(["evaluate", "--annotations", os.path.join(DATA, "coco_person_val2017",
                                                           "annotations.json"),
                 "--images", os.path.join(DATA, "coco_person_val2017", "images"),
                 "--max-images", "2"]) == 0
    out = capsys.readouterr().out
    assert "segm:" in out and "bbox:" in out and "->" not in out


def test_headless_opencv_says_what_to_do(capsys):
    from ssd_isb.apps.demo import has_gui

    if has_gui():
        pytest.skip("this OpenCV has window support")
    assert main(["demo", "--source", "0"]) == 2
    err = capsys.readouterr().err
    assert "use --no-display, or pip install opencv-python" in err


@pytest.mark.parametrize("blocked, model, message", [
    ("pycocotools", None, "pip install 'ssd-isb[eval]'"),
    ("tensorflow", "ssd_isb/zoo/ssd_isb_multi_shape.keras", "pip install 'ssd-isb[train]'"),
])
def test_missing_extra_names_it(blocked, model, message, tmp_path):
    need(os.path.join(DATA, "coco_person_val2017"))
    block = BLOCK_TF.replace("('tensorflow', 'keras', 'tf2onnx')", f"({blocked!r},)")
    args = ["evaluate", "--annotations", os.path.join(DATA, "coco_person_val2017",
                                                      "annotations.json"),
            "--images", SAMPLES, "--output", str(tmp_path / "r.json")]
    if model:
        args = ["predict", "--model", os.path.join(ROOT, model), "--source", PHOTO,
                "--output", str(tmp_path / "p")]
    code = block + f"from ssd_isb.cli import main\nsys.exit(main({args!r}))"
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True)
    assert res.returncode == 2, res.stderr[-1000:]
    assert message in res.stderr and "Traceback" not in res.stderr, res.stderr


ZOO_KERAS = os.path.join(ROOT, "ssd_isb", "zoo", "ssd_isb_multi_shape.keras")
EXTRAS = "('tensorflow', 'keras', 'tf2onnx', 'onnx', 'onnxruntime', 'pycocotools', 'mediapipe')"
BASE_INSTALL = {  # issue 27: each was a ModuleNotFoundError traceback from a base install
    "info": ["info", "--config", "configs/embedded_multi_shape.yaml"],
    "train": ["train", "--config", "configs/embedded_multi_shape.yaml", "--workdir", "{tmp}/w"],
    "export onnx": ["export", "--weights", ZOO_KERAS, "--format", "onnx", "--output",
                    "{tmp}/m.onnx"],
    "import-weights": ["import-weights", "--source", os.path.join(
        DATA, "..", "pretrained", "ssd_mobilenet_v1_0.75_coco_quant", "detect.tflite"),
        "--config", "configs/embedded_multi_shape.yaml", "--output", "{tmp}/d.weights.h5"],
    "calibrate-boxes": ["calibrate-boxes", "--weights", ZOO_KERAS, "--output",
                        "{tmp}/c.keras"],
    "transplant-detector": ["transplant-detector", "--detector", ZOO_KERAS, "--branches",
                            ZOO_KERAS, "--output", "{tmp}/t.keras"],
    "convert-dataset": ["convert-dataset", "--masks", os.path.join(DATA, "pennfudan",
                                                                   "PedMasks"),
                        "--images", os.path.join(DATA, "pennfudan", "Images"), "--output",
                        "{tmp}/p.json"],
}


@pytest.mark.parametrize("case", list(BASE_INSTALL), ids=list(BASE_INSTALL))
def test_base_install_commands_name_their_extra(case, tmp_path):
    """With every extra hidden, a command that needs one says which, in one line, exit 2."""
    args = [a.format(tmp=tmp_path) for a in BASE_INSTALL[case]]
    block = BLOCK_TF.replace("('tensorflow', 'keras', 'tf2onnx')", EXTRAS)
    code = block + f"from ssd_isb.cli import main\nsys.exit(main({args!r}))"
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True)
    err = res.stderr.strip()
    assert res.returncode == 2, err[-1000:]
    assert "Traceback" not in err and "\n" not in err, err
    assert err.startswith(f"ssd-isb {args[0]}: error: ") and "pip install 'ssd-isb[" in err, err


def test_nothing_is_lost_in_a_folder(tmp_path, capsys):
    """a.jpg and a.png both get overlays; a second run gets its own folder; every result
    carries an image_id, numeric names or not."""
    folder = tmp_path / "in"
    folder.mkdir()
    image = cv2.imread(PHOTO)
    cv2.imwrite(str(folder / "a.jpg"), image)
    cv2.imwrite(str(folder / "a.png"), image)
    cv2.imwrite(str(folder / "000000000885.jpg"), image)
    out = str(tmp_path / "predictions")
    assert main(["predict", "--source", str(folder), "--output", out]) == 0
    assert sorted(os.listdir(out)) == ["000000000885_overlay.jpg", "a_overlay.jpg",
                                       "a_overlay.png", "results.json"]
    results = json.load(open(os.path.join(out, "results.json")))
    ids = {r["file_name"]: r["image_id"] for r in results}
    assert ids["000000000885.jpg"] == 885 and len(set(ids.values())) == 3
    assert all(isinstance(r["image_id"], int) for r in results)
    assert main(["predict", "--source", str(folder / "a.jpg"), "--output", out]) == 0
    assert os.path.exists(str(tmp_path / "predictions-2" / "results.json"))
    assert len(json.load(open(os.path.join(out, "results.json")))) == len(results)
    assert main(["predict", "--source", str(folder / "a.jpg"), "--output", out,
                 "--exist-ok"]) == 0
    assert not os.path.exists(str(tmp_path / "predictions-3"))


def test_demo_writes_every_frame_of_a_folder_of_sizes(tmp_path):
    """Images of different sizes all reach the video (OpenCV drops frames of another size)."""
    folder = tmp_path / "frames"
    folder.mkdir()
    image = cv2.imread(PHOTO)
    for i, size in enumerate([(640, 427), (320, 240), (500, 500), (640, 427), (200, 300),
                              (700, 400)]):
        cv2.imwrite(str(folder / f"{i}.jpg"), cv2.resize(image, size))
    out = str(tmp_path / "demo.avi")
    assert main(["demo", "--source", str(folder), "--no-display", "--output", out]) == 0
    video = cv2.VideoCapture(out)
    frames = 0
    while video.read()[0]:
        frames += 1
    assert frames == 6


def test_quiet_by_default(tmp_path):
    """No TensorFlow, XLA or LiteRT lines unless --verbose."""
    def run(*extra):
        return subprocess.run([sys.executable, "-m", "ssd_isb", "predict", "--source", PHOTO,
                               "--output", str(tmp_path / "p"), "--exist-ok", *extra],
                              cwd=ROOT, capture_output=True, text=True)

    quiet, loud = run(), run("--verbose")
    assert quiet.returncode == loud.returncode == 0
    assert quiet.stderr.strip() == "", quiet.stderr
    assert "XNNPACK" in loud.stderr


def test_python_api_is_quiet_too():
    """A Python session is not greeted by LiteRT's XNNPACK line; SSD_ISB_VERBOSE=1 shows it."""
    code = ("import cv2\nfrom ssd_isb.runtime import Segmenter\n"
            f"print(len(Segmenter(threads=2)(cv2.imread({PHOTO!r}))))")

    def run(**env):
        return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                              text=True, env={**os.environ, **env})

    quiet, loud = run(), run(SSD_ISB_VERBOSE="1")
    assert quiet.returncode == loud.returncode == 0, quiet.stderr
    assert int(quiet.stdout) > 0 and quiet.stdout == loud.stdout
    assert "XNNPACK" not in quiet.stderr and "XNNPACK" in loud.stderr, (quiet.stderr, loud.stderr)


def test_help_shows_defaults_and_required_and_version(capsys):
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    out = capsys.readouterr().out
    assert "--source SOURCE" in out and "(required)" in out and "(default: 0.5)" in out
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("ssd-isb ")


def test_labels_do_not_overlap_in_a_crowd():
    from ssd_isb.runtime.draw import label_places

    boxes = np.array([[100 + 3 * i, 100, 160 + 3 * i, 300] for i in range(8)], np.float32)
    places = label_places(boxes, ["person 0.99"] * 8, (480, 640))
    rects = [(x, y - 12, x + 80, y + 4) for p in places if p for x, y in [p]]
    assert places[0] is not None and len(rects) >= 2
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
