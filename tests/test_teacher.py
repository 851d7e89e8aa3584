"""The mask teacher: MediaPipe's real TFLite models inside human boxes, the fusion of their maps,
and the labeller that turns box-only COCO files into partially masked ones (resumable)."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import BLOCK_TF, DATA, ROOT, need
from ssd_isb.utils.errors import MissingExtraError, UsageError
from ssd_isb.teacher.fusion import RECIPES, fuse, mask_iou
from ssd_isb.teacher.mediapipe import crop_affine, model_files

VAL = os.path.join(DATA, "coco_person_val2017")


def _teacher():
    try:
        model_files()
    except MissingExtraError as err:  # CI installs it: .ci/run
        pytest.skip(str(err))
    from ssd_isb.teacher.mediapipe import MediaPipeTeacher

    return MediaPipeTeacher(threads=1)


@pytest.fixture(scope="module")
def teacher():
    return _teacher()


@pytest.fixture(scope="module")
def people():
    """Training-side coco_person_val2017 images with one large, fully annotated person."""
    from pycocotools import mask as mask_utils

    need(VAL)
    from ssd_isb.data.coco import is_holdout

    with open(os.path.join(VAL, "annotations.json")) as fh:
        data = json.load(fh)
    by = {}
    for a in data["annotations"]:
        by.setdefault(a["image_id"], []).append(a)
    out = []
    for im in sorted(data["images"], key=lambda i: i["id"]):
        anns = by.get(im["id"], [])
        if is_holdout(im["file_name"], 5) or len(anns) != 1 or anns[0].get("iscrowd"):
            continue
        a = anns[0]
        if not 150 ** 2 < a["area"] < 400 ** 2:
            continue
        rle = mask_utils.frPyObjects(a["segmentation"], im["height"], im["width"])
        mask = mask_utils.decode(mask_utils.merge(rle)).astype(bool)
        out.append((im, a, mask))
        if len(out) == 6:
            break
    return out


def test_model_files_missing_is_one_line_naming_the_extra(tmp_path):
    with pytest.raises(MissingExtraError, match=r"ssd-isb\[teacher\]") as err:
        model_files(str(tmp_path))
    assert "\n" not in str(err.value) and str(tmp_path) in str(err.value)


def test_crop_affine_maps_the_crop_square_onto_the_box():
    m = crop_affine(np.array([100.0, 50.0]), np.array([0.0, -1.0]), 64.0)
    corners = np.array([[0, 0], [256, 0], [0, 256], [256, 256]], np.float64)
    image = corners @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(image, [[68, 18], [132, 18], [68, 82], [132, 82]])
    # Up pointing right: the crop's top edge lies on the right of the centre.
    m = crop_affine(np.array([0.0, 0.0]), np.array([1.0, 0.0]), 2.0)
    top_centre = np.array([128.0, 0.0]) @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(top_centre, [1.0, 0.0], atol=1e-9)


def test_fuse_averages_and_measures_agreement():
    a = np.zeros((4, 4), np.float32)
    a[:, :2] = 0.9
    b = np.zeros((4, 4), np.float32)
    b[:, :3] = 0.9
    mask, conf = fuse({"pose": a, "selfie": b}, RECIPES["fusion"])
    assert conf == pytest.approx(mask_iou(a > 0.5, b > 0.5)) == pytest.approx(8 / 12)
    np.testing.assert_array_equal(mask, (a + b) / 2 > 0.5)
    assert fuse({"pose": a}, RECIPES["pose"])[1] == 1.0
    # A missing aligned crop falls back to the naive pose map.
    mask, _ = fuse({"pose": a, "pose_flip": a}, RECIPES["aligned+flip"])
    np.testing.assert_array_equal(mask, a > 0.5)
    with pytest.raises(KeyError):
        fuse({"selfie": b}, RECIPES["aligned"])


def test_teacher_draws_the_person_inside_a_human_box(teacher, people):
    """On real photos of one large person the teacher lands on the person (median IoU with the
    human mask above 0.75, above the filled box's), and where it is sure (its maps agree at
    0.8) it is right. Among these six is a pair of legs on a skateboard: there it is unsure."""
    assert len(people) == 6
    ious, confs, boxes = [], [], []
    for im, ann, human in people:
        rgb = cv2.imread(os.path.join(VAL, "images", im["file_name"]))[:, :, ::-1].copy()
        x, y, w, h = ann["bbox"]
        region, maps, info = teacher.variants(rgb, [x, y, x + w, y + h])
        g = human[region.y0:region.y1, region.x0:region.x1]
        assert set(maps) >= {"pose", "selfie", "pose_flip", "selfie_flip"}
        assert "aligned" in maps or not info["aligned"]
        mask, conf = fuse(maps, RECIPES["aligned+selfie+flip"])
        assert mask.shape == g.shape and 0 <= conf <= 1
        ious.append(mask_iou(mask, g))
        confs.append(conf)
        boxes.append(g.mean())
    ious, confs = np.array(ious), np.array(confs)
    assert np.median(ious) > max(0.75, np.median(boxes)), ious
    assert (ious[confs >= 0.8] > 0.7).all() and (confs >= 0.8).sum() >= 3, (ious, confs)
    assert confs[np.argmin(ious)] < 0.8


@pytest.fixture
def box_only_coco(tmp_path, people):
    """The people above as a box-only COCO file, plus one person with a human mask, one tiny
    box and a crowd box, over real images."""
    images, anns = [], []
    for k, (im, ann, _) in enumerate(people[:3]):
        images.append(im)
        anns.append({k2: v for k2, v in ann.items() if k2 != "segmentation"})
    first = people[0][0]
    anns.append({"id": 9001, "image_id": first["id"], "category_id": 1, "iscrowd": 0,
                 "bbox": [2, 2, 3, 4], "area": 12})  # too small to label
    human = dict(people[3][1])
    images.append(people[3][0])
    anns.append(human)
    anns.append({"id": 9002, "image_id": people[3][0]["id"], "category_id": 1, "iscrowd": 1,
                 "bbox": [0, 0, 50, 50], "area": 2500})
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": 1, "name": "person"}]}))
    return str(path), human


def test_labeller_writes_a_partial_dataset_that_trains(teacher, box_only_coco, tmp_path):
    from ssd_isb.config import from_dict
    from ssd_isb.data import load_coco
    from ssd_isb.data.examples import ExampleMaker
    from ssd_isb.teacher.labeller import TeacherSettings, label_dataset

    annotations, human = box_only_coco
    out = str(tmp_path / "labelled.json")
    counts = label_dataset(teacher, annotations, os.path.join(VAL, "images"), out,
                           TeacherSettings(min_confidence=0.0))
    assert counts.images == 4 and counts.human_masks == 1 and counts.crowds == 1
    assert counts.labelled == 3 and counts.too_small == 1 and counts.uncertain == 0
    assert not os.path.exists(out + ".partial.jsonl")
    data = json.load(open(out))
    by_id = {a["id"]: a for a in data["annotations"]}
    assert by_id[human["id"]]["segmentation"] == human["segmentation"]
    assert "segmentation" not in by_id[9001] and by_id[9002]["iscrowd"] == 1
    taught = [a for a in data["annotations"] if "mask_weight" in a]
    assert len(taught) == 3 and all(0 < a["mask_weight"] <= 1 for a in taught)
    assert data["info"]["settings"]["recipe"] == TeacherSettings().recipe

    records, report = load_coco(out, os.path.join(VAL, "images"), kind="partial")
    assert report.persons == 5 and report.box_only == 1 and report.crowd == 1
    cfg = from_dict({"model": {"input_size": 320, "depth_multiplier": 0.75},
                     "isb": {"variant": "multi_shape", "shapes": [[10, 5], [5, 3], [2, 1]]},
                     "data": {"max_boxes": 8}})
    ex = ExampleMaker(cfg, training=False).make(records[0])
    assert ex["gt_mask_weights"].max() > 0 and ex["gt_masks"].any()

    # A stricter cut turns the same people into box-only ones (the detector still has them).
    strict = str(tmp_path / "strict.json")
    counts = label_dataset(teacher, annotations, os.path.join(VAL, "images"), strict,
                           TeacherSettings(min_confidence=1.0))
    assert counts.labelled == 0 and counts.uncertain == 3


class Counting:
    """The real teacher, counting the boxes it is asked about."""

    def __init__(self, teacher):
        self.teacher, self.calls = teacher, 0

    def variants(self, *args, **kwargs):
        self.calls += 1
        return self.teacher.variants(*args, **kwargs)


def test_a_killed_labelling_resumes_without_redoing_images(teacher, box_only_coco, tmp_path):
    from ssd_isb.teacher.labeller import TeacherSettings, label_dataset

    annotations, _ = box_only_coco
    images = os.path.join(VAL, "images")
    settings = TeacherSettings(min_confidence=0.0)
    full = str(tmp_path / "full.json")
    label_dataset(teacher, annotations, images, full, settings)

    out = str(tmp_path / "resumed.json")
    once = Counting(teacher)

    class Killed(Exception):
        pass

    def stop_after_two(items, desc):
        for k, item in enumerate(items):
            if k == 2:
                raise Killed
            yield item

    with pytest.raises(Killed):
        label_dataset(once, annotations, images, out, settings, progress=stop_after_two)
    assert os.path.exists(out + ".partial.jsonl") and not os.path.exists(out)
    with open(out + ".partial.jsonl", "a") as fh:
        fh.write('{"image": 1, "annot')  # the kill tore the last line
    again = Counting(teacher)
    counts = label_dataset(again, annotations, images, out, settings)
    # Image 1 has two boxes (a person and a tiny one), image 2 one, image 3 one, image 4 none
    # to ask about (a human mask and a crowd): the first two images were not redone.
    assert once.calls == 3 and again.calls == 1
    assert counts.images == 4 and counts.labelled == 3
    a, b = json.load(open(full)), json.load(open(out))
    assert a["annotations"] == b["annotations"] and a["images"] == b["images"]


def test_pseudo_label_command_runs_without_tensorflow(box_only_coco, tmp_path):
    _teacher()
    annotations, _ = box_only_coco
    out = tmp_path / "cli.json"
    code = BLOCK_TF + f"""
from ssd_isb.cli import main
code = main(["pseudo-label", "--teacher", "mediapipe", "--annotations", {annotations!r},
             "--images", {os.path.join(VAL, "images")!r}, "--output", {str(out)!r},
             "--threads", "1"])
assert "tensorflow" not in sys.modules
sys.exit(code)
"""
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "teacher masks" in res.stdout and json.load(open(out))["annotations"]


@pytest.mark.parametrize("args, message", [
    (["--annotations", "nope.json", "--images", "."], "nope.json: no such annotation file"),
    (["--min-confidence", "1.5"], "--min-confidence"),
    (["--recipe", "aligned", "--crowd-nesting", "0"], "--crowd-nesting"),
])
def test_pseudo_label_bad_input_is_one_line(args, message, tmp_path, capsys):
    from ssd_isb.cli import main

    base = {"--annotations": os.path.join(VAL, "annotations.json"),
            "--images": os.path.join(VAL, "images"), "--output": str(tmp_path / "o.json")}
    for k in range(0, len(args), 2):
        base[args[k]] = args[k + 1]
    argv = ["pseudo-label"] + [x for kv in base.items() for x in kv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_labeller_refuses_a_folder_as_output(teacher, box_only_coco, tmp_path):
    from ssd_isb.teacher.labeller import TeacherSettings, label_dataset

    with pytest.raises(UsageError, match="is a folder"):
        label_dataset(teacher, box_only_coco[0], os.path.join(VAL, "images"), str(tmp_path),
                      TeacherSettings())


def test_runtime_never_imports_the_teacher():
    import ast

    for folder, _, files in os.walk(os.path.join(ROOT, "ssd_isb", "runtime")):
        for f in files:
            if not f.endswith(".py"):
                continue
            tree = ast.parse(open(os.path.join(folder, f), encoding="utf-8").read())
            for node in ast.walk(tree):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                    [a.name for a in node.names] if isinstance(node, ast.Import) else [])
                assert not any("teacher" in n or "mediapipe" in n for n in names), f
