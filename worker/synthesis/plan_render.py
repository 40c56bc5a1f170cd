"""Draw a world plan as imagery: the texture prior's colours and textures over the plan's
layers (renderer version 2).

The plan (core.plan) says *what* is where: relief, water, rivers, roads, towns, land use.
This module says what it looks like, from the model's texture prior (statistics of the
training imagery): irregular field parcels in many crop colours with bunds, hedges and
crop rows; forest and savanna with mottling at several scales and tree crowns up close;
towns with a street grid turned per town and houses whose density falls off from the
centre; rivers, lakes and a sea whose colour follows its depth; roads with their verges;
and hillshading over all land. Every term is a function of global position, anti-aliased
to the pixel footprint, so neighbouring canvases agree and zoom z+1 refines zoom z.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.classes import CLASS_INDEX
from core.layout import ASPHALT, BUND, CLASS_BASE_COLOURS, LATERITE, RIVER
from core.noise import fractal_noise, hash_uniform, value_noise
from core.plan.grid import CELLS
from core.plan.raster import M_PER_CELL, PlanRaster
from model_store.texture_prior import TexturePrior
from worker.synthesis.texture_render import TREES, TextureRenderer, box_coverage, crown_cells

# Water: deep sea, shallow sea (over sand), lake, river (carrying silt).
DEEP_SEA = np.array([16, 42, 66], np.float32)
SHALLOW_SEA = np.array([58, 104, 110], np.float32)
LAKE = np.array([28, 52, 58], np.float32)
SAND = np.array([196, 182, 150], np.float32)
VERGE = np.array([172, 152, 120], np.float32)  # cleared, trodden ground
STREET = np.array([150, 124, 104], np.float32)  # laterite and dust
HEDGE = np.array([52, 66, 38], np.float32)
ROOFS = np.array(
    [
        (178, 182, 186),  # galvanised iron
        (150, 156, 162),
        (132, 86, 62),  # rusted iron
        (170, 96, 70),  # clay tiles
        (196, 190, 178),  # concrete
        (110, 108, 104),
        (150, 130, 100),  # thatch
    ],
    np.float32,
)
HOUSE_LOT_M, BLOCK_M, STREET_M = 14.0, 110.0, 9.0


@dataclass(frozen=True)
class PixelGrid:
    """A raster's pixels for a renderer: the texture level of its zoom, native pixels per
    pixel, global pixel indices (gx, gy) and pixel centres in native pixels (nx, ny),
    where every renderer version reads its textures."""

    level: int
    scale: float
    gx: np.ndarray
    gy: np.ndarray
    nx: np.ndarray
    ny: np.ndarray


class PlanRenderer:
    """Renders a ``PlanRaster`` with a texture prior; one per (prior, world seed)."""

    lake_rim_m = 3.0  # a lake shows its bottom (lighter) where shallower than this
    sea_shelf_m = 25.0  # the sea darkens from shallow to deep over this depth

    def __init__(
        self, prior: TexturePrior, world_seed: int, native_zoom: int, cell_px: int
    ) -> None:
        self.textures = TextureRenderer(prior, world_seed, native_zoom, cell_px)
        self.seed = world_seed
        self.native_zoom = native_zoom
        banks = self.textures.banks
        fallback = next(iter(banks.values()))
        self.bank = {cls: banks.get(cls, fallback) for cls in CLASS_INDEX}
        crop = self.bank["cropland"].means
        # Field colours: the training cropland textures' own colours, plus fallow (grass),
        # ploughed soil (bare ground, darker) and a lush green crop.
        self.field_palette = np.vstack(
            [
                crop,
                self.bank["grassland"].mean_colour[None],
                self.bank["bare"].mean_colour[None] * np.array([0.85, 0.8, 0.78], np.float32),
                self.bank["bare"].mean_colour[None] * 1.05,
                self.bank["forest"].mean_colour[None] * np.array([1.5, 1.7, 1.3], np.float32),
            ]
        ).astype(np.float32)
        # Calmer than the raw textures' means: fields differ, but not like paint swatches.
        mean = self.field_palette.mean(0)
        self.field_palette = 0.7 * self.field_palette + 0.3 * mean

    def pixel_grid(self, raster: PlanRaster) -> PixelGrid:
        """Where the raster's pixels lie: global pixel indices and native-pixel centres."""
        height, width = raster.shape
        scale = 2.0 ** (self.native_zoom - raster.zoom)
        gy, gx = np.mgrid[raster.top : raster.top + height, raster.left : raster.left + width]
        return PixelGrid(
            max(self.native_zoom - raster.zoom, 0),
            scale,
            gx,
            gy,
            (gx + 0.5) * scale,
            (gy + 0.5) * scale,
        )

    def render(self, raster: PlanRaster) -> np.ndarray:
        """(H, W, 3) float32 RGB 0..255."""
        height, width = raster.shape
        grid = self.pixel_grid(raster)
        level, scale, gx, gy, nx, ny = grid.level, grid.scale, grid.gx, grid.gy, grid.nx, grid.ny
        cell = self.textures.cell_px
        wxy = (nx / cell, ny / cell)
        warp_x = wxy[0] + 0.45 * (_vn(wxy[0] * 0.5, wxy[1] * 0.5, self.seed + 31) - 0.5)
        warp_y = wxy[1] + 0.45 * (_vn(wxy[0] * 0.5, wxy[1] * 0.5, self.seed + 37) - 0.5)
        fp = raster.footprint_m
        mx, my = raster.x * M_PER_CELL, raster.y * M_PER_CELL  # metres
        u, v = raster.x / CELLS, raster.y / CELLS

        parcel_detail = float(np.clip((cell / scale - 2.0) / 6.0, 0.0, 1.0))
        out = np.zeros((height, width, 3), np.float32)
        classes = raster.classes
        # Large-scale mottling (soil, moisture, burn scars): what keeps coarse zooms from
        # reading as flat class colour.
        mottle = (
            fractal_noise(u, v, 6.0, 3, self.seed + 501)
            - 0.5
            + 0.6 * (fractal_noise(u, v, 0.7, 3, self.seed + 503) - 0.5)
        ).astype(np.float32)
        for name in ("forest", "grassland", "bare", "cropland", "urban"):
            where = classes == CLASS_INDEX[name]
            if not where.any():
                continue
            bank = self.bank[name]
            args = (gx[where], gy[where])
            warped = (warp_x[where], warp_y[where])
            if name == "cropland":
                colour = self._fields(mx[where], my[where], u[where], v[where], fp, *args, level)
            else:
                colour = self.textures._blended(bank, *args, *warped, level=level)
                # Parcels of a few pixels would alias into speckle: fade them to the class
                # colour (the mottling below carries the variation at coarse zooms).
                colour = parcel_detail * colour + (1 - parcel_detail) * bank.mean_colour
                if name == "bare":
                    # Bare ground here is dry soil between grass, not the training set's
                    # deserts and quarries: their colour, at a third of their contrast.
                    colour = 0.35 * colour + 0.65 * (bank.mean_colour * 0.92 + 8.0)
                if name == "grassland":
                    # Savanna: greener where wetter, tan where dry.
                    dry = np.clip((0.55 - raster.moisture[where]) * 3.0, 0.0, 1.0)[:, None]
                    colour = (
                        colour * (1 - 0.6 * dry) + self.bank["bare"].mean_colour * 0.95 * 0.6 * dry
                    )
                if name == "urban":
                    colour = self._town(raster, where, colour, mx[where], my[where], fp)
                colour = colour * (1.0 + 0.35 * mottle[where])[:, None]
            if name in TREES:
                spacing, share = TREES[name]
                if name == "grassland":
                    share = share * (0.4 + 1.6 * raster.moisture[where])
                colour = self._crowns(colour, nx[where], ny[where], scale, spacing, share)
            out[where] = colour

        land = classes != CLASS_INDEX["water"]
        # A beach strip above the sea, then hillshade over all land (not over water).
        out = self._beach(out, raster)
        shade = 1.0 + 1.2 * (raster.shade - 1.0)
        out *= np.clip(np.where(land, shade, 1.0), 0.45, 1.5)[..., None]
        out = self._water(out, raster)
        out = self._roads(out, raster)
        return out

    # -- land -----------------------------------------------------------------------------

    def _crowns(
        self,
        image: np.ndarray,
        nx: np.ndarray,
        ny: np.ndarray,
        footprint: float,
        spacing: float,
        share: float | np.ndarray,
    ) -> np.ndarray:
        """Tree crowns (native-pixel units): lumpy outlines, lit from the north-west with
        leaf clumps inside, a soft shadow to the south-east; clustered, not evenly strewn.
        At most one crown per ``spacing`` cell, the four nearest cells drawn in a fixed
        order; crowns smaller than a pixel fade into the ground's tone."""
        seed = self.seed
        forest = self.bank["forest"].mean_colour
        u, v = nx / (spacing * 9.0), ny / (spacing * 9.0)
        clustered = share * (0.25 + 1.5 * _vn(u, v, seed + 431))
        for cx, cy, dx, dy, radius in crown_cells(nx, ny, spacing, seed, 0.28, 0.3):
            present = hash_uniform(cx, cy, seed + 401) < clustered
            angle = np.arctan2(dy, dx)
            phase = hash_uniform(cx, cy, seed + 423) * 6.283
            lumpy = radius * (
                1 + 0.16 * np.sin(3 * angle + phase) + 0.1 * np.sin(5 * angle + 2 * phase)
            )
            d = np.hypot(dx, dy)
            crown = np.clip((lumpy - d) / footprint + 0.5, 0, 1) * present
            sx, sy = dx - 0.55 * radius, dy - 0.55 * radius
            shadow = np.clip((lumpy - np.hypot(sx, sy)) / (footprint + 0.3 * radius) + 0.5, 0, 1)
            visible = np.clip(2 * radius / footprint, 0, 1) ** 2
            light = 1 + 0.4 * np.clip(-(dx + dy) / (1.4 * radius), -1, 1)
            clumps = 0.85 + 0.3 * _vn(nx / 2.5 + 17.0 * cx, ny / 2.5, seed + 427)
            tone = (0.75 + 0.5 * hash_uniform(cx, cy, seed + 421)) * clumps
            image = image * (1 - 0.5 * (shadow * present * (1 - crown) * visible)[:, None])
            cover = (crown * visible)[:, None]
            image = image * (1 - cover) + forest * (light * tone)[:, None] * cover
        return image

    def _fields(
        self,
        mx: np.ndarray,
        my: np.ndarray,
        u: np.ndarray,
        v: np.ndarray,
        fp: float,
        gx: np.ndarray,
        gy: np.ndarray,
        level: int,
    ) -> np.ndarray:
        """Irregular field parcels (``field_parcels``) in many crop colours, with bunds or
        hedges between fields and tracks between blocks. Fields narrower than a pixel take
        their block's colour (no speckle)."""
        seed = self.seed
        parcels = field_parcels(mx, my, u, v, seed)
        fid_x, fid_y, b = parcels.fid_x, parcels.fid_y, parcels.across
        field_w, hb = parcels.width_m, parcels.block_hash
        pick = hash_uniform(fid_x, fid_y, seed + 621)
        n = len(self.field_palette)
        colour = self.field_palette[np.minimum((pick * n).astype(np.int64), n - 1)]
        colour = colour * (0.82 + 0.36 * hash_uniform(fid_x, fid_y, seed + 623))[:, None]
        block_pick = np.minimum((hb * 7.31 % 1 * n).astype(np.int64), n - 1)
        block_colour = 0.5 * self.field_palette[block_pick] + 0.5 * self.field_palette.mean(0)
        visible = np.clip(field_w / fp - 0.5, 0.0, 1.0)[:, None]
        colour = visible * colour + (1 - visible) * block_colour
        bank = self.bank["cropland"]
        _, texture = self.textures._parcel(bank, fid_x, fid_y, gx, gy, level)
        # Crop rows, faded out once a pixel spans a row.
        period = 3.0 + 4.0 * hash_uniform(fid_x, fid_y, seed + 627)
        fade = np.clip(1.0 - fp / period, 0.0, 1.0)
        rows = 1.0 + 0.1 * fade * np.sin(2 * np.pi * b / period)
        image = colour * rows[:, None] + 0.55 * texture
        # Field edges: bunds (light) or hedges (dark), and tracks between blocks.
        hedge = hash_uniform(parcels.block_i, parcels.block_j, seed + 629) < 0.35
        width_m = np.where(hedge, 4.0, 1.5)
        line = _band_coverage(parcels.edge_m, width_m, fp)[:, None]
        image = image * (1 - line) + np.where(hedge[:, None], HEDGE, BUND) * line
        track = _band_coverage(parcels.block_edge_m, 4.0, fp)[:, None]
        return image * (1 - track) + BUND * 1.05 * track

    def _town(
        self,
        raster: PlanRaster,
        where: np.ndarray,
        ground: np.ndarray,
        mx: np.ndarray,
        my: np.ndarray,
        fp: float,
    ) -> np.ndarray:
        """Blocks on a street grid turned per town; each block two rows of lots facing its
        streets, a house near the front of most lots (fewer away from the centre); in the
        centre some blocks are one large building, here and there a block is open ground."""
        seed = self.seed
        density = raster.urban[where]
        angle = raster.town_angle[where]
        cos_t, sin_t = np.cos(angle), np.sin(angle)
        a = mx * cos_t + my * sin_t
        b = -mx * sin_t + my * cos_t
        block_a, block_b = BLOCK_M, BLOCK_M * 0.65
        ia, ib = np.floor(a / block_a), np.floor(b / block_b)
        pa, pb = a - ia * block_a, b - ib * block_b  # position inside the block
        ia, ib = ia.astype(np.int64), ib.astype(np.int64)
        kind = hash_uniform(ia, ib, seed + 711)
        # Yards: the ground, calmer and a little greener than open land.
        ground = 0.55 * ground + 0.45 * CLASS_BASE_COLOURS[CLASS_INDEX["grassland"]] * 1.1
        # Two rows of lots; each house sits behind a small setback from its street.
        half = block_b / 2
        front = pb < half
        depth_from_street = np.where(front, pb, block_b - pb)
        lot = np.floor(pa / HOUSE_LOT_M).astype(np.int64)
        lot_id = (ia * 64 + lot) * 2 + front
        h1 = hash_uniform(lot_id, ib, seed + 701)
        h2 = hash_uniform(lot_id, ib, seed + 703)
        occupied = h1 < 0.2 + 0.8 * np.clip(density * 1.25, 0.0, 1.0)
        margin = 1.2 + 2.5 * h2
        setback = STREET_M / 2 + 1.0 + 3.0 * hash_uniform(lot_id, ib, seed + 705)
        house_depth = 7.0 + 9.0 * hash_uniform(lot_id, ib, seed + 707)
        centre_a = (lot + 0.5) * HOUSE_LOT_M
        built = box_coverage(pa, centre_a, HOUSE_LOT_M / 2 - margin, fp) * box_coverage(
            depth_from_street, setback + house_depth / 2, house_depth / 2, fp
        )
        built = built * occupied
        roof_index = np.minimum(hash_uniform(lot_id, ib, seed + 709) * len(ROOFS), len(ROOFS) - 1)
        roof = ROOFS[roof_index.astype(int)]
        # Large buildings (markets, schools, warehouses) fill central blocks.
        big = (kind < 0.22) & (density > 0.75)
        big_cover = box_coverage(pa, block_a / 2, block_a / 2 - STREET_M, fp) * box_coverage(
            pb, half, half - STREET_M, fp
        )
        built = np.where(big, big_cover, built)
        roof = np.where(
            big[:, None], ROOFS[np.minimum((kind * 31 % 1 * 3).astype(int), 2) + 3], roof
        )
        # Open blocks (a pitch, a market square, waste ground): no houses.
        open_block = (kind > 0.93) & ~big
        built = np.where(open_block, 0.0, built)
        ground = np.where(open_block[:, None], self.bank["bare"].mean_colour * 1.05, ground)
        # Pitched roofs: the half facing away from the light is darker.
        roof = roof * np.where(depth_from_street > setback + house_depth / 2, 0.82, 1.0)[:, None]
        image = ground * (1 - built[:, None]) + roof * built[:, None]
        street = np.maximum(
            _band_coverage(np.minimum(pa, block_a - pa), STREET_M, fp),
            _band_coverage(np.minimum(pb, block_b - pb), STREET_M, fp),
        )
        # Streets fade out with the town: its edge is houses along tracks.
        street = street * np.clip(density * 1.6, 0.25, 1.0)
        return image * (1 - street[:, None]) + STREET * street[:, None]

    def _beach(self, out: np.ndarray, raster: PlanRaster) -> np.ndarray:
        """A strip of sand just above the sea."""
        sand = raster.sea & (raster.elevation > -0.5) & (raster.elevation < 1.2)
        cover = np.where(sand, np.clip(1.0 - raster.water, 0, 1), 0.0)[..., None]
        return out * (1 - cover) + SAND * cover

    # -- water and roads --------------------------------------------------------------------

    def _water(self, out: np.ndarray, raster: PlanRaster) -> np.ndarray:
        water_bank = self.bank["water"].mean_colour
        deep = 0.5 * DEEP_SEA + 0.5 * water_bank
        t = np.clip(raster.depth / self.sea_shelf_m, 0.0, 1.0)[..., None]
        sea = SHALLOW_SEA * (1 - t) + deep * t
        # Lakes: dark; a narrow shallow rim shows the bottom (greener, browner).
        lake_t = np.clip(raster.depth / self.lake_rim_m, 0.0, 1.0)[..., None]
        deep_lake = 0.6 * LAKE + 0.4 * water_bank
        lake = deep_lake * lake_t + (0.7 * deep_lake + 0.3 * RIVER * 1.2) * (1 - lake_t)
        colour = np.where(raster.sea[..., None], sea, lake)
        u, v = raster.x / CELLS, raster.y / CELLS
        ripple = 1.0 + 0.06 * (fractal_noise(u, v, 2.0, 3, self.seed + 801) - 0.5)
        colour = colour * ripple[..., None]
        cover = raster.water[..., None]
        out = out * (1 - cover) + colour * cover
        river = raster.river[..., None]
        return out * (1 - river) + RIVER * river

    def _roads(self, out: np.ndarray, raster: PlanRaster) -> np.ndarray:
        fp = raster.footprint_m
        # The cleared verge either side (a few metres of bare ground), then the surface.
        # A main road clears ~10 m either side, a minor one ~5 m: that corridor is what
        # makes roads visible at 30 m/px, where the surface alone is a third of a pixel.
        main, minor = raster.roads["main"], raster.roads["minor"]
        verge_m = np.where(main > minor, 10.0, 5.0)
        corridor = np.clip((verge_m - raster.road_near) / fp + 0.5, 0, 1) * np.minimum(
            1.0, (2 * verge_m + 8.0) / fp
        )
        verge = (corridor * (1 - raster.water))[..., None] * 0.9
        out = out * (1 - verge) + VERGE * verge
        track = raster.roads["track"][..., None]
        out = out * (1 - track) + BUND * track
        minor = raster.roads["minor"][..., None]
        out = out * (1 - minor) + LATERITE * minor
        main = raster.roads["main"][..., None]
        return out * (1 - main) + ASPHALT * main


@dataclass
class FieldParcels:
    """Which field each position lies in, and how far it is from the field's edges."""

    block_i: np.ndarray  # farm block (Voronoi cell) ids
    block_j: np.ndarray
    block_hash: np.ndarray
    theta: np.ndarray  # the block's field orientation (radians)
    width_m: np.ndarray  # field width across the strips
    fid_x: np.ndarray  # field ids
    fid_y: np.ndarray
    across: np.ndarray  # position across the strips (metres, block frame)
    edge_m: np.ndarray  # distance to the field's edge
    block_edge_m: np.ndarray  # distance to the block's edge
    # Where in its field a position lies (renderer 3 cuts fields further with these).
    across_in_m: np.ndarray  # from the strip's start, across (0..width_m)
    along_in_m: np.ndarray  # from the field's start, along (0..length_m)
    length_m: np.ndarray


FARM_BLOCK_M = 1000.0


@dataclass
class FarmBlocks:
    """Which farm block (a Voronoi cell of jittered points ~1 km apart) a position is in."""

    block_i: np.ndarray
    block_j: np.ndarray
    centre_x: np.ndarray  # the block's point, Mercator metres
    centre_y: np.ndarray
    edge_m: np.ndarray  # distance to the block's edge


def block_site(ci: np.ndarray, cj: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Where farm block (ci, cj)'s Voronoi site lies (Mercator metres)."""
    sx = (ci + 0.1 + 0.8 * hash_uniform(ci, cj, seed + 601)) * FARM_BLOCK_M
    sy = (cj + 0.1 + 0.8 * hash_uniform(ci, cj, seed + 603)) * FARM_BLOCK_M
    return sx, sy


def farm_blocks(mx: np.ndarray, my: np.ndarray, seed: int) -> FarmBlocks:
    block_m = FARM_BLOCK_M
    bi, bj = np.floor(mx / block_m).astype(np.int64), np.floor(my / block_m).astype(np.int64)
    best = np.full(mx.shape, np.inf)
    second = np.full(mx.shape, np.inf)
    best_i, best_j = bi.copy(), bj.copy()
    best_px, best_py = mx.copy(), my.copy()
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            ci, cj = bi + di, bj + dj
            sx, sy = block_site(ci, cj, seed)
            d = np.hypot(mx - sx, my - sy)
            closer = d < best
            second = np.where(closer, best, np.minimum(second, d))
            best = np.where(closer, d, best)
            best_i, best_j = np.where(closer, ci, best_i), np.where(closer, cj, best_j)
            best_px, best_py = np.where(closer, sx, best_px), np.where(closer, sy, best_py)
    return FarmBlocks(best_i, best_j, best_px, best_py, (second - best) / 2.0)


def block_fields(
    blocks: FarmBlocks, u: np.ndarray, v: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(block hash, field angle, field width, field length) of each position's farm block."""
    hb = hash_uniform(blocks.block_i, blocks.block_j, seed + 607)
    grain = fractal_noise(u, v, 30.0, 2, seed + 609) * np.pi * 2.0
    theta = grain + (hash_uniform(blocks.block_i, blocks.block_j, seed + 611) - 0.5) * 0.7
    theta = theta + np.where(hb < 0.3, np.pi / 2, 0.0)
    # Field widths from smallholder strips (~25 m) to commercial fields (~400 m).
    field_w = 25.0 + 380.0 * hash_uniform(blocks.block_i, blocks.block_j, seed + 613) ** 2.2
    field_l = field_w * (1.2 + 2.6 * hash_uniform(blocks.block_i, blocks.block_j, seed + 617))
    return hb, theta, field_w, field_l


def field_parcels(
    mx: np.ndarray,
    my: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    seed: int,
    blocks: FarmBlocks | None = None,
) -> FieldParcels:
    """Farm blocks are Voronoi cells of jittered points (~1 km); each block is cut into
    strips of fields at its own angle (a regional grain plus the block's own turn) and its
    own field size, each strip's fields shifted along it, like cadastral patterns that
    grew field by field. Positions in Mercator metres (mx, my) and world units (u, v);
    ``blocks``: their farm blocks, if already known."""
    blocks = blocks if blocks is not None else farm_blocks(mx, my, seed)
    best_i, best_j = blocks.block_i, blocks.block_j
    hb, theta, field_w, field_l = block_fields(blocks, u, v, seed)
    cos_t, sin_t = np.cos(theta), np.sin(theta)
    rx, ry = mx - blocks.centre_x, my - blocks.centre_y
    a = rx * cos_t + ry * sin_t
    b = -rx * sin_t + ry * cos_t
    strip = np.floor(b / field_w).astype(np.int64)
    shift = hash_uniform(strip, best_i * 7919 + best_j, seed + 619) * field_l
    along = a + shift
    cut = np.floor(along / field_l).astype(np.int64)
    edge_b = np.minimum(b - strip * field_w, (strip + 1) * field_w - b)
    edge_a = np.minimum(along - cut * field_l, (cut + 1) * field_l - along)
    return FieldParcels(
        block_i=best_i,
        block_j=best_j,
        block_hash=hb,
        theta=theta,
        width_m=field_w,
        fid_x=best_i * 4096 + strip,
        fid_y=best_j * 4096 + cut,
        across=b,
        edge_m=np.minimum(edge_a, edge_b),
        block_edge_m=blocks.edge_m,
        across_in_m=b - strip * field_w,
        along_in_m=along - cut * field_l,
        length_m=field_l,
    )


def _vn(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Value noise with one lattice cell per unit of (x, y)."""
    return value_noise(x, y, 1.0, seed)


def _band_coverage(distance: np.ndarray, width: float | np.ndarray, fp: float) -> np.ndarray:
    """Share of a pixel (``fp`` wide, its centre ``distance`` from a line) covered by a band
    of ``width`` centred on the line: anti-aliased at every zoom."""
    half = np.asarray(width) / 2.0
    overlap = np.minimum(distance + fp / 2, half) - np.maximum(distance - fp / 2, -half)
    return np.clip(overlap / fp, 0.0, 1.0)


__all__ = ["FarmBlocks", "PlanRenderer", "block_fields", "farm_blocks", "field_parcels"]
