"""A COCO-sized annotation file: the loader keeps polygons as they are and each mask is
decoded only when its example is made, so memory stays flat while every mask is decoded.

The file is generated with COCO's shape (12,000 640x480 images, 30,000 person polygons of 24
points); decoded and held at once, its masks would take 30,000 x 307,200 B = 9.2 GB."""

import json
import subprocess
import sys

from conftest import ROOT

SCRIPT = r"""
import json, sys
import numpy as np
from ssd_isb.data.coco import load_coco

def rss_mb():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith("VmRSS")) / 1024

path = sys.argv[1]
rng = np.random.default_rng(0)
images, anns = [], []
for i in range(12000):
    images.append({"id": i + 1, "file_name": f"{i:012d}.jpg", "width": 640, "height": 480})
for k in range(30000):
    cx, cy = rng.uniform(80, 560), rng.uniform(80, 400)
    t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    r = rng.uniform(20, 70)
    poly = np.stack([cx + r * np.cos(t), cy + 1.6 * r * np.sin(t)], 1).clip(0, [639, 479])
    x0, y0 = poly.min(0)
    x1, y1 = poly.max(0)
    anns.append({"id": k + 1, "image_id": int(k % 12000) + 1, "category_id": 1, "iscrowd": 0,
                 "segmentation": [poly.round(2).ravel().tolist()],
                 "area": float((x1 - x0) * (y1 - y0)),
                 "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]})
with open(path, "w") as fh:
    json.dump({"images": images, "annotations": anns,
               "categories": [{"id": 1, "name": "person"}]}, fh)
del images, anns
base = rss_mb()
records, report = load_coco(path, "/nonexistent", check_files=False)
loaded = rss_mb()
n = 0
samples = []
for rec in records:
    for inst in rec.persons:
        m = rec.instance_mask(inst)
        assert m.shape == (480, 640) and m.any()
        n += 1
        if n % 2000 == 0:
            samples.append(rss_mb())
print("RESULT", json.dumps({"annotations": n, "images": len(records), "before_mb": base,
                            "loaded_mb": loaded, "samples_mb": samples}))
"""


def test_every_mask_decoded_in_turn_keeps_memory_flat(tmp_path):
    res = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "instances.json")],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    line = next((x for x in res.stdout.splitlines() if x.startswith("RESULT")), None)
    assert line, res.stdout + res.stderr
    r = json.loads(line[len("RESULT "):])
    assert r["annotations"] == 30000 and r["images"] == 12000
    samples = r["samples_mb"]
    # Decoding all 30,000 masks one at a time: RSS after the first 2,000 and after all of
    # them differ by less than the size of 100 masks (30 MB); 9.2 GB if they were held.
    growth = max(samples) - samples[0]
    assert growth < 30, f"RSS grew {growth:.0f} MB while decoding: {samples}"
    print(f"loaded {r['loaded_mb'] - r['before_mb']:.0f} MB of records; RSS while decoding "
          f"{min(samples):.0f}-{max(samples):.0f} MB")
