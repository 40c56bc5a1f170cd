"""The export registry and the bbox geometry in core: every format names its media type and
suffix and plans like the others; a bbox snaps outwards to the tiles' pixel grid."""

from __future__ import annotations

import mercantile
import pytest

from core.bbox import ORIGIN, AreaError, clip_to_world, parse_bbox, pixel_window, tiles_in
from core.exports import FORMATS, Export, plan_export
from tests.test_serving import CATALOG

WORLD = CATALOG.get("testland")  # extent -40..40, -30..30, zooms 2-9
BBOX = (-10.3, -8.1, 0.2, 0.05)


# A DEM is drawn from a plan world's relief, not from tiles: tests/test_dem_export.py.
@pytest.mark.parametrize("name", [name for name in FORMATS if name != "dem"])
def test_each_format_plans_and_names_its_file(name: str) -> None:
    kind = FORMATS[name]
    assert issubclass(kind, Export) and kind.format == name
    assert kind.suffix.startswith(".") and "/" in kind.media_type
    plan = plan_export(WORLD, BBOX, name, 6, 6, 10**9)
    assert isinstance(plan, kind) and plan.format == name
    assert plan.filename.startswith(f"{WORLD.id}-z6") and plan.filename.endswith(kind.suffix)
    assert plan.units() and plan.pixels > 0
    assert set(plan.size_fields()) in ({"width", "height"}, {"tiles"})
    assert plan.describe()


def test_suffixes_and_media_types_are_distinct() -> None:
    assert len({kind.suffix for kind in FORMATS.values()}) == len(FORMATS)
    assert len({kind.media_type for kind in FORMATS.values()}) == len(FORMATS)


def test_unknown_format_lists_the_registry() -> None:
    with pytest.raises(AreaError, match="use one of " + ", ".join(FORMATS)):
        plan_export(WORLD, BBOX, "gif", 6, 6, 10**9)


def test_pixel_window_contains_the_bbox_by_less_than_a_pixel() -> None:
    x0, y0, x1, y1 = pixel_window(BBOX, 9, 256)
    res = 2 * ORIGIN / (256 * 2**9)
    left, top = mercantile.xy(BBOX[0], BBOX[3])
    right, bottom = mercantile.xy(BBOX[2], BBOX[1])
    assert 0 <= left - (x0 * res - ORIGIN) < res and 0 <= (x1 * res - ORIGIN) - right < res
    assert 0 <= (ORIGIN - y0 * res) - top < res and 0 <= bottom - (ORIGIN - y1 * res) < res


def test_a_bbox_on_tile_edges_takes_only_its_tiles() -> None:
    west, south, east, north = mercantile.bounds(14, 15, 5)
    assert tiles_in(WORLD, (west, south, east, north), 5) == [(14, 15)]


def test_clip_and_parse_refuse_with_the_reason() -> None:
    assert clip_to_world(WORLD, (-50, -8, 0, 0)) == (-40, -8, 0, 0)
    with pytest.raises(AreaError, match="does not overlap world 'testland'"):
        clip_to_world(WORLD, (100, 50, 110, 60))
    assert parse_bbox("1,2,3,4") == parse_bbox([1, 2, 3, 4]) == (1.0, 2.0, 3.0, 4.0)
    with pytest.raises(AreaError, match="inverted or empty"):
        parse_bbox("3,2,1,4")
