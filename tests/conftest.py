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


def need(path):
    """Skip (with the reason) when a file from ../shared is absent."""
    if not os.path.exists(path):
        pytest.skip(f"{path} not present (tests read ../shared/data when it is there)")
    return path


@pytest.fixture(scope="session")
def person_images():
    """Real COCO val2017 images with people."""
    folder = need(os.path.join(DATA, "coco_person_val2017", "images"))
    return sorted(glob.glob(os.path.join(folder, "*.jpg")))
