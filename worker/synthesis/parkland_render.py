"""Renderer 5: renderer 4 with what stands on the land, as it looks from above in the
tropical farmland and savanna a Carana-like country is made of.

- **Trees one by one.** Fields and savanna in such a country are parkland: single trees
  left standing in the fields (shea, baobab, acacia) and scattered through the grass,
  each a crown a few metres across with its shadow beside it, in clumps where the ground
  is wetter and towards the forest edge. Renderer 4 had only soft clumps of forest
  texture, which read as blobs. The trees are a jittered point process on a 30 m grid,
  a pure function of position; each crown is the forest photographs' own pixels.
- **Seasons by region.** A farm's fields share the season of the country around them (a
  slow regional field between green and dry stubble), instead of every field being a
  colour of its own: renderer 4's patchwork of yellow, green, red and grey neighbours.
- **Tracks where they go.** A track runs along some farm-block edges and stops, instead of
  a pale line round every block (which drew the Voronoi web of the layout).
- **Bare ground with cover.** Rock and soil hold grass and scrub in a mottle, not a flat
  blob of one photograph.
- **Lakes and sea** dark to the shore, their bottom showing only in a narrow rim, rippled by
  the water photographs' texture without their tones (renderer 4 laid the photographs'
  different tones over lakes as blotches kilometres across).
- **River banks.** Silty water in the brown and olive tones of a tropical river, and a
  patchy fringe of mud and sand at the water's edge.

Pre-filtering follows renderer 4: every new term is drawn with the pixel's footprint
(a crown smaller than a pixel keeps its area, not its contrast) and a coarse zoom is the
mean of the zoom below.
"""

from __future__ import annotations

import numpy as np

from core.classes import CLASS_INDEX
from core.noise import fractal_noise, hash_uniform
from core.plan.grid import CELLS
from core.plan.raster import M_PER_CELL, SUN_ALTITUDE_DEG, SUN_AZIMUTH_DEG, PlanRaster
from model_store.texture_bank import Surface
from worker.synthesis.bank_render import Fields, PrefilteredBankRenderer
from worker.synthesis.plan_render import FieldParcels, _band_coverage

TREE_CELL_M = 30.0  # one candidate tree per 30 m square: at most ~11 trees a hectare
CROWN_M = (3.5, 8.0)  # crown radius range; shea and baobab crowns are 7-16 m across
# Shadows fall away from the sun: a tree about twice as tall as its crown radius.
_SUN = np.radians(SUN_AZIMUTH_DEG)
_SHADOW_LENGTH = 2.0 / np.tan(np.radians(SUN_ALTITUDE_DEG))  # in crown radii
SHADOW_DX = -np.sin(_SUN) * _SHADOW_LENGTH * 0.6  # map x grows east, y south
SHADOW_DY = np.cos(_SUN) * _SHADOW_LENGTH * 0.6
_SHADOW_REACH = float(np.hypot(SHADOW_DX, SHADOW_DY))
_H = (np.arange(1000) + 0.5) / 1000  # crown radii are r0 + (r1 - r0) h^1.5, h uniform
MEAN_CROWN_AREA_M2 = float(np.mean(np.pi * (CROWN_M[0] + (CROWN_M[1] - CROWN_M[0]) * _H**1.5) ** 2))
SHADOW_DARK = 0.35  # what a tree's shadow takes from the ground's light

# Tree density (share of the 30 m candidates that hold a tree) by class.
PARKLAND = {
    "cropland": (0.15, 0.40),
    "grassland": (0.15, 0.65),
    "urban": (0.2, 0.45),
    "bare": (0.0, 0.1),  # a few bushes in the gullies
}

SEASON_WEIGHT = 0.6  # how far a field is pulled to its region's season
RIVER_WATER = np.array([92, 88, 62], np.float32)  # silty brown-olive
RIVER_DEEP = np.array([58, 66, 52], np.float32)
BANK_MUD = np.array([138, 122, 96], np.float32)
BANK_M = 7.0  # the fringe of mud and sand between the water and the gallery forest


class ParklandRenderer(PrefilteredBankRenderer):
    """Renderer 5 (module notes)."""

    version = 5
    season_weight = SEASON_WEIGHT
    field_gain = (0.95, 0.1)  # a field's own brightness: low + span x its hash
    sand_below = 0.3
    # A lake shows its bottom only along the shore: with renderer 4's 3 m, every rise of
    # the flooded relief under a wide lake showed as a pale blotch kilometres across.
    lake_rim_m = 0.6
    sea_shelf_m = 6.0  # likewise the sea: dark beyond the shallows along the coast

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The two ends of the season: green crops and grass, dry stubble and soil.
        surfaces = {name: self.photos.surface(name).means.mean(0) for name in self._names()}
        self._green = 0.5 * surfaces["crop"] + 0.5 * surfaces["grass"]
        self._dry = 0.6 * surfaces["savanna"] + 0.4 * surfaces["soil"]
        self._ripples = self.photos.surface("water").with_shared_mean()

    def _ripple_surface(self) -> Surface:
        # Water's detail without the photographs' own tones: the depth colours say how
        # dark water is, the photographs only how it ripples.
        return self._ripples

    @staticmethod
    def _names() -> tuple[str, ...]:
        return ("crop", "grass", "savanna", "soil")

    # -- fields ---------------------------------------------------------------------------

    def _season(
        self,
        colour: np.ndarray,
        fields: Fields,
        parcels: FieldParcels,
        u: np.ndarray,
        v: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        t = self._season_at(parcels, u, v)[:, None]
        tone = (self._green * (1 - t) + self._dry * t).astype(np.float32)
        low, span = self.field_gain
        gain = low + span * hash_uniform(fields.fid_x, fields.fid_y, self.seed + 1317)
        w = self.season_weight
        colour = ((1 - w) * colour + w * tone) * gain[:, None]
        return colour, (1 - w) * self._field_mean + w * tone

    def _season_at(self, parcels: FieldParcels, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Where the season stands (0: green crops and grass, 1: dry stubble and soil): a
        region's season drifts over ~8 km; a farm block leans a little its own way."""
        region = fractal_noise(u, v, 8.0, 2, self.seed + 1501)
        block = hash_uniform(parcels.block_i, parcels.block_j, self.seed + 1503)
        return np.clip((region - 0.5) * 2.2 + 0.5 + 0.25 * (block - 0.5), 0.0, 1.0)

    def _block_track(
        self, parcels: FieldParcels, u: np.ndarray, v: np.ndarray, fp: float
    ) -> np.ndarray:
        # Tracks follow a block edge for a few hundred metres and stop.
        runs = fractal_noise(u, v, 0.9, 2, self.seed + 1505)
        present = np.clip((runs - 0.52) * 10.0, 0.0, 1.0)
        return present * _band_coverage(parcels.block_edge_m, 3.5, fp)

    # -- bare ground -------------------------------------------------------------------------

    def _bare(
        self,
        raster: PlanRaster,
        where: np.ndarray,
        px: np.ndarray,
        py: np.ndarray,
        level: int,
        patches: np.ndarray,
    ) -> np.ndarray:
        # Bare ground in a savanna country is laterite soil and rock; pale sand only in
        # the driest hollows (renderer 4's sand share drew grey-white blobs on the plains).
        # It is seldom bare all over: grass and scrub hold in a mottle a few hundred metres
        # across, so a bare patch is not a flat blob of one photograph.
        bare = super()._bare(raster, where, px, py, level, patches)
        u, v = raster.x[where] / CELLS, raster.y[where] / CELLS
        mottle = fractal_noise(u, v, 0.35, 3, self.seed + 1511)
        held = np.clip((mottle - 0.4) * 3.0, 0.0, 0.8)[:, None]
        grass = self._grassland(raster, where, px, py, level, patches, burn=False)
        return bare * (1 - held) + grass * held

    # -- trees -----------------------------------------------------------------------------

    def _scatter(self, out: np.ndarray, raster: PlanRaster, clumps: np.ndarray) -> np.ndarray:
        return self._trees_one_by_one(self._banks(out, raster), raster, clumps)

    def _trees_one_by_one(
        self, out: np.ndarray, raster: PlanRaster, clumps: np.ndarray
    ) -> np.ndarray:
        density = self._tree_density(raster, clumps)
        land = density > 0
        if not land.any():
            return out
        mx = raster.x[land] * M_PER_CELL
        my = raster.y[land] * M_PER_CELL
        crown, shadow, tone = tree_cover(mx, my, density[land], raster.footprint_m, self.seed)
        grid = self.pixel_grid(raster)
        forest = self.sample(
            self.photos.surface("forest"), grid.nx[land], grid.ny[land], grid.level, 15
        )
        # A lone crown is lit all round, brighter than the canopy photographs it is cut from.
        trees = forest * (1.2 + 0.45 * tone)[:, None]
        ground = out[land] * (1.0 - SHADOW_DARK * shadow * (1.0 - crown))[:, None]
        out = out.copy()
        out[land] = ground * (1 - crown[:, None]) + trees * crown[:, None]
        return out

    def _tree_density(self, raster: PlanRaster, clumps: np.ndarray) -> np.ndarray:
        """Share of the tree candidates that hold a tree, per pixel (0 where none grow:
        forest is canopy already, water and bare ground have none)."""
        density = np.zeros(raster.shape, np.float32)
        # Clumped: denser where the clump field is low (the forest clumps' own field), by
        # rivers and towards the forest edge.
        near_forest = np.clip(1.0 + 6.0 * raster.forest_margin, 0.0, 1.0)
        lean = np.clip(0.9 - clumps, 0.0, 1.0) * 0.6 + 0.4 * np.maximum(
            near_forest, raster.river_near
        )
        for name, (low, high) in PARKLAND.items():
            where = raster.classes == CLASS_INDEX[name]
            density[where] = low + (high - low) * lean[where]
        wet = np.maximum(raster.water, raster.river)
        density *= 1.0 - np.clip(wet * 4.0, 0.0, 1.0)
        return density * (raster.slope < 0.35)

    # -- rivers ----------------------------------------------------------------------------

    def _river_water(self, raster: PlanRaster, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        # Brown-olive silty water, its tone drifting along the course between the silt
        # colour and a deeper olive.
        drift = fractal_noise(u, v, 0.5, 3, self.seed + 1507).astype(np.float32)
        t = np.clip((drift - 0.3) * 1.6, 0.0, 1.0)[..., None]
        return RIVER_WATER * (1 - t) + RIVER_DEEP * t

    def _banks(self, out: np.ndarray, raster: PlanRaster) -> np.ndarray:
        """Mud and sand at the water's edge: a band BANK_M wide outside a river's edge."""
        if not (raster.river > 0).any():
            return out
        # river_near is exp(-d / 120 m) of the distance d to a river's edge; within the
        # band d is 120 (1 - river_near) to 1 %. (No log: numpy's vectorised log rounds
        # differently from its scalar tail, so a pixel would depend on the canvas.)
        d = 120.0 * (1.0 - raster.river_near)
        fp = raster.footprint_m
        band = _band_coverage(d, 2.0 * BANK_M, fp) * (1.0 - raster.river)
        u, v = raster.x / CELLS, raster.y / CELLS
        patchy = np.clip((fractal_noise(u, v, 0.25, 2, self.seed + 1509) - 0.3) * 3.0, 0, 1)
        # (float32 like the picture: a float64 picture is averaged to the coarser zoom
        # through numpy's casting buffers, whose chunks, and so whose sums, follow the
        # canvas size.)
        band = (band * patchy * (1.0 - raster.water)).astype(np.float32)[..., None]
        return out * (1 - band) + BANK_MUD * band


def tree_cover(
    mx: np.ndarray, my: np.ndarray, density: np.ndarray, fp: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(crown coverage, shadow coverage, crown tone about 0..1 with its sunlit side higher)
    at positions in metres, for a pixel footprint ``fp``: a jittered grid of candidate
    trees, each present when its hash falls below the density. A crown smaller than a
    pixel is drawn a pixel wide at the contrast of its area (so the cover a coarse pixel
    holds is right, not speckled)."""
    cell = TREE_CELL_M
    if fp >= cell:
        # A pixel holds a tree or more: only their share of the ground is left to draw.
        cover = (density * MEAN_CROWN_AREA_M2 / cell**2).astype(np.float32)
        return cover, cover, np.full(mx.shape, 0.5, np.float32)
    ci, cj = np.floor(mx / cell).astype(np.int64), np.floor(my / cell).astype(np.int64)
    # Crowns and shadows combine as a union (1 - the product of what each leaves open):
    # solid crowns overlap as one, faint sub-pixel ones add up to the ground they cover.
    open_crown = np.ones(mx.shape, np.float64)
    open_shadow = np.ones(mx.shape, np.float64)
    tone = np.zeros(mx.shape, np.float64)
    lit = np.zeros(mx.shape, np.float64)
    weight = np.zeros(mx.shape, np.float64)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            gi, gj = ci + di, cj + dj
            present = hash_uniform(gi, gj, seed + 1601) < density
            tx = (gi + 0.1 + 0.8 * hash_uniform(gi, gj, seed + 1603)) * cell
            ty = (gj + 0.1 + 0.8 * hash_uniform(gi, gj, seed + 1605)) * cell
            r = CROWN_M[0] + (CROWN_M[1] - CROWN_M[0]) * hash_uniform(gi, gj, seed + 1607) ** 1.5
            c = _disc(np.hypot(mx - tx, my - ty), r, fp) * present
            s = _disc(np.hypot(mx - tx - SHADOW_DX * r, my - ty - SHADOW_DY * r), r, fp)
            open_crown *= 1.0 - c
            open_shadow *= 1.0 - s * present
            # The crown's sunlit side (towards the sun, away from its shadow) is brighter.
            towards = -((mx - tx) * SHADOW_DX + (my - ty) * SHADOW_DY) / (r * _SHADOW_REACH)
            tone += c * hash_uniform(gi, gj, seed + 1609)
            lit += c * np.clip(towards, -1.0, 1.0)
            weight += c
    weight = np.maximum(weight, 1e-9)
    # Sub-pixel crowns have no sides to light.
    lit *= float(np.clip(2.0 * CROWN_M[0] / fp - 0.5, 0.0, 1.0))
    tone = (tone + 0.5 * lit) / weight
    crown, shadow = 1.0 - open_crown, 1.0 - open_shadow
    return crown.astype(np.float32), shadow.astype(np.float32), tone.astype(np.float32)


def _disc(d: np.ndarray, r: np.ndarray, fp: float) -> np.ndarray:
    """Coverage of a pixel ``fp`` wide by a disc of radius r at distance d, keeping the
    disc's area: an edge ramp a pixel wide adds pi fp^2 / 12 to the area it covers, so the
    ramp sits at a radius that much smaller, and a disc too small for that is spread over a
    pixel-wide ramp at its area's weight."""
    ramp = fp * fp / 12.0
    reach = np.maximum(np.sqrt(np.maximum(r * r - ramp, 0.0)), 0.5 * fp)
    weight = np.minimum(1.0, r * r / (reach * reach + ramp))
    return np.clip((reach - d) / fp + 0.5, 0.0, 1.0) * weight
