"""``ssd-isb evaluate`` end to end: real images, a real (imported) model, every error path."""

import json
import os
import shutil

import pytest

tf = pytest.importorskip("tensorflow")

from conftest import DATA, ZOO_TFLITE, need  # noqa: E402
from ssd_isb.cli import main  # noqa: E402

COCO = os.path.join(DATA, "coco_person_val2017")


@pytest.fixture(scope="module")
def zoo_model(tmp_path_factory):
    need(ZOO_TFLITE)
    path = str(tmp_path_factory.mktemp("zoo") / "zoo_person.keras")
    assert main(["import-weights", "--source", ZOO_TFLITE, "--config", "embedded_multi_shape",
                 "--output", path]) == 0
    return path


@pytest.fixture(scope="module")
def subset(tmp_path_factory):
    """The first 12 images of coco_person_val2017, with one listed image missing on disk."""
    need(COCO)
    with open(os.path.join(COCO, "annotations.json")) as fh:
        data = json.load(fh)
    images = sorted(data["images"], key=lambda im: im["id"])[:12]
    root = tmp_path_factory.mktemp("subset")
    (root / "images").mkdir()
    for im in images[:11]:  # the 12th stays missing
        shutil.copy(os.path.join(COCO, "images", im["file_name"]), root / "images")
    ids = {im["id"] for im in images}
    data = {"images": images, "annotations": [a for a in data["annotations"]
                                              if a["image_id"] in ids],
            "categories": data["categories"]}
    (root / "ann.json").write_text(json.dumps(data))
    return {"ann": str(root / "ann.json"), "images": str(root / "images"),
            "missing": images[11]["file_name"]}


def test_box_masks_report_end_to_end(zoo_model, subset, tmp_path, capsys):
    out = tmp_path / "box.json"
    assert main(["evaluate", "--model", zoo_model, "--annotations", subset["ann"], "--images",
                 subset["images"], "--box-masks", "--output", str(out),
                 "--plots", str(tmp_path / "plots"), "--num-overlays", "2"]) == 0
    printed = capsys.readouterr().out
    assert "| AP(0.50) | AP(small) |" in printed and "skipped 1 missing" in printed
    rep = json.loads(out.read_text())
    assert rep["images"] == 11 and rep["missing_images"] == [subset["missing"]]
    assert rep["backend"] == "keras" and rep["box_masks"] is True
    for key in ("AP", "AP50", "AP75", "AP50_small", "AP50_medium", "AP50_large", "AR1_50",
                "AR10_50", "AR100_50", "AR50_small", "AR50_medium", "AR50_large"):
        assert key in rep["segm"] and key in rep["bbox"]
    assert rep["bbox"]["AP50"] > 30  # the imported COCO detector finds the people
    assert 0 < rep["segm"]["AP50"] < rep["bbox"]["AP50"]  # boxes are poor masks
    plots = rep["plots"]
    assert plots[0].endswith("pr_curve.png") and os.path.getsize(plots[0]) > 1000
    assert sum("worst_" in p for p in plots) == 2 and sum("best_" in p for p in plots) == 2


def test_compare_prints_one_table(zoo_model, subset, tmp_path, capsys):
    reports = []
    for flag in ([], ["--box-masks"]):
        path = tmp_path / f"r{len(reports)}.json"
        assert main(["evaluate", "--model", zoo_model, "--annotations", subset["ann"],
                     "--images", subset["images"], "--max-images", "4", "--output", str(path),
                     *flag]) == 0
        reports.append(str(path))
    capsys.readouterr()
    assert main(["evaluate", "--compare", *reports]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and lines[1].startswith("|---")
    assert "box-masks" in lines[3] and "box-masks" not in lines[2]
    assert "r0.json" in lines[2] and "r1.json" in lines[3]  # rows say which report


def test_errors_are_one_line(zoo_model, subset, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"foo": []}))
    assert main(["evaluate", "--model", zoo_model, "--annotations", str(bad), "--images",
                 subset["images"], "--output", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "bad.json: not a COCO annotation file" in err and err.count("\n") == 1
    assert main(["evaluate", "--model", zoo_model, "--annotations", subset["ann"], "--images",
                 str(tmp_path), "--output", str(tmp_path / "x.json")]) == 2
    assert "none of the 12 images" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(tmp_path / "nope.keras"), "--annotations",
                 subset["ann"], "--images", subset["images"],
                 "--output", str(tmp_path / "x.json")]) == 2
    assert "no such model file" in capsys.readouterr().err


def test_model_without_person_is_refused(subset, tmp_path, capsys):
    from ssd_isb.config import from_dict
    from ssd_isb.model import build_model, save_model

    cfg = from_dict({"model": {"input_size": 320, "depth_multiplier": 0.5,
                               "class_names": ["car"]},
                     "isb": {"variant": "single_branch", "shapes": [[5, 5]], "pool": 2,
                             "boxes_per_branch": 5},
                     "postprocess": {"max_detections": 5, "pre_nms_top_k": 20}})
    path = save_model(build_model(cfg).inference_model, str(tmp_path / "car.keras"), cfg)
    assert main(["evaluate", "--model", path, "--annotations", subset["ann"], "--images",
                 subset["images"], "--output", str(tmp_path / "x.json")]) == 2
    assert "do not include person" in capsys.readouterr().err


def test_box_only_annotations_score_boxes_and_mark_nested_crowds(tmp_path, capsys):
    """coco_train_person_boxes has no masks: evaluate scores bbox only, and with
    --crowd-nesting the boxes drawn around crowds become ignored crowd regions."""
    from ssd_isb.evaluation.evaluate import mark_nested_crowds

    boxes = need(os.path.join(DATA, "coco_train_person_boxes"))
    out = tmp_path / "boxes.json"
    assert main(["evaluate", "--annotations", os.path.join(boxes, "annotations.json"),
                 "--images", os.path.join(boxes, "images"), "--split", "val",
                 "--max-images", "30", "--crowd-nesting", "3", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "segm: none (the annotations have no masks)" in printed
    rep = json.loads(out.read_text())
    assert rep["segm"] is None and rep["bbox"]["AP50"] > 20 and rep["crowd_nesting"] == 3
    data = {"annotations": [
        {"id": 1, "image_id": 1, "bbox": [0, 0, 100, 100]},
        *[{"id": 2 + k, "image_id": 1, "bbox": [10 + 20 * k, 10, 10, 30]} for k in range(3)]]}
    assert mark_nested_crowds(data, 3) == 1
    assert data["annotations"][0]["iscrowd"] == 1
    assert not any(a.get("iscrowd") for a in data["annotations"][1:])
