"""``ssd-isb info`` for every config, and clear errors from the command line."""

import os
import subprocess
import sys

import pytest

from conftest import CONFIGS, ROOT
from ssd_isb.cli import main

pytest.importorskip("tensorflow")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.basename(p))
def test_info_prints_params_and_thesis(path, capsys):
    assert main(["info", "--config", path]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    total = next(line for line in lines if line.startswith("total"))
    thesis = next(line for line in lines if line.startswith("thesis"))
    assert int(total.split()[-1].replace(",", "")) > 1_000_000
    if "embedded" in path:
        assert "n/a" in thesis
    else:
        assert "%" in thesis and int(thesis.split()[-2].replace(",", "")) > 1_000_000
    assert "MobileNet-v1 backbone" in out and "ISB_" in out


def test_info_json_multi_shape_exact(capsys):
    import json

    assert main(["info", "--config", "multi_shape", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["params"] == info["thesis_params"] == 8014288
    assert [b["params"] for b in info["branches"]] == [247073] * 10


def test_console_script_and_config_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  input_size: 300\n")
    res = subprocess.run([sys.executable, "-m", "ssd_isb", "info", "--config", str(bad)],
                         cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.strip() == ("ssd-isb info: error: bad.yaml: model.input_size: 300 is not a "
                                  "multiple of 32 (the stride-32 map must not be padded; try 288)")
