"""Shared fixtures: paths to ../shared (real data, pretrained model) and small helpers."""

import glob
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("SSD_ISB_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
DATA = os.path.join(SHARED, "data")
ZOO_TFLITE = os.path.join(SHARED, "pretrained", "ssd_mobilenet_v1_0.75_coco_quant",
                          "detect.tflite")
CONFIGS = sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml")))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Prepended to code run in a subprocess: TensorFlow, Keras and tf2onnx cannot be imported there,
# as on a Jetson or a base install.
BLOCK_TF = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in ('tensorflow', 'keras', 'tf2onnx'):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden in this test)",
                                      name=name.split('.')[0])
sys.meta_path.insert(0, Block())
"""


RELEASES = os.path.join(ROOT, "docs", "releases")


def release(name):
    """A release step's config (docs/releases: the shipped model's history, out of configs/;
    configs/ssd_isb_multi_shape.yaml replays them as one recipe)."""
    return os.path.join(RELEASES, name + ".yaml")


def need(path):
    """Skip (with the reason) when a file from ../shared is absent."""
    if not os.path.exists(path):
        pytest.skip(f"{path} not present (tests read ../shared/data when it is there)")
    return path


SAMPLES = os.path.join(ROOT, "ssd_isb", "samples")  # four COCO photos with their annotations


def photo_set():
    """(annotations, images folder) of real person photos with masks: ../shared's COCO person
    set, or, in a clone without it, the four photos shipped with the package."""
    shared = os.path.join(DATA, "coco_person_val2017")
    if os.path.exists(os.path.join(shared, "annotations.json")):
        return os.path.join(shared, "annotations.json"), os.path.join(shared, "images")
    return os.path.join(SAMPLES, "annotations.json"), SAMPLES


def street_video():
    """A real video of people: ../shared's street video, or, in a clone without it, a clip
    made once from the shipped photos (a slow pan across each, 480x360, 30 frames a photo,
    120 in all, MJPG in an .avi as the street video is)."""
    shared = os.path.join(DATA, "videos", "pedestrians_480x360.avi")
    if os.path.exists(shared):
        return shared
    import tempfile

    import cv2

    path = os.path.join(tempfile.gettempdir(), f"ssd_isb_samples_clip_{os.getuid()}.avi")
    if os.path.exists(path):
        return path
    part = path + f".{os.getpid()}.avi"
    writer = cv2.VideoWriter(part, cv2.VideoWriter_fourcc(*"MJPG"), 15, (480, 360))
    for name in sorted(glob.glob(os.path.join(SAMPLES, "*.jpg"))):
        image = cv2.imread(name)
        scale = 1.3 * max(480 / image.shape[1], 360 / image.shape[0])
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        h, w = image.shape[:2]
        for k in range(30):
            x, y = round((w - 480) * k / 29), round((h - 360) * k / 29)
            writer.write(image[y:y + 360, x:x + 480])
    writer.release()
    os.replace(part, path)  # whole or absent: parallel sessions may race to build it
    return path


@pytest.fixture(scope="session")
def person_images():
    """Real COCO val2017 images with people (the shipped samples without ../shared)."""
    folder = photo_set()[1]
    return sorted(glob.glob(os.path.join(folder, "*.jpg")))


@pytest.fixture(scope="session")
def mini_coco(tmp_path_factory):
    """A small COCO dataset on disk built from real coco_person_val2017 images and annotations
    (the shipped samples without ../shared),
    plus the awkward cases: a corrupt JPEG, a grayscale PNG, an RGBA PNG, a CMYK JPEG, an image
    without persons, a degenerate annotation, a crowd region and a missing file."""
    import json

    import cv2
    import numpy as np

    annotations, src_images = photo_set()
    with open(annotations) as fh:
        data = json.load(fh)
    crowd_ids = {a["image_id"] for a in data["annotations"] if a.get("iscrowd")}
    images = [im for im in data["images"] if im["id"] not in crowd_ids][:16]
    images.append(next(im for im in data["images"] if im["id"] in crowd_ids))
    root = tmp_path_factory.mktemp("mini_coco")
    img_dir = root / "images"
    img_dir.mkdir()
    keep = {im["id"] for im in images}
    anns = [a for a in data["annotations"] if a["image_id"] in keep]
    for im in images:
        bgr = cv2.imread(os.path.join(src_images, im["file_name"]))
        cv2.imwrite(str(img_dir / im["file_name"]), bgr)
    # Awkward encodings of real images (same content, other file names and formats).
    extra = []
    base = images[0]

    def add(name, writer):
        new = dict(base, id=900000 + len(extra), file_name=name)
        writer(str(img_dir / name))
        extra.append(new)
        for a in [a for a in anns if a["image_id"] == base["id"]]:
            anns.append(dict(a, id=a["id"] + 10_000_000 * (len(extra)), image_id=new["id"]))

    bgr = cv2.imread(os.path.join(src_images, base["file_name"]))
    add("gray.png", lambda p: cv2.imwrite(p, cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)))
    add("alpha.png", lambda p: cv2.imwrite(p, cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)))

    def cmyk(p):
        from PIL import Image

        Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).convert("CMYK").save(p, "JPEG")

    add("cmyk.jpg", cmyk)
    add("corrupt.jpg", lambda p: open(p, "wb").write(b"\xff\xd8\xff\xe0" + b"\x00" * 64))
    negative = dict(base, id=990001, file_name="negative.jpg")
    cv2.imwrite(str(img_dir / "negative.jpg"), np.full((200, 300, 3), 90, np.uint8))
    missing = dict(base, id=990002, file_name="missing.jpg")
    degenerate = dict(anns[0], id=99999999, bbox=[10, 10, 0.0, 5.0], area=0.0)
    data = {"images": images + extra + [negative, missing], "annotations": anns + [degenerate],
            "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}
    path = root / "annotations.json"
    path.write_text(json.dumps(data))
    return {"annotations": str(path), "images": str(img_dir), "root": str(root),
            "n_images": len(images), "crowd_image": images[-1]["file_name"]}
