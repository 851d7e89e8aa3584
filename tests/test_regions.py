"""Sub-regions of a frame: coordinates, tile plans, zoom squares (ssd_isb.runtime.regions)."""

import numpy as np
import pytest

from ssd_isb.utils.errors import UsageError
from ssd_isb.runtime.regions import (Region, auto_grid, coarse_grid, cut_by_edges, describe,
                                     full_region, parse_tiles, tile_grid, tile_plan, too_large,
                                     zoom_region)


def test_region_coordinates_round_trip():
    region = Region(100, 50, 300, 250, "tile")
    size = (400, 600)
    local = np.array([[0.0, 0.0, 1.0, 1.0], [0.25, 0.5, 0.75, 1.0]], np.float32)
    image = region.to_image(local, size)
    # The region's corners land on its pixel bounds.
    np.testing.assert_allclose(image[0], [50 / 400, 100 / 600, 250 / 400, 300 / 600], atol=1e-6)
    np.testing.assert_allclose(image[1], [100 / 400, 200 / 600, 200 / 400, 300 / 600],
                               atol=1e-6)
    np.testing.assert_allclose(region.from_image(image, size), local, atol=1e-6)
    assert full_region(size) == Region(0, 0, 600, 400, "full")
    assert list(region.inner_edges(size)) == [True, True, True, True]
    assert list(full_region(size).inner_edges(size)) == [False] * 4


def test_model_input_is_the_region_stretched():
    pixels = np.zeros((100, 200, 3), np.uint8)
    pixels[:, 100:] = 255  # right half white
    x = Region(100, 0, 200, 100).model_input(pixels, (32, 64))
    assert x.shape == (1, 32, 64, 3) and x.dtype == np.float32 and x.min() == 255


@pytest.mark.parametrize("rows,cols", [(1, 2), (2, 2), (2, 3), (3, 4)])
def test_tile_grid_covers_the_frame_with_overlap(rows, cols):
    size = (720, 1280)
    tiles = tile_grid(size, rows, cols, overlap=0.25, limit=0.6)
    assert len(tiles) == rows * cols and all(t.kind == "tile" and t.limit == 0.6 for t in tiles)
    assert len({(t.width, t.height) for t in tiles}) == 1  # equal sizes
    covered = np.zeros(size, bool)
    for t in tiles:
        assert 0 <= t.x0 < t.x1 <= size[1] and 0 <= t.y0 < t.y1 <= size[0]
        covered[t.y0:t.y1, t.x0:t.x1] = True
    assert covered.all()
    if cols > 1:  # neighbours share about a quarter of a tile
        shared = tiles[0].x1 - tiles[1].x0
        assert abs(shared - 0.25 * tiles[0].width) <= 2


def test_auto_grid_by_frame_size_and_aspect():
    assert auto_grid((480, 640), (320, 320)) == (2, 2)
    assert auto_grid((640, 480), (320, 320)) == (2, 2)
    assert auto_grid((720, 1280), (320, 320)) == (2, 3)
    assert auto_grid((1080, 1920), (320, 320)) == (3, 4)
    assert auto_grid((1280, 720), (320, 320)) == (3, 2)  # portrait: the same, turned
    assert auto_grid((360, 480), (320, 320)) == (1, 1)  # near the input size: no tiles
    assert coarse_grid((720, 1280)) == (1, 2) and coarse_grid((480, 640)) is None


def test_tile_plan():
    assert tile_plan((720, 1280), (320, 320), "off") == [full_region((720, 1280))]
    plan = tile_plan((720, 1280), (320, 320), "auto")
    assert [r.kind for r in plan] == ["full"] + ["tile"] * 8
    assert [r.limit for r in plan[1:3]] == [1.0, 1.0]  # the two halves answer for everyone
    assert all(r.limit == 0.6 for r in plan[3:])
    assert describe(plan) is not None and describe(plan[:1]) is None
    assert len(tile_plan((480, 640), (320, 320), "3x1")) == 4
    assert len(tile_plan((300, 300), (320, 320), "auto")) == 1


def test_parse_tiles():
    assert parse_tiles("auto") == "auto" and parse_tiles(None) == "off"
    assert parse_tiles("2x3") == (2, 3) and parse_tiles(" 2 X 3 ") == (2, 3)
    for bad in ("3", "0x2", "9x1", "two", "2x"):
        with pytest.raises(UsageError, match="--tiles"):
            parse_tiles(bad)


def test_zoom_region_is_a_square_moved_inside_the_frame():
    size = (480, 640)
    r = zoom_region([300, 200, 340, 300], size, context=1.5)  # 40 x 100 px person
    assert (r.width, r.height) == (150, 150) and r.kind == "zoom"
    assert (r.x0 + r.x1) / 2 == pytest.approx(320, abs=1)
    edge = zoom_region([0, 400, 60, 480], size, context=1.5)  # at the bottom-left corner
    assert (edge.x0, edge.y1, edge.width, edge.height) == (0, 480, 120, 120)
    big = zoom_region([0, 0, 600, 470], size, context=1.5)  # larger than the frame: cut
    assert (big.x0, big.y0, big.x1, big.y1) == (0, 0, 640, 480)


def test_cut_and_too_large_boxes():
    size = (400, 600)
    region = Region(0, 0, 300, 400, "tile")  # the left half: only its right edge is inner
    boxes = np.array([[0.1, 0.0, 0.5, 0.3],     # touches the frame's left edge: kept
                      [0.1, 0.7, 0.5, 1.0],     # touches the inner right edge: cut
                      [0.2, 0.2, 0.4, 0.4]], np.float32)
    assert list(cut_by_edges(boxes, region, size)) == [False, True, False]
    assert list(too_large(np.array([[0, 0, 0.7, 0.2], [0, 0, 0.5, 0.5]]), 0.6)) == [True, False]
