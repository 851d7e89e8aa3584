"""Who gets a second look, and its region (ssd_isb.runtime.zoom), without a model."""

import dataclasses

import numpy as np
import pytest

from ssd_isb.utils.errors import UsageError
from ssd_isb.runtime.regions import full_region
from ssd_isb.runtime.zoom import AUTO, ZoomSettings, parse_zoom, region_scale, zoom_targets, \
    zoom_text


def test_parse_zoom():
    assert parse_zoom("off") is None and parse_zoom(None) is None
    assert parse_zoom("auto") == AUTO
    assert parse_zoom("1.8") == dataclasses.replace(AUTO, context=1.8)
    assert zoom_text(parse_zoom("1.8")) == "1.8" and zoom_text(AUTO) == "auto"
    for bad in ("big", "0.5", "9"):
        with pytest.raises(UsageError, match="--zoom"):
            parse_zoom(bad)


def test_targets_by_score_gain_and_cap():
    size, input_size = (480, 640), (320, 320)
    boxes = np.array([[10, 10, 50, 110],      # a small person: zoomed
                      [100, 20, 600, 470],    # fills the frame: nothing to gain
                      [300, 200, 330, 260],   # small but scored low
                      [400, 300, 440, 380]], np.float32)
    scores = np.array([0.9, 0.95, 0.2, 0.6], np.float32)
    scale = region_scale(full_region(size), input_size)
    assert scale == pytest.approx(0.5)
    targets = zoom_targets(boxes, scores, np.full(4, scale), size, input_size, AUTO)
    assert [k for k, _ in targets] == [0, 3]  # best score first
    region = targets[0][1]
    assert region.width == region.height == round(1.4 * 100)
    capped = zoom_targets(boxes, scores, np.full(4, scale), size, input_size,
                          ZoomSettings(max_people=1))
    assert [k for k, _ in capped] == [0]
    # A person a tile already sees at four times the frame's scale gains too little.
    assert zoom_targets(boxes[:1], scores[:1], np.array([2.0]), size, input_size, AUTO) == []
