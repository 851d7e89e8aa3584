"""The base wheel: what runs without TensorFlow, and not the .keras models (issue 27)."""

import glob
import subprocess
import sys
import zipfile

from conftest import ROOT


def test_wheel_ships_tflite_models_and_no_keras(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", ROOT, "-w", str(tmp_path)], check=True,
                   capture_output=True, text=True)
    names = zipfile.ZipFile(glob.glob(str(tmp_path / "ssd_isb-*.whl"))[0]).namelist()
    zoo = {n.split("/")[-1] for n in names if n.startswith("ssd_isb/zoo/")}
    assert {"ssd_isb_multi_shape_int8.tflite", "ssd_isb_multi_shape_int8.tflite.json",
            "ssd_isb_single_branch_fp32.tflite", "metrics.json", "README.md"} <= zoo
    assert not [n for n in zoo if n.endswith(".keras")], zoo
    # the .keras sidecars stay: they name what is in the repository
    assert "ssd_isb_multi_shape.keras.json" in zoo
    assert any(n.startswith("ssd_isb/samples/") and n.endswith(".jpg") for n in names)
