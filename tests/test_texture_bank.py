"""The texture bank (model_store/texture_bank.py) and renderers 3 to 7
(worker/synthesis/bank_render.py): photographs in, by surface, held-out textures never; a render
that is a pure function of position, whose levels refine each other, drawn from the
bank's own pixels; renderer 4 pre-filtered to the pixel."""

from __future__ import annotations

import csv
import itertools
import json
import shutil
from pathlib import Path

import mercantile
import numpy as np
import pytest
from PIL import Image

from core.classes import CLASS_INDEX
from core.plan.plan import WorldPlan
from core.plan.raster import ROAD_NEAR_CAP_M, rasterize
from core.plans import plan_spec
from core.world import DEFAULT_WORLD, World
from model_store.datasets.flightgear import HOLDOUT_FILE, load_holdout
from model_store.registry import ModelIntegrityError, ModelRegistry
from model_store.texture_bank import (
    BANK_INDEX,
    TextureBank,
    build_texture_bank,
    pyramid,
    square_crop,
    surface_of,
)
from model_store.texture_prior import BANK_RENDERER_VERSION
from tests.renderers import bank_renderer
from worker.evaluation.mosaics import random_places
from worker.synthesis.bank_render import BankRenderer, PrefilteredBankRenderer
from worker.synthesis.prior_drawing import PriorDrawing

PLAN_WORLD = World(
    id="bank-test",
    seed=11,
    model="procedural@0.1.0",
    min_zoom=10,
    max_zoom=16,
    extent=(10.0, -2.0, 11.5, -0.5),
    layout="plan-island",
)


def test_surfaces_come_from_the_file_name_within_the_class() -> None:
    assert surface_of("savanna-grass.png", "grassland") == "savanna"
    assert surface_of("marsh3a.png", "grassland") == "wetland"
    assert surface_of("grass10b.png", "grassland") == "grass"
    assert surface_of("rock_red.png", "bare") == "rock"
    assert surface_of("gravel_brown.png", "bare") == "soil"
    assert surface_of("irrcrop2.png", "cropland") == "crop"
    assert surface_of("cropgrass-madagascar.png", "cropland") is None  # fields in fields
    assert surface_of("industrial.png", "urban") == "industry"
    assert surface_of("cropwood.png", "forest") is None  # fields and forest: no one surface


def test_a_small_texture_is_tiled_up_and_a_large_one_cropped() -> None:
    small = np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)
    tiled = square_crop(small, 40)
    assert tiled.shape == (40, 40, 3)
    assert np.array_equal(tiled[16:32, 16:32], small)
    large = np.random.default_rng(0).integers(0, 255, (100, 120, 3), dtype=np.uint8)
    assert np.array_equal(square_crop(large, 64), large[18:82, 28:92])


def test_each_level_is_the_area_mean_of_the_one_below() -> None:
    crop = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    levels = pyramid(crop)
    assert [level.shape[0] for level in levels] == [64, 32, 16, 8, 4, 2, 1]
    for finer, coarser in itertools.pairwise(levels):
        size = coarser.shape[0]
        mean = finer.astype(float).reshape(size, 2, size, 2, 3).mean((1, 3))
        assert np.abs(mean - coarser).max() <= 1.0 + 1e-9  # each level rounded once


def _photos(folder: Path) -> Path:
    """Four real PNG 'photographs' and their labels (one held out, one not a surface)."""
    folder.mkdir()
    rng = np.random.default_rng(2)
    rows = [
        ("savanna.png", "grassland", "train"),
        ("forest.png", "forest", "train"),
        ("cropwood.png", "forest", "train"),
        ("mixedcrop.png", "cropland", "holdout"),
    ]
    for name, _, _ in rows:
        pixels = rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name)
    labels = folder / "labels.csv"
    with labels.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "class", "split"])
        writer.writerows(rows)
    return labels


def test_the_bank_holds_training_photos_by_surface_and_never_a_held_out_one(
    tmp_path: Path,
) -> None:
    labels = _photos(tmp_path / "photos")
    index = build_texture_bank(tmp_path / "photos", labels, tmp_path / "bank")
    assert [(e["source"], e["surface"]) for e in index["textures"]] == [
        ("forest.png", "forest"),
        ("savanna.png", "savanna"),
    ]
    assert json.loads((tmp_path / "bank" / BANK_INDEX).read_text()) == index
    bank = TextureBank.load(tmp_path / "bank")
    savanna = bank.surface("savanna")
    assert savanna.levels[0].shape == (1, 512, 512, 3)  # tiled up from 96 px
    # The crop keeps the photograph's pixels (JPEG at quality 90, no chroma subsampling).
    original = np.asarray(Image.open(tmp_path / "photos" / "savanna.png"), np.float64)
    kept = savanna.levels[0][0, :96, :96].astype(np.float64)
    assert np.corrcoef(kept.ravel(), original.ravel())[0, 1] > 0.9
    with pytest.raises(KeyError, match="no surface 'rock'"):
        bank.surface("rock")
    # A name on the held-out list is refused even if a labels file says "train".
    with pytest.raises(ValueError, match="held-out"):
        build_texture_bank(tmp_path / "photos", labels, tmp_path / "bank2", {"savanna.png"})


def test_the_default_model_bank_has_no_held_out_texture_and_is_hashed() -> None:
    entry = ModelRegistry().verify(DEFAULT_WORLD.model)
    settings = entry.conditioning["texture_prior"]
    assert settings["renderer"] == BANK_RENDERER_VERSION
    index = json.loads((entry.path / settings["bank"] / BANK_INDEX).read_text())
    sources = {e["source"] for e in index["textures"]}
    assert len(sources) >= 50
    if HOLDOUT_FILE.is_file():
        assert not sources & load_holdout(HOLDOUT_FILE)
    hashed = entry.manifest["files"]
    for e in index["textures"]:
        assert f"{settings['bank']}/{e['file']}" in hashed
    assert entry.manifest["training_data"]["texture_bank"]["licence"].startswith("GPL-2+")


def test_a_changed_bank_photo_is_refused(tmp_path: Path) -> None:
    entry = ModelRegistry().verify(DEFAULT_WORLD.model)
    copy = tmp_path / entry.name / entry.version
    shutil.copytree(entry.path, copy)
    photo = next((copy / "texture_bank").glob("*.jpg"))
    photo.write_bytes(photo.read_bytes()[:-100] + b"\0" * 100)
    with pytest.raises(ModelIntegrityError, match="texture_bank/"):
        ModelRegistry.from_settings(tmp_path).verify(entry.id)


@pytest.fixture(scope="module")
def renderer() -> BankRenderer:
    entry = ModelRegistry().verify(DEFAULT_WORLD.model)
    drawing = PriorDrawing.from_conditioning(entry.path, entry.id, entry.conditioning)
    assert drawing is not None and drawing.bank is not None
    made = drawing.plan_renderer(PLAN_WORLD.seed)
    assert isinstance(made, BankRenderer)
    return made


def test_sampling_is_a_pure_function_of_position(renderer: BankRenderer) -> None:
    surface = renderer.photos.surface("savanna")
    rng = np.random.default_rng(3)
    nx, ny = rng.uniform(0, 1e6, 500), rng.uniform(0, 1e6, 500)
    whole = renderer.sample(surface, nx, ny, 0, 2)
    part = renderer.sample(surface, nx[100:200], ny[100:200], 0, 2)
    assert np.array_equal(whole[100:200], part)
    other_salt = renderer.sample(surface, nx, ny, 0, 3)
    assert not np.array_equal(whole, other_salt)


def test_sampled_texture_keeps_the_photographs_contrast(renderer: BankRenderer) -> None:
    """Blending must not wash the texture out: the synthesised detail is about as strong
    as the crops' own (a plain linear blend of three crops loses ~40 % of it)."""
    surface = renderer.photos.surface("forest")
    gy, gx = np.mgrid[0:256, 0:256]
    nx, ny = (gx + 0.5 + 50_000).ravel(), (gy + 0.5 + 70_000).ravel()
    image = renderer.sample(surface, nx, ny, 0, 1).reshape(256, 256, 3)
    synthesised = np.abs(np.diff(image.mean(2), axis=1)).mean()
    crops = surface.levels[0].astype(np.float64).mean(3)
    own = np.abs(np.diff(crops, axis=2)).mean()
    assert 0.75 * own <= synthesised <= 1.3 * own, (synthesised, own)


def test_a_coarser_level_is_the_area_mean_of_the_finer(renderer: BankRenderer) -> None:
    """What zoom z draws is what zoom z+1 draws, averaged (the pyramid is pre-filtered and
    the offsets keep texels aligned): z+1 refines z. From level 3 the sampler calms the
    crops' mean colours on purpose; the cascade keeps the zooms together there."""
    surface = renderer.photos.surface("grass")
    for level in (1, 2):
        size = 64
        gy, gx = np.mgrid[0:size, 0:size] + 900
        step = 2.0**level
        coarse = renderer.sample(
            surface, ((gx + 0.5) * step).ravel(), ((gy + 0.5) * step).ravel(), level, 3
        ).reshape(size, size, 3)
        fy, fx = np.mgrid[0 : 2 * size, 0 : 2 * size] + 1800
        fine = renderer.sample(
            surface, ((fx + 0.5) * step / 2).ravel(), ((fy + 0.5) * step / 2).ravel(), level - 1, 3
        ).reshape(2 * size, 2 * size, 3)
        down = fine.reshape(size, 2, size, 2, 3).mean((1, 3))
        error = np.abs(down - coarse).mean()
        assert error < 0.12 * np.abs(coarse - coarse.mean((0, 1))).mean() + 1.0, (level, error)


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> WorldPlan:
    spec = plan_spec(PLAN_WORLD)
    assert spec is not None
    return WorldPlan(spec, tmp_path_factory.mktemp("bank-plans"))


def test_a_rendered_tile_equals_the_same_area_of_a_larger_render(
    renderer: BankRenderer, plan: WorldPlan
) -> None:
    for zoom in (12, 15):
        tiles = PLAN_WORLD.tile_range(zoom)
        left = (tiles[0] + tiles[2]) // 2 * 256
        top = (tiles[1] + tiles[3]) // 2 * 256
        big = renderer.render(rasterize(plan, zoom, left - 64, top - 64, 384, 384, 256))
        tile = renderer.render(rasterize(plan, zoom, left, top, 256, 256, 256))
        assert np.array_equal(big[64:320, 64:320], tile)
        assert tile.std() > 10  # a picture, not a flat sheet


def test_a_refined_raster_holds_the_finer_zooms_pixel_centres(plan: WorldPlan) -> None:
    zoom = 12
    tiles = PLAN_WORLD.tile_range(zoom)
    left, top = (tiles[0] + tiles[2]) // 2 * 256, (tiles[1] + tiles[3]) // 2 * 256
    coarse = rasterize(plan, zoom, left, top, 32, 24, 256)
    fine = rasterize(plan, zoom + 1, 2 * left, 2 * top, 64, 48, 256)
    refined = coarse.refined()
    assert (refined.zoom, refined.left, refined.top) == (fine.zoom, fine.left, fine.top)
    assert refined.shape == fine.shape
    assert refined.footprint_m == pytest.approx(fine.footprint_m)
    np.testing.assert_allclose(refined.x, fine.x, rtol=0, atol=1e-9)
    np.testing.assert_allclose(refined.y, fine.y, rtol=0, atol=1e-9)
    # Plan fields are the parent pixel's, four times.
    assert np.array_equal(refined.classes[::2, ::2], coarse.classes)
    assert np.array_equal(refined.classes[1::2, 1::2], coarse.classes)
    assert np.array_equal(refined.roads["main"][1::2, ::2], coarse.roads["main"])


def test_renderer_4_draws_what_the_finer_zoom_averages_to(plan: WorldPlan) -> None:
    """The cascade locks each zoom's low frequencies to the zoom above, so whatever a zoom
    draws that its finer zoom does not average to is carried down as speckle. Renderer 4
    pre-filters: against renderer 3 (point samples) the gap is much smaller, without a
    colour bias (renderer 3's road corridors veiled z10-z11 in pale shoulder colour)."""
    point = bank_renderer("carana-sr@0.4.0", PLAN_WORLD.seed)
    filtered = [
        bank_renderer(f"carana-sr@0.{minor}.0", PLAN_WORLD.seed) for minor in (5, 6, 7, 8, 9)
    ]
    assert [point.version] + [r.version for r in filtered] == [3, 4, 5, 6, 7, 8]
    assert all(isinstance(r, PrefilteredBankRenderer) for r in filtered)
    (lon, lat), *_ = random_places(PLAN_WORLD, 1, seed=2)  # on land
    for zoom in (10, 12):
        mx, my = mercantile.xy(lon, lat)
        half = mercantile.CE / 2
        left = int((mx + half) / mercantile.CE * 256 * 2**zoom) - 48
        top = int((half - my) / mercantile.CE * 256 * 2**zoom) - 48
        coarse = rasterize(plan, zoom, left, top, 96, 96, 256)
        fine = rasterize(plan, zoom + 1, 2 * left, 2 * top, 192, 192, 256)
        land = coarse.classes != CLASS_INDEX["water"]
        assert land.mean() > 0.5
        gaps = {}
        for renderer in (point, *filtered):
            down = renderer.render(fine).reshape(96, 2, 96, 2, 3).mean((1, 3))
            gap = renderer.render(coarse)[land] - down[land]
            gaps[renderer.version] = (np.sqrt((gap**2).mean()), np.abs(gap.mean(0)).max())
        for version in (4, 5, 6, 7, 8):  # renderer 5's trees keep their area at every footprint
            assert gaps[version][0] < 0.7 * gaps[3][0], (zoom, gaps)
            assert gaps[version][1] < 2.0, (zoom, gaps)


def test_renderer_4_road_corridors_cover_their_own_width() -> None:
    """A road's cleared corridor covers 2 verges of ground: at 150 m/px a pixel on the road
    is 2 x 9 / 150 corridor, and a pixel the raster found no road near is none."""
    filtered = bank_renderer("carana-sr@0.5.0", PLAN_WORLD.seed)
    verge = np.array([9.0, 9.0, 9.0])
    near = np.array([0.0, 30.0, ROAD_NEAR_CAP_M])
    corridor = filtered._corridor(near, verge, 150.0)
    assert corridor[0] == pytest.approx(18.0 / 150.0)
    assert 0 < corridor[1] <= corridor[0]
    assert corridor[2] == 0.0
    # Renderer 3 (kept for carana-v3's published tiles) veils every pixel at this scale.
    assert bank_renderer("carana-sr@0.4.0", PLAN_WORLD.seed)._corridor(near, verge, 150.0)[2] > 0.0
