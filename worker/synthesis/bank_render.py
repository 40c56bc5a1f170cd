"""Draw a world plan from photographs (renderer versions 3 and 4): the model's texture bank.

Renderer 2 (``plan_render.py``) paints the plan with flat colours and noise from colour
statistics; here every surface is the training photographs' own pixels, synthesised in
world coordinates by tiling and blending (Heitz & Neyret 2018): the plane is covered by a
triangle lattice (``HEX_PX`` native pixels a side); each lattice vertex picks a crop of the
surface and an offset into it from a hash of its coordinates, and a pixel blends the
three crops of its triangle with sharpened barycentric weights, keeping the texture's
variance (no washed-out bands). Offsets are multiples of ``SHIFT_PX``, so a level-k pixel
reads exactly the texel whose four children zoom z+1 reads: the pyramid's levels are
pre-filtered and z+1 refines z.

What the plan says is drawn as it looks from above:
- grassland is dry savanna, green grass or wetland by moisture, with clumps of trees that
  thicken towards the forest edge (an ecotone, not a hard class border) and burnt patches;
- forest is forest photographs; its edge is ragged where tree cover thins out;
- cropland is field parcels whose borders bend, each filled with a crop, fallow or soil
  photograph turned to the field's direction, with crop rows, bunds, hedges and tracks;
  where fields are small the smallholder photographs (real patchworks) show through;
- bare ground is rock on steep slopes, soil and sand elsewhere;
- towns are town photographs (roofs, yards, streets), industry in city centres;
- water keeps its depth colours with the water photographs' ripples; rivers carry silt;
- roads have a pale cleared corridor and a surface that contrasts with the land around.
Every term is a function of global position: neighbouring canvases agree.

Renderer 4 (``PrefilteredBankRenderer``) pre-filters what renderer 3 point-samples: the
cascade locks each zoom's low frequencies to the zoom above, so a coarse zoom must hold
what its finer zooms average to. Below the native zoom a pixel is the mean of its four
sub-pixels, drawn as zoom + 1 draws them; a pixel holding many fields keeps only the
share of their colour spread that an average of that many fields keeps (instead of the
colour of the one field at its centre, which the cascade carries down to z14 as coloured
speckle), and field margins count with the share of ground they cover; crop switching
between lattice vertices is calmed by how many vertices a pixel holds, not by a fixed
ramp; road corridors count by area.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.classes import CLASS_INDEX
from core.noise import fractal_noise, hash_uniform, value_noise
from core.plan.grid import CELLS
from core.plan.raster import M_PER_CELL, ROAD_NEAR_CAP_M, PlanRaster
from model_store.texture_bank import Surface, TextureBank
from model_store.texture_prior import TexturePrior
from worker.synthesis.plan_render import (
    HEDGE,
    FieldParcels,
    PlanRenderer,
    _band_coverage,
    field_parcels,
)

HEX_PX = 80.0  # lattice side in native pixels (~190 m at 2.4 m/px)
SHIFT_PX = 16  # offsets are multiples of this: exact texel alignment down to level 4
SHARPNESS = 3.0  # barycentric weights to this power: less ghosting than plain blending
STRUCTURED = 5.0  # towns: less ghosting of roofs, short of showing the lattice
SQRT3_2 = np.sqrt(3.0) / 2.0
REGION_CELLS = 40_075.0 / 6.0  # crops vary by region over ~6 km
ECOTONE = 12.0  # tree cover per unit of forest margin (moisture units): ~300 m wide

# Roads from above (sRGB): asphalt is dark with a pale shoulder; laterite roads are the
# bright orange-brown of the soil; tracks are pale, trodden ground.
ASPHALT = np.array([78, 78, 80], np.float32)
SHOULDER = np.array([190, 176, 150], np.float32)
LATERITE = np.array([196, 140, 100], np.float32)
TRACK = np.array([192, 172, 138], np.float32)
# Crops most, then fallow grass, dry fallow and bare ploughed soil.
FIELD_SHARES = (0.45, 0.25, 0.15, 0.15)
PARCEL_SEED = 13  # the field parcels are laid out with the world seed + this
SILT = np.array([72, 74, 60], np.float32)  # a tropical river carrying sediment
SAND_BAR = np.array([178, 164, 132], np.float32)
CHARCOAL = np.array([0.96, 0.94, 0.94], np.float32)  # burnt ground: a cooler grey


class BankRenderer(PlanRenderer):
    """Renders a ``PlanRaster`` from a texture bank (renderer 3); one per (bank, world seed)."""

    version = 3
    sand_below = 0.38  # bare ground is sand where the patch field lies below this

    def __init__(
        self,
        prior: TexturePrior,
        bank: TextureBank,
        world_seed: int,
        native_zoom: int,
        cell_px: int,
    ) -> None:
        super().__init__(prior, world_seed, native_zoom, cell_px)
        self.photos = bank
        self._field_surfaces = [bank.surface(name) for name in ("crop", "grass", "savanna", "soil")]
        self._field_tone = np.mean([s.means.mean(0) for s in self._field_surfaces], axis=0)
        # The mean colour of a field (before the farm's tone): the surfaces by their shares.
        weighted = zip(FIELD_SHARES, self._field_surfaces, strict=True)
        self._field_mean = np.sum([share * s.means.mean(0) for share, s in weighted], axis=0)
        self._field_mean /= np.sum(FIELD_SHARES)
        self._footprint = 1.0
        self._world_px = 256.0 * 2**native_zoom  # native pixels across the world
        self._orders: dict[str, np.ndarray] = {}

    # -- sampling ------------------------------------------------------------------------

    def sample(
        self,
        surface: Surface,
        nx: np.ndarray,
        ny: np.ndarray,
        level: int,
        salt: int,
        sharpness: float = SHARPNESS,
    ) -> np.ndarray:
        """Tiling and blending of ``surface`` at native-pixel positions (nx, ny), from its
        pyramid level ``level``: (N, 3) float32. Structured surfaces (towns) want a higher
        ``sharpness``: narrow transitions instead of ghosted roofs."""
        if level >= len(surface.levels):
            return np.broadcast_to(surface.means.mean(0), (len(nx), 3)).astype(np.float32)
        seed = self.seed + 9973 * salt
        lj = ny / (HEX_PX * SQRT3_2)
        li = nx / HEX_PX - 0.5 * lj
        i0, j0 = np.floor(li), np.floor(lj)
        f, g = li - i0, lj - j0
        i0, j0 = i0.astype(np.int64), j0.astype(np.int64)
        lower = f + g < 1.0
        vertices = (
            (np.where(lower, i0, i0 + 1), np.where(lower, j0, j0 + 1), np.abs(1.0 - f - g)),
            (np.where(lower, i0 + 1, i0), j0 + np.where(lower, 0, 1), np.where(lower, f, 1 - f)),
            (i0 + np.where(lower, 0, 1), np.where(lower, j0 + 1, j0), np.where(lower, g, 1 - g)),
        )
        textures = surface.levels[level]
        size = textures.shape[1]
        step = 2**level
        total = np.zeros((len(nx), 3), np.float64)
        mean = np.zeros((len(nx), 3), np.float64)
        weights = [w**sharpness for _, _, w in vertices]
        norm = np.maximum(sum(weights), 1e-9)
        weights = [w / norm for w in weights]
        weight_sq = sum(w * w for w in weights)
        choices = self._vertex_choices(surface, [(vi, vj) for vi, vj, _ in vertices], seed)
        for (pick, sx, sy), w in zip(choices, weights, strict=True):
            tx = np.clip(np.floor((nx + sx) / step), 0, size - 1).astype(np.int64)
            ty = np.clip(np.floor((ny + sy) / step), 0, size - 1).astype(np.int64)
            texel = textures[pick, ty, tx].astype(np.float64)
            mu = surface.means[pick]
            total += w[:, None] * (texel - mu)
            mean += w[:, None] * mu
        calm = self._calm(level)
        mean = (1 - calm) * mean + calm * surface.means.mean(0)
        return (mean + total / np.sqrt(weight_sq)[:, None]).astype(np.float32)

    def _vertex_choices(
        self, surface: Surface, vertices: list[tuple[np.ndarray, np.ndarray]], seed: int
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(crop, x shift, y shift) of each pixel's lattice vertex, for each of the pixels'
        vertex arrays (vi, vj).

        They depend on the vertex alone, and a canvas's pixels share a few thousand
        vertices: computed once per vertex of the block the pixels span, then looked up
        (each value comes from the same elementwise arithmetic either way: the same bits)."""
        count = len(vertices[0][0])
        if count == 0:
            return [self._choices_at(surface, vi, vj, seed) for vi, vj in vertices]
        i_lo = min(int(vi.min()) for vi, _ in vertices)
        j_lo = min(int(vj.min()) for _, vj in vertices)
        ni = max(int(vi.max()) for vi, _ in vertices) - i_lo + 1
        nj = max(int(vj.max()) for _, vj in vertices) - j_lo + 1
        if ni * nj >= count:  # scattered pixels: a block would hold more vertices than them
            return [self._choices_at(surface, vi, vj, seed) for vi, vj in vertices]
        grid_j, grid_i = np.divmod(np.arange(ni * nj, dtype=np.int64), ni)
        block = self._choices_at(surface, grid_i + i_lo, grid_j + j_lo, seed)
        looked_up = []
        for vi, vj in vertices:
            index = (vj - j_lo) * ni + (vi - i_lo)
            pick, sx, sy = (values[index] for values in block)
            looked_up.append((pick, sx, sy))
        return looked_up

    def _choices_at(
        self, surface: Surface, vi: np.ndarray, vj: np.ndarray, seed: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        vx, vy = (vi + 0.5 * vj) * HEX_PX, vj * HEX_PX * SQRT3_2
        # Which crop: neighbouring vertices pick crops of like tone (a regional noise over
        # the crops sorted by brightness, plus a little jitter), so a landscape changes
        # from one kind of ground to another instead of flickering.
        rank = self._crop_rank(vx, vy, seed) + 0.3 * (hash_uniform(vi, vj, seed + 1) - 0.5)
        rank = np.clip((rank * surface.count).astype(np.int64), 0, surface.count - 1)
        pick = self._order(surface)[rank]
        crop, reach = surface.crop_px, HEX_PX + SHIFT_PX
        ox = reach + hash_uniform(vi, vj, seed + 2) * (crop - 2 * reach)
        oy = reach + hash_uniform(vi, vj, seed + 3) * (crop - 2 * reach)
        sx = np.round((ox - vx) / SHIFT_PX) * SHIFT_PX
        sy = np.round((oy - vy) / SHIFT_PX) * SHIFT_PX
        return pick, sx, sy

    def _crop_rank(self, vx: np.ndarray, vy: np.ndarray, seed: int) -> np.ndarray:
        """Where a lattice vertex at native pixels (vx, vy) lies in its surface's crops
        from darkest (0) to brightest (1), before jitter: one octave of value noise over
        ~6 km, stretched so the darkest and brightest crops each hold whole regions."""
        region = value_noise(vx / self._world_px, vy / self._world_px, REGION_CELLS, seed + 4)
        return region * 1.5 - 0.25

    def _calm(self, level: int) -> float:
        """How far crop means are pulled to the surface's mean at a level. Coarse levels:
        a crop is a few pixels, so switching crops between lattice vertices reads as
        blotches of their mean colours; pull those means together there."""
        return min(max(level - 2, 0) * 0.25, 0.6)

    def _order(self, surface: Surface) -> np.ndarray:
        """The surface's crops from darkest to brightest."""
        if surface.name not in self._orders:
            self._orders[surface.name] = np.argsort(surface.means.mean(1), kind="stable")
        return self._orders[surface.name]

    def _oriented(
        self,
        surface: Surface,
        pick: np.ndarray,
        a_px: np.ndarray,
        b_px: np.ndarray,
        level: int,
    ) -> np.ndarray:
        """One crop per parcel read in the parcel's own frame (a along, b across, native
        pixels), mirrored at the crop's edges so a long field shows no seam."""
        if level >= len(surface.levels):
            return surface.means[pick]
        textures = surface.levels[level]
        size = textures.shape[1]
        tx = _mirror(np.floor(a_px / 2**level).astype(np.int64), size)
        ty = _mirror(np.floor(b_px / 2**level).astype(np.int64), size)
        return textures[pick, ty, tx].astype(np.float32)

    # -- the picture ---------------------------------------------------------------------

    def render(self, raster: PlanRaster) -> np.ndarray:
        """(H, W, 3) float32 RGB 0..255."""
        raster = self._land_cover(raster)
        height, width = raster.shape
        grid = self.pixel_grid(raster)
        level, nx, ny = grid.level, grid.nx, grid.ny
        u, v = raster.x / CELLS, raster.y / CELLS
        mx, my = raster.x * M_PER_CELL, raster.y * M_PER_CELL
        fp = raster.footprint_m
        self._footprint = fp
        classes = raster.classes
        seed = self.seed
        out = np.zeros((height, width, 3), np.float32)

        # Tree cover, continuous across the forest/grassland border: a clumped field that
        # is high inside forest, thins out over a few hundred metres of savanna.
        clumps = fractal_noise(u, v, 0.05, 3, seed + 1201).astype(np.float32)
        margin = raster.forest_margin
        patches = fractal_noise(u, v, 5.0, 3, seed + 1203).astype(np.float32)
        regional = fractal_noise(u, v, 9.0, 2, seed + 1205).astype(np.float32)

        for name in ("grassland", "forest", "bare", "cropland", "urban"):
            where = classes == CLASS_INDEX[name]
            if not where.any():
                continue
            px, py = nx[where], ny[where]
            if name == "grassland":
                colour = self._grassland(raster, where, px, py, level, patches[where])
                # Outside the forest, trees thin out over a few hundred metres (ecotone).
                cover = np.clip(0.45 + ECOTONE * margin[where], 0.0, 0.6)
                colour = self._trees(colour, px, py, level, clumps[where], cover)
            elif name == "forest":
                colour = self.sample(self.photos.surface("forest"), px, py, level, 1)
                # Ragged edges: just inside the forest, gaps of grass open up.
                # Forest the procedural rule does not carry (steep slopes, a scenario's
                # polygon) is closed canopy.
                m = margin[where]
                cover = np.maximum(
                    np.clip(0.6 + ECOTONE * m, 0.6, 1.0), np.clip((-m - 0.03) * 40.0, 0.0, 1.0)
                )
                gaps = self._grassland(raster, where, px, py, level, patches[where])
                colour = self._mix_clumps(gaps, colour, clumps[where], cover)
            elif name == "bare":
                colour = self._bare(raster, where, px, py, level, patches[where])
            elif name == "cropland":
                colour = self._fields(
                    mx[where], my[where], u[where], v[where], fp, px, py, level, regional[where]
                )
                # Trees left standing between fields near the forest edge.
                cover = np.clip(0.3 + ECOTONE * margin[where], 0.0, 0.4)
                colour = self._trees(colour, px, py, level, clumps[where], cover)
            else:
                colour = self._town(raster, where, px, py, level, patches[where])
            out[where] = colour

        out = self._scatter(out, raster, clumps)
        land = classes != CLASS_INDEX["water"]
        out = self._beach(out, raster)
        shade = 1.0 + 1.1 * (raster.shade - 1.0)
        out *= np.clip(np.where(land, shade, 1.0), 0.45, 1.5)[..., None]
        out = self._water_photo(out, raster, nx, ny, level)
        out = self._roads_v3(out, raster)
        return out

    def _land_cover(self, raster: PlanRaster) -> PlanRaster:
        """The raster whose classes are drawn (renderers 3-7: the plan's own)."""
        return raster

    def _scatter(self, out: np.ndarray, raster: PlanRaster, clumps: np.ndarray) -> np.ndarray:
        """What stands on the land once every class is drawn (renderer 3: nothing)."""
        return out

    # -- land ----------------------------------------------------------------------------

    def _grassland(
        self,
        raster: PlanRaster,
        where: np.ndarray,
        px: np.ndarray,
        py: np.ndarray,
        level: int,
        patches: np.ndarray,
        burn: bool = True,
    ) -> np.ndarray:
        """Dry savanna where it is dry, green grass where it is wet, wetland on low wet
        ground by rivers; burnt patches here and there (dry-season fires)."""
        moisture = raster.moisture[where]
        dry = self.sample(self.photos.surface("savanna"), px, py, level, 2)
        green = self.sample(self.photos.surface("grass"), px, py, level, 3)
        t = np.clip((moisture - 0.38 + 0.25 * (patches - 0.5)) / 0.25, 0.0, 1.0)[:, None]
        colour = dry * (1 - t) + green * t
        wet = np.clip((raster.river_near[where] - 0.55) * 3.0, 0.0, 1.0)
        wet = wet * (raster.slope[where] < 0.05)
        if wet.any():
            marsh = self.sample(self.photos.surface("wetland"), px, py, level, 4)
            colour = colour * (1 - wet[:, None]) + marsh * wet[:, None]
        if not burn:
            return colour
        burnt = np.clip((patches - 0.78) * 12.0, 0.0, 1.0) * np.clip((0.5 - moisture) * 4, 0, 1)
        # Burnt ground is charcoal over the same texture, not a paint blob.
        return colour * (1.0 - 0.5 * burnt)[:, None] * CHARCOAL

    def _trees(
        self,
        ground: np.ndarray,
        px: np.ndarray,
        py: np.ndarray,
        level: int,
        clumps: np.ndarray,
        cover: np.ndarray,
    ) -> np.ndarray:
        if not (cover > 0).any():
            return ground
        trees = self.sample(self.photos.surface("forest"), px, py, level, 5)
        return self._mix_clumps(ground, trees, clumps, cover)

    def _mix_clumps(
        self, ground: np.ndarray, trees: np.ndarray, clumps: np.ndarray, cover: np.ndarray
    ) -> np.ndarray:
        """Trees where the clump field lies below the cover fraction: clumps that grow and
        merge as cover rises (soft edged, a few metres wide). Where a pixel is larger than
        a clump, the pixel takes the cover fraction itself (no speckle)."""
        threshold = 0.25 + 0.5 * cover  # the clump noise lies mostly in 0.25..0.75
        mask = np.clip((threshold - clumps) * 14.0 + 0.5, 0.0, 1.0)
        detail = float(np.clip(90.0 / self._footprint - 0.6, 0.0, 1.0))
        mask = detail * mask + (1 - detail) * cover
        mask = np.where(cover >= 0.999, 1.0, mask)[:, None]
        return ground * (1 - mask) + trees * mask

    def _bare(
        self,
        raster: PlanRaster,
        where: np.ndarray,
        px: np.ndarray,
        py: np.ndarray,
        level: int,
        patches: np.ndarray,
    ) -> np.ndarray:
        soil = self.sample(self.photos.surface("soil"), px, py, level, 6)
        sand = self.sample(self.photos.surface("sand"), px, py, level, 12)
        # Sandy where the patch field is low (old river beds, dunes of the dry plains).
        sandy = np.clip((self.sand_below - patches) * 6.0, 0.0, 1.0)[:, None]
        soil = soil * (1 - sandy) + sand * sandy
        rock = self.sample(self.photos.surface("rock"), px, py, level, 7)
        steep = np.clip((raster.slope[where] - 0.12) * 6.0 + (patches - 0.5), 0.0, 1.0)
        high = np.clip((raster.elevation[where] - 1500.0) / 400.0, 0.0, 1.0)
        t = np.maximum(steep, high)[:, None]
        return soil * (1 - t) + rock * t

    def _fields(
        self,
        mx: np.ndarray,
        my: np.ndarray,
        u: np.ndarray,
        v: np.ndarray,
        fp: float,
        px: np.ndarray,
        py: np.ndarray,
        level: int,
        regional: np.ndarray,
    ) -> np.ndarray:
        """Field parcels with bent borders, each a photograph of a crop, fallow or soil,
        turned to the field's direction; small fields show the smallholder patchworks."""
        seed = self.seed
        wx, wy = self._warped(mx, my, u, v)
        parcels = self._parcels(wx, wy, u, v, seed + PARCEL_SEED)
        fields = _split_fields(parcels, seed)
        fid_x, fid_y = fields.fid_x, fields.fid_y
        which, position = self._field_choice(fields, parcels, u, v)
        theta = parcels.theta
        cos_t, sin_t = np.cos(theta), np.sin(theta)
        native_m = M_PER_CELL * CELLS / (256.0 * 2**self.native_zoom)
        a_px = (wx * cos_t + wy * sin_t) / native_m
        b_px = (-wx * sin_t + wy * cos_t) / native_m
        colour = np.zeros((len(mx), 3), np.float32)
        for index, surface in enumerate(self._field_surfaces):
            sel = which == index
            if not sel.any():
                continue
            pick = self._field_photo(surface, position[sel])
            colour[sel] = self._oriented(surface, pick, a_px[sel], b_px[sel], level)
        colour, expected = self._season(colour, fields, parcels, u, v)
        keep = self._field_share(fields, fp)
        if keep is not None:
            colour = expected + keep[:, None] * (colour - expected)
        # Crop rows across the field, faded out once a pixel spans a row.
        period = 2.5 + 3.5 * hash_uniform(fid_x, fid_y, seed + 1319)
        fade = np.clip(1.0 - 1.5 * fp / period, 0.0, 1.0) * (which == 0)
        colour = colour * (1.0 + 0.14 * fade * np.sin(2 * np.pi * parcels.across / period))[:, None]
        colour = self._margins(colour, fields, parcels, regional, keep, fp, u, v, px, py, level)
        track = self._block_track(parcels, u, v, fp)[:, None]
        return colour * (1 - track) + TRACK * track

    def _field_choice(
        self, fields: Fields, parcels: FieldParcels, u: np.ndarray, v: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Which of the field surfaces each pixel's field is drawn from (an index into
        FIELD_SHARES) and where among that surface's photographs (0..1, in the order
        ``_field_photo_order`` gives): here both by the field's hash alone."""
        pick_surface = hash_uniform(fields.fid_x, fields.fid_y, self.seed + 1311)
        shares = np.cumsum(FIELD_SHARES)
        which = np.searchsorted(shares, pick_surface * shares[-1])
        return which, hash_uniform(fields.fid_x, fields.fid_y, self.seed + 1313)

    def _field_photo(self, surface: Surface, position: np.ndarray) -> np.ndarray:
        """The photograph of ``surface`` at ``_field_choice``'s positions (0..1)."""
        pick = np.minimum((position * surface.count).astype(np.int64), surface.count - 1)
        order = self._field_photo_order(surface)
        return pick if order is None else order[pick]

    def _field_photo_order(self, surface: Surface) -> np.ndarray | None:
        """The order ``_field_choice``'s positions read a surface's photographs in
        (None: the bank's)."""
        return None

    def _warped(
        self, mx: np.ndarray, my: np.ndarray, u: np.ndarray, v: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Where the parcel pattern reads Mercator metres (mx, my): borders bend, the
        pattern is laid out on gently warped ground."""
        bend = 320.0
        wx = mx + bend * (fractal_noise(u, v, 1.6, 3, self.seed + 1301) - 0.5)
        wy = my + bend * (fractal_noise(u, v, 1.6, 3, self.seed + 1303) - 0.5)
        return wx, wy

    def _parcels(
        self, wx: np.ndarray, wy: np.ndarray, u: np.ndarray, v: np.ndarray, seed: int
    ) -> FieldParcels:
        """The field parcels at (warped) Mercator metres (wx, wy)."""
        return field_parcels(wx, wy, u, v, seed)

    def _margins(
        self,
        colour: np.ndarray,
        fields: Fields,
        parcels: FieldParcels,
        regional: np.ndarray,
        keep: np.ndarray | None,
        fp: float,
        u: np.ndarray,
        v: np.ndarray,
        px: np.ndarray,
        py: np.ndarray,
        level: int,
    ) -> np.ndarray:
        """Field margins: bunds (light) or hedges and tree lines (dark). Smallholder regions
        have hedged plots, commercial ones open bunds. (``px, py, level``: where the
        pixels read the bank, for margins drawn from photographs.)"""
        hedged = 0.15 + 0.6 * np.clip((regional - 0.35) * 3.0, 0.0, 1.0)
        hedge = hash_uniform(parcels.block_i, parcels.block_j, self.seed + 1321) < hedged
        width_m = np.where(hedge, 5.0, 2.0)
        line = _band_coverage(fields.edge_m, width_m, fp)
        if keep is not None:
            # Where a pixel holds many fields, their margins cover width / size of it.
            ground = np.clip(width_m * (1 / fields.width_m + 1 / fields.length_m), 0.0, 1.0)
            line = ground + keep * (line - ground)
        line = line[:, None]
        margin = np.where(hedge[:, None], HEDGE * 0.9, TRACK * 0.92)
        return colour * (1 - line) + margin * line

    def _season(
        self,
        colour: np.ndarray,
        fields: Fields,
        parcels: FieldParcels,
        u: np.ndarray,
        v: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fields' colours pulled to what their farm shares (soil, season), and the colour
        a field is expected to have there (what many fields average to)."""
        gain = 0.9 + 0.2 * hash_uniform(fields.fid_x, fields.fid_y, self.seed + 1317)
        # Fields of one farm share its soil and season: a quarter of the block's tone.
        colour = 0.75 * colour + 0.25 * self._field_tone
        colour = colour * gain[:, None]
        return colour, 0.75 * self._field_mean + 0.25 * self._field_tone

    def _block_track(
        self, parcels: FieldParcels, u: np.ndarray, v: np.ndarray, fp: float
    ) -> np.ndarray:
        """Coverage of the tracks between farm blocks: along every block edge."""
        return _band_coverage(parcels.block_edge_m, 5.0, fp)

    def _corridor(self, road_near: np.ndarray, verge_m: np.ndarray, fp: float) -> np.ndarray:
        """Share of a pixel in a road's cleared corridor. Drawn at least half a pixel wide,
        at the contrast its true width gives: a line of constant weight across zooms rather
        than a vanishing hairline. (Where a pixel is wider than twice the raster's distance
        cap, every pixel counts as near a road: a pale veil over z10-z11; renderer 4 mends
        it.)"""
        reach = np.maximum(verge_m, 0.5 * fp)
        return np.clip((reach - road_near) / fp + 0.5, 0, 1) * np.minimum(
            1.0, (2 * verge_m + 8.0) / fp
        )

    def _field_share(self, fields: Fields, fp: float) -> np.ndarray | None:
        """How much of a field's own colour a pixel keeps (None: all of it, renderer 3)."""
        return None

    def _town(
        self,
        raster: PlanRaster,
        where: np.ndarray,
        px: np.ndarray,
        py: np.ndarray,
        level: int,
        patches: np.ndarray,
    ) -> np.ndarray:
        """Town photographs where it is built up, thinning into yards and fields at the
        edge; industry and large roofs in the dense centre of cities."""
        density = raster.urban[where]
        town = self.sample(self.photos.surface("town"), px, py, level, 9, STRUCTURED)
        ground = self._grassland(raster, where, px, py, level, patches, burn=False)
        built = np.clip((density - 0.3) * 2.5 + 0.3 * (patches - 0.5), 0.0, 1.0)
        colour = ground * (1 - built[:, None]) + town * built[:, None]
        core = np.clip((density - 0.85) * 8.0, 0.0, 1.0) * (patches > 0.55)
        if (core > 0).any():
            industry = self.sample(self.photos.surface("industry"), px, py, level, 10, STRUCTURED)
            colour = colour * (1 - core[:, None]) + industry * core[:, None]
        return colour

    # -- water and roads -----------------------------------------------------------------

    def _water_photo(
        self, out: np.ndarray, raster: PlanRaster, nx: np.ndarray, ny: np.ndarray, level: int
    ) -> np.ndarray:
        """Water by depth (renderer 2's colours) with the water photographs' ripples; rivers
        silty, the same photographs' surface."""
        wet = (raster.water > 0) | (raster.river > 0)
        if not wet.any():
            return out
        water = self._ripple_surface()
        ripples = np.zeros(out.shape, np.float32)
        detail = self.sample(water, nx[wet], ny[wet], level, 11)
        ripples[wet] = detail - water.means.mean(0)
        out = self._water(out, raster)  # depth colours, lakes and rivers as renderer 2
        # Rivers: silty water whose tone drifts along the course, sandbars where it is
        # shallow (a noise field, pale sand), not a uniform tube.
        u, v = raster.x / CELLS, raster.y / CELLS
        silt = self._river_water(raster, u, v)
        river = raster.river[..., None]
        out = out * (1 - river) + silt * river
        return out + 0.8 * ripples * np.maximum(raster.water, raster.river)[..., None]

    def _ripple_surface(self) -> Surface:
        """The photographs whose detail ripples water: renderer 3's carry their own tones,
        which the regional crop choice lays over lakes as blotches kilometres across."""
        return self.photos.surface("water")

    def _river_water(self, raster: PlanRaster, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """A river's colour: silty water whose tone drifts along the course, sandbars
        where it is shallow (a noise field, pale sand)."""
        drift = fractal_noise(u, v, 0.4, 3, self.seed + 1401).astype(np.float32)
        bars = np.clip((fractal_noise(u, v, 0.12, 3, self.seed + 1403) - 0.68) * 8.0, 0, 1)
        silt = SILT * (0.85 + 0.3 * drift)[..., None]
        return silt * (1 - bars[..., None]) + SAND_BAR * bars[..., None]

    def _roads_v3(self, out: np.ndarray, raster: PlanRaster) -> np.ndarray:
        """A cleared corridor either side of a road (pale), then the surface. A line less
        than a pixel wide keeps its contrast as coverage: at 38 m/px a main road is a
        visible grey line, as it is in Landsat-class imagery."""
        fp = raster.footprint_m
        main, minor = raster.roads["main"], raster.roads["minor"]
        verge_m = np.where(main > minor, 9.0, 5.0)
        corridor = self._corridor(raster.road_near, verge_m, fp)
        verge = (corridor * (1 - raster.water))[..., None] * 0.9
        out = out * (1 - verge) + SHOULDER * verge
        for kind, colour in (("track", TRACK), ("minor", LATERITE), ("main", ASPHALT)):
            cover = raster.roads[kind][..., None]
            out = out * (1 - cover) + colour * cover
        return out


class PrefilteredBankRenderer(BankRenderer):
    """Renderer 4: renderer 3 with every term pre-filtered to the pixel (module notes)."""

    version = 4

    def render(self, raster: PlanRaster) -> np.ndarray:
        # Each pixel is the mean of its four sub-pixels (drawn as zoom + 1 would draw
        # them), so a coarse zoom holds what its finer zoom averages to: the cascade adds
        # each zoom's finest octave, and a point-sampled one would carry its aliasing down
        # as coloured speckle. The native zoom has no finer level to average.
        if raster.zoom >= self.native_zoom:
            return super().render(raster)
        fine = super().render(raster.refined())
        height, width = raster.shape
        return fine.reshape(height, 2, width, 2, 3).mean((1, 3), dtype=np.float32)

    def _calm(self, level: int) -> float:
        # A level-k pixel spans 2**k native pixels; it holds n lattice vertices, and the
        # mean of n independent crop means keeps 1/sqrt(1 + n) of their spread.
        vertices = (2.0**level / HEX_PX) ** 2 / SQRT3_2
        return 1.0 - 1.0 / np.sqrt(1.0 + vertices)

    def _corridor(self, road_near: np.ndarray, verge_m: np.ndarray, fp: float) -> np.ndarray:
        # The verge either side of the road's edge, by area: a band 2 verges wide centred
        # on the edge (its inner half lies under the road surface, drawn over it). The
        # raster caps its distance to roads: a capped pixel is no road's neighbour.
        far = road_near >= ROAD_NEAR_CAP_M - 1e-3
        return np.where(far, 0.0, _band_coverage(road_near, 2.0 * verge_m, fp))

    def _field_share(self, fields: Fields, fp: float) -> np.ndarray | None:
        # A pixel fp wide over fields w x l holds fp^2 / (w l) of them; their mean keeps
        # sqrt(w l) / fp of one field's spread around the expected colour.
        return np.clip(np.sqrt(fields.width_m * fields.length_m) / fp, 0.0, 1.0)


@dataclass(frozen=True)
class Fields:
    """The fields renderer 3 cuts from the parcels' strips."""

    fid_x: np.ndarray
    fid_y: np.ndarray
    edge_m: np.ndarray  # distance to the field's edge
    width_m: np.ndarray  # the field's own size across and along
    length_m: np.ndarray


def _split_fields(parcels: FieldParcels, seed: int) -> Fields:
    """Cut the parcels' regular strips further, each field in two at a random point across
    and (more often) along, so neighbouring fields differ in width and length: no brick
    wall of identical strips."""
    fid_x, fid_y = parcels.fid_x, parcels.fid_y
    cut_across = hash_uniform(fid_x, fid_y, seed + 1331) < 0.45
    at_across = (0.25 + 0.5 * hash_uniform(fid_x, fid_y, seed + 1333)) * parcels.width_m
    cut_along = hash_uniform(fid_x, fid_y, seed + 1337) < 0.65
    at_along = (0.2 + 0.6 * hash_uniform(fid_x, fid_y, seed + 1339)) * parcels.length_m
    second_across = cut_across & (parcels.across_in_m > at_across)
    second_along = cut_along & (parcels.along_in_m > at_along)
    far = np.float64(1e9)
    edge = np.minimum(
        parcels.edge_m,
        np.minimum(
            np.where(cut_across, np.abs(parcels.across_in_m - at_across), far),
            np.where(cut_along, np.abs(parcels.along_in_m - at_along), far),
        ),
    )
    width = np.where(
        cut_across, np.where(second_across, parcels.width_m - at_across, at_across), parcels.width_m
    )
    length = np.where(
        cut_along, np.where(second_along, parcels.length_m - at_along, at_along), parcels.length_m
    )
    return Fields(fid_x * 2 + second_across, fid_y * 2 + second_along, edge, width, length)


def _mirror(index: np.ndarray, size: int) -> np.ndarray:
    """Indices reflected into 0..size-1 (…, 1, 0, 0, 1, …, size-1, size-1, …)."""
    period = 2 * size
    t = np.mod(index, period)
    return np.where(t < size, t, period - 1 - t)


__all__ = ["BankRenderer", "Fields", "PrefilteredBankRenderer"]
