"""``ssd-isb info`` for every config, and clear errors from the command line."""

import os
import subprocess
import sys

import pytest

from conftest import CONFIGS, ROOT
from ssd_isb.cli import main
from ssd_isb.config import load_config

pytest.importorskip("tensorflow")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.basename(p))
def test_info_prints_params_and_thesis(path, capsys):
    assert main(["info", "--config", path]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    total = next(line for line in lines if line.startswith("total"))
    thesis = next(line for line in lines if line.startswith("thesis"))
    if load_config(path).model.task == "semantic":  # encoder + a small decoder, no branches
        assert "encoder (MobileNet-v1)" in out and "decoder" in out and "ISB_" not in out
        assert int(total.split()[-1].replace(",", "")) > 400_000
        return
    assert int(total.split()[-1].replace(",", "")) > 1_000_000
    # Configs that reproduce a thesis experiment carry its figures; the embedded and fine-tune
    # configs do not, and say so.
    if load_config(path).thesis.params is None:
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


def test_stats_reproduces_table_5_1_structure(capsys):
    import os as _os

    from conftest import DATA, need

    ann = need(_os.path.join(DATA, "coco_person_val2017", "annotations.json"))
    assert main(["stats", "--annotations", ann, "--input-size", "640", "--suggest-shapes",
                 "10"]) == 0
    out = capsys.readouterr().out.splitlines()
    header = out[1].split()
    assert header == ["7x2", "6x3", "6x2", "5x3", "5x2", "4x3", "4x2", "3x3", "3x2", "3x1", "2x2",
                      "2x1", "Other", "total", "covered"]
    row = out[2].split()
    counts = [int(v) for v in row[1:14]]
    assert sum(counts) == int(row[14]) > 1500  # columns + Other = every non-crowd person
    # As in the thesis (Table 5.1, val: 945 / 929 / 882), the three small shapes 3x2, 2x2 and
    # 2x1 are the commonest of the twelve.
    top3 = sorted(range(12), key=lambda i: -counts[i])[:3]
    assert {header[i] for i in top3} == {"3x2", "2x2", "2x1"}
    assert any(line.startswith("Suggested 10 Multi-Shape thresholds") for line in out)


def test_convert_dataset_cli(tmp_path, capsys):
    import json as _json
    import os as _os

    from conftest import DATA, need

    masks = need(_os.path.join(DATA, "pennfudan", "PedMasks"))
    out = tmp_path / "pf.json"
    assert main(["convert-dataset", "--masks", masks, "--images",
                 _os.path.join(DATA, "pennfudan", "Images"), "--output", str(out)]) == 0
    assert "170 images, 423 person instances" in capsys.readouterr().out
    data = _json.loads(out.read_text())
    assert data["categories"][0]["name"] == "person" and len(data["annotations"]) == 423
    assert main(["convert-dataset", "--masks", str(tmp_path), "--images", str(tmp_path),
                 "--output", str(tmp_path / "x.json")]) == 2
    assert "no PNG masks" in capsys.readouterr().err
