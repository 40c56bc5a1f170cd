"""Renderers 7 and 8 (worker/synthesis/field_render.py): field systems as cadastres, not
brick walls; margins on some fields only (7) or most, each its own width (8); models drawn
by them are not feathered at unit borders."""

from __future__ import annotations

import json

import mercantile
import numpy as np
import pytest

from core.classes import CLASS_INDEX
from core.noise import EARTH_KM, value_noise
from core.plan.grid import CELLS
from core.plan.raster import CROPLAND_SLOPE, M_PER_CELL, rasterize
from core.plans import world_plan
from core.settings import WorkerSettings
from core.world import CARANA_V6, CARANA_V7, CARANA_V9, DEFAULT_WORLD, WorldCatalog
from tests.renderers import bank_renderer
from worker.evaluation.mosaics import random_places
from worker.synthesis import field_render
from worker.synthesis.bank_render import BankRenderer, _split_fields
from worker.synthesis.field_render import (
    CLUMP_COVER,
    CLUMP_M,
    FIELD_BY_FIELD,
    GRASS_STRIP_M,
    FieldBoundaryRenderer,
    FieldSystemRenderer,
    cadastral_parcels,
)
from worker.synthesis.generators import load_generator
from worker.synthesis.plan_render import FieldParcels, farm_blocks, field_parcels

SEED = 20261129
CENTRE_M = (-2_950_000.0, -780_000.0)  # Mercator metres of a place in Carana
NATIVE_M = 2.4  # about a native (zoom 16) pixel there


def _grid(size_m: float, step_m: float) -> tuple[np.ndarray, ...]:
    """Mercator metres and world units of a square grid around CENTRE_M."""
    offsets = np.arange(-size_m / 2, size_m / 2, step_m)
    mx, my = np.meshgrid(CENTRE_M[0] + offsets, CENTRE_M[1] + offsets)
    mx, my = mx.ravel(), my.ravel()
    u = mx / (EARTH_KM * 1000.0) + 0.5
    v = 0.5 - my / (EARTH_KM * 1000.0)
    return mx, my, u, v


def _strip_stats(parcels: FieldParcels) -> tuple[float, float]:
    """Median over farm blocks of the spread (coefficient of variation) of their strips'
    widths and of their fields' lengths."""
    width_cv, length_cv = [], []
    block = parcels.block_i * 100_003 + parcels.block_j
    for key in np.unique(block):
        inside = block == key
        strips = parcels.fid_x[inside]
        _, first = np.unique(strips, return_index=True)
        if len(first) < 6:
            continue
        widths = parcels.width_m[inside][first]
        lengths = parcels.length_m[inside][first]
        width_cv.append(widths.std() / widths.mean())
        length_cv.append(lengths.std() / lengths.mean())
    assert len(width_cv) >= 5, "too few blocks with several strips"
    return float(np.median(width_cv)), float(np.median(length_cv))


def test_strips_differ_in_width_and_their_fields_in_length() -> None:
    """Renderer 6's strips of a block all have one width and one field length (a brick
    wall); renderer 7's differ, strip by strip."""
    mx, my, u, v = _grid(4000.0, 4.0)
    old = _strip_stats(field_parcels(mx, my, u, v, SEED))
    new = _strip_stats(cadastral_parcels(mx, my, u, v, SEED))
    assert old[0] < 1e-9 and old[1] < 1e-9, old
    assert new[0] > 0.2 and new[1] > 0.2, new


def test_a_position_lies_inside_its_own_field() -> None:
    mx, my, u, v = _grid(3000.0, 3.0)
    parcels = cadastral_parcels(mx, my, u, v, SEED)
    assert (parcels.width_m > 0).all() and (parcels.length_m > 0).all()
    assert (parcels.across_in_m >= -1e-6).all()
    assert (parcels.across_in_m <= parcels.width_m + 1e-6).all()
    assert (parcels.along_in_m >= 0).all() and (parcels.along_in_m < parcels.length_m).all()
    assert (parcels.edge_m >= -1e-6).all()
    # Strips keep within a third of a width of the block's regular ones (in order).
    blocks = farm_blocks(mx, my, SEED)
    assert np.array_equal(blocks.block_i, parcels.block_i)
    base = field_parcels(mx, my, u, v, SEED)
    ratio = parcels.width_m / base.width_m
    assert ratio.min() >= 0.34 - 1e-9 and ratio.max() <= 1.66 + 1e-9


@pytest.fixture(scope="module")
def renderers() -> tuple[BankRenderer, BankRenderer]:
    old = bank_renderer(CARANA_V6.model, CARANA_V6.seed)
    new = bank_renderer(CARANA_V7.model, CARANA_V7.seed)
    assert old.version == 6
    assert isinstance(new, FieldSystemRenderer) and new.version == 7
    return old, new


def _margin_cover(renderer: BankRenderer, step_m: float, keep: np.ndarray | None):
    """(changed pixels near a field edge / all of them, mean change) of a grey field's
    colour by its margins, on a grid of ``step_m`` pixels."""
    mx, my, u, v = _grid(2000.0, step_m)
    parcels = renderer._parcels(mx, my, u, v, SEED)
    fields = _split_fields(parcels, SEED)
    grey = np.full((len(mx), 3), 120.0, np.float32)
    regional = np.full(len(mx), 0.6, np.float32)  # a smallholder region
    keep_arg = None if keep is None else np.full(len(mx), keep, np.float32)
    px, py = mx / NATIVE_M, my / NATIVE_M  # where the pixels read the bank (level 0)
    out = renderer._margins(grey, fields, parcels, regional, keep_arg, step_m, u, v, px, py, 0)
    changed = np.abs(out - grey).max(1) > 1.0
    near_edge = fields.edge_m < 0.5 * step_m
    return float(changed[near_edge].mean()), out


def test_only_some_fields_have_a_visible_margin(renderers) -> None:
    """Renderer 6 outlines every field; in renderer 7 most field edges show only as the
    change of tone to the next field."""
    old, new = renderers
    old_share, _ = _margin_cover(old, 1.0, None)
    new_share, _ = _margin_cover(new, 1.0, None)
    assert old_share > 0.95, old_share
    assert 0.15 < new_share < 0.7, new_share


def test_margins_count_by_the_ground_they_cover_below_the_native_zoom(renderers) -> None:
    """A coarse pixel holding many fields (keep 0) is darkened by tree lines as much as the
    fine pixels it covers are on average, so z-1 holds what z averages to: CLUMP_COVER is
    the share of a tree line its clumps cover."""
    _, new = renderers
    _, _, u, v = _grid(2000.0, 0.5)
    field = value_noise(u, v, EARTH_KM * 1000.0 / CLUMP_M, new.seed + 1723)
    cover = np.clip((field - 0.5) * 4.0 + 0.5, 0.0, 1.0).mean()
    assert abs(cover - CLUMP_COVER) < 0.03, cover
    _, fine = _margin_cover(new, 1.0, None)
    _, coarse = _margin_cover(new, 1.0, 0.0)
    fine_change, coarse_change = 120.0 - fine.mean(), 120.0 - coarse.mean()
    assert fine_change > 0.2  # tree lines darken more than bunds lighten
    assert abs(coarse_change / fine_change - 1.0) < 0.2, (fine_change, coarse_change)


def test_models_drawn_by_renderer_7_are_not_feathered() -> None:
    """A bank render is continuous across units by itself: feathering only smooths it
    along unit borders (carana-v6's z10 seam ratio 0.80-0.87); their parent canvas holds
    the parent's own pixels around the quadrant (engine.PARENT_MARGINS)."""
    settings = WorkerSettings()
    old = load_generator(CARANA_V6.model, settings)
    new = load_generator(DEFAULT_WORLD.model, settings)
    assert old.feather_borders is True and old.parent_margin == "edge"
    assert new.feather_borders is False and new.parent_margin == "parent"


def test_the_render_carries_the_parent_past_its_edge() -> None:
    """Where the parent canvas repeats an edge pixel, the unit is sampled from that pixel
    plus the render's own change from it; real pixels are left as they are."""
    from worker.synthesis.generators.diffusion import _parent_of

    rng = np.random.default_rng(0)
    parent = rng.integers(50, 200, (6, 6, 3)).astype(np.uint8)
    parent[:, :2] = parent[:, 2:3]  # two columns repeat the third
    source = np.arange(36).reshape(6, 6)
    source[:, :2] = source[:, 2:3]
    render = rng.integers(50, 200, (6, 6, 3)).astype(np.uint8)

    class Request:
        parent_is_layout = False
        parent_source = source

    Request.parent = parent
    carried = _parent_of(Request, render)  # type: ignore[arg-type]
    assert np.array_equal(carried[:, 2:], parent[:, 2:].astype(np.float32))
    expected = parent[:, 2:3].astype(np.float32) + render[:, :2] - render[:, 2:3]
    assert np.allclose(carried[:, :2], np.clip(expected, 0, 255))
    Request.parent_source = None
    assert _parent_of(Request, render) is parent  # no source: the engine's parent as it is


@pytest.fixture(scope="module")
def renderer_8() -> BankRenderer:
    made = bank_renderer(CARANA_V9.model, CARANA_V9.seed)  # the last world drawn by it
    assert isinstance(made, FieldBoundaryRenderer) and made.version == 8
    return made


def test_most_fields_show_a_margin(renderers, renderer_8) -> None:
    """Renderer 7 leaves most field edges bare, which at zoom 14 reads as blotches of tone;
    renderer 8 gives most fields a margin (grass strip or tree line)."""
    _, seven = renderers
    share_7, _ = _margin_cover(seven, 1.0, None)
    share_8, _ = _margin_cover(renderer_8, 1.0, None)
    assert share_8 > 0.65 and share_8 > share_7 + 0.2, (share_7, share_8)


def test_grass_strips_differ_in_width_and_are_photograph_texture(renderer_8, monkeypatch) -> None:
    """With tree lines taken out, every margin is a grass strip: a band centred on the
    field's edge whose width is the field's own (GRASS_STRIP_M), drawn from the savanna
    photographs, not a flat line."""
    monkeypatch.setattr(field_render, "TREE_LINE_SHARE", (0.0, 0.0))
    _, out = _margin_cover(renderer_8, 1.0, None)
    mx, my, u, v = _grid(2000.0, 1.0)
    fields = _split_fields(renderer_8._parcels(mx, my, u, v, SEED), SEED)
    changed = np.abs(out - 120.0).max(1) > 1.0
    field = fields.fid_x * 1_000_003 + fields.fid_y
    keys, inverse = np.unique(field[changed], return_inverse=True)
    reach = np.zeros(len(keys))
    np.maximum.at(reach, inverse, fields.edge_m[changed])
    # A band w wide reaches w / 2 into the field, plus up to half a 1 m pixel.
    widths = 2.0 * reach - 1.0
    lo, hi = GRASS_STRIP_M
    assert len(widths) > 100
    assert np.quantile(widths, 0.05) >= lo - 0.5, np.quantile(widths, 0.05)
    assert widths.max() <= hi + 1.0, widths.max()
    assert np.quantile(widths, 0.9) > 0.5 * (lo + hi), np.quantile(widths, 0.9)
    assert widths.std() / widths.mean() > 0.25, widths
    # Pixels the strip covers whole (every strip reaches 0.75 m in) hold its texture.
    whole = changed & (fields.edge_m < 0.25)
    assert whole.sum() > 1000
    assert out[whole].std(0).min() > 5.0, out[whole].std(0)


def test_fields_keep_more_of_their_own_tone(renderers, renderer_8) -> None:
    """Renderer 7 (as 5) pulls every field 60 % of the way to its region's season, with
    +-5 % of brightness of its own; renderer 8 pulls it 30 % with +-15 %."""
    _, seven = renderers
    mx, my, u, v = _grid(3000.0, 10.0)
    parcels = seven._parcels(mx, my, u, v, SEED)
    fields = _split_fields(parcels, SEED)
    _, field, count = np.unique(
        fields.fid_x * 1_000_003 + fields.fid_y, return_inverse=True, return_counts=True
    )
    rng = np.random.default_rng(1)
    photos = rng.uniform(60.0, 180.0, (len(count), 3)).astype(np.float32)

    def spread(renderer: BankRenderer, photo: np.ndarray) -> float:
        """The spread of fields' mean brightness."""
        colour, _ = renderer._season(photo, fields, parcels, u, v)
        means = np.bincount(field, weights=colour.mean(1)) / count
        return float(means.std())

    # One photograph per field: how much of it a field keeps.
    each = photos[field]
    assert spread(renderer_8, each) > 1.6 * spread(seven, each)
    # One photograph for all: the fields' own brightness (and their regions' season).
    same = np.broadcast_to(photos[0], each.shape).copy()
    assert spread(renderer_8, same) > 2.0 * spread(seven, same)


def _parcel_mix(renderer: BankRenderer, raster, classes: np.ndarray) -> tuple[int, int]:
    """(parcels, parcels partly cropland and partly not) among the pixels near the
    cropland threshold, counted over twice the band renderer 8 decides in (a parcel
    reaching out of that band is split if its outer part keeps another class)."""
    crop, grass = CLASS_INDEX["cropland"], CLASS_INDEX["grassland"]
    near = (
        (np.abs(raster.crop_margin) < 2 * FIELD_BY_FIELD)
        & np.isin(raster.classes, [crop, grass])
        & (raster.slope < CROPLAND_SLOPE)
    )
    u, v = raster.x[near] / CELLS, raster.y[near] / CELLS
    mx, my = raster.x[near] * M_PER_CELL, raster.y[near] * M_PER_CELL
    parcels = renderer._parcels(*renderer._warped(mx, my, u, v), u, v, renderer.seed + 13)
    _, index = np.unique(parcels.fid_x * 1_000_003 + parcels.fid_y, return_inverse=True)
    share = np.bincount(index, weights=classes[near] == crop) / np.bincount(index)
    return len(share), int(((share > 0) & (share < 1)).sum())


def test_farmland_ends_where_a_field_ends(renderer_8) -> None:
    """The plan's cropland border is a smooth curve through the fields; renderer 8 decides
    near it parcel by parcel, so a field is farmland whole or not at all (a few parcels
    stay split where the farm layer itself changes across them), and far from it the
    plan's classes stand."""
    world = DEFAULT_WORLD
    plan = world_plan(world)
    total = split = split_by_rule = 0
    for lon, lat in random_places(world, 6, seed=3):
        tile = mercantile.tile(lon, lat, 15)
        raster = rasterize(plan, 15, tile.x * 256, tile.y * 256, 512, 512, 256)
        drawn = renderer_8._land_cover(raster).classes
        far = np.abs(raster.crop_margin) >= FIELD_BY_FIELD
        assert np.array_equal(drawn[far], raster.classes[far])
        parcels, by_rule = _parcel_mix(renderer_8, raster, raster.classes)
        total, split_by_rule = total + parcels, split_by_rule + by_rule
        split += _parcel_mix(renderer_8, raster, drawn)[1]
    assert total > 1000, total  # the places hold farmland borders
    assert split < 0.03 * total and split < 0.5 * split_by_rule, (total, split, split_by_rule)


def test_scenario_polygons_keep_their_borders() -> None:
    """A scenario's polygons say where their land cover is: their crop_margin is +-1, so
    renderer 8 decides no pixel of theirs field by field."""
    from tests.stack import WORLDS_FILE

    world = WorldCatalog.load(WORLDS_FILE).get("scenarioland")
    renderer = bank_renderer(DEFAULT_WORLD.model, world.seed)
    assert isinstance(renderer, FieldBoundaryRenderer)
    document = json.loads((WORLDS_FILE.parent / "scenario.geojson").read_text())
    (ring, *_), *_ = (
        f["geometry"]["coordinates"]
        for f in document["features"]
        if f["properties"].get("landcover") == "cropland"
    )
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    west, north = mercantile.tile(min(lons), max(lats), 14)[:2]
    east, south = mercantile.tile(max(lons), min(lats), 14)[:2]
    raster = rasterize(
        world_plan(world),
        14,
        west * 256,
        north * 256,
        (east - west + 1) * 256,
        (south - north + 1) * 256,
        256,
    )
    inside = raster.crop_margin == 1.0
    assert inside.mean() > 0.05
    assert (raster.classes[inside] == CLASS_INDEX["cropland"]).all()
    drawn = renderer._land_cover(raster).classes
    assert np.array_equal(drawn[inside], raster.classes[inside])
    # Outside the polygon the farmland border is still decided field by field.
    assert (drawn != raster.classes).any()
