"""Renderer 7: renderer 6 with field systems that read as cadastres, not brick walls.

Looked at as a person would, renderer 6's cropland at z16 was a brick wall: a farm block
cut into strips of one width, every strip's fields the same length and staggered like
courses of bricks, and every field outlined by the same line (a 2 m pale bund, or in
smallholder regions a 5 m dark hedge round every plot). In real imagery of a smallholder
landscape at 2.4 m a plot shows by its tone against the plots beside it; some have a
grass bund, some a broken line of trees or shrubs, most nothing one can see.

Here:
- strips in a block differ in width (each strip boundary moved by up to a third of the
  block's strip width, independently of its neighbours), and each strip has its own field
  length, so ends no longer line up in courses;
- a field has a margin of its own or not: a light grass bund (its own colour, brighter)
  on a share of fields, a tree line on a share that grows towards smallholder regions,
  broken into clumps along its length; the rest show only their edge against the next
  field. Below the native zoom, margins count with the share of ground they cover, as in
  renderer 4.
Everything else is renderer 6's.

Renderer 8 (``FieldBoundaryRenderer``): looked at beside held-out photographs at 10 m
(zoom 14), renderer 7's fields without margins read as blotches of tone: in real imagery
nearly every field edge shows, as a grass strip, a bund, a path or a line of trees, even
where the fields beside it have the same crop. So most fields get a margin of their own:
a tree line as in renderer 7, or a strip of dry grass drawn from the bank's savanna
photographs (their texture, not a flat line), whose width differs from field to field
(1.5-6 m, narrow ones most often), so that no two plots are outlined alike; a few run
into the next field with nothing between.
Fields also keep more of their own photograph: renderer 5 pulled every field 60 % of the
way to its region's season, so neighbouring plots differed by a third of what plots do in
the photographs (the spread of 38 m block means of luminance over cropland: 0.13 in a
renderer-7 render, 0.13-0.25 in the training and held-out photographs). Here a field is
pulled 30 % of the way, and its own brightness varies by +-15 % (crop stage, soil,
stubble) instead of +-5 %.
And farmland ends where a field ends: the plan's cropland is where a smooth noise field
passes a threshold, so renderers 3-7 cut fields along that curve, round patches of
cropland with their fields sliced off at the rim. Renderer 8 decides near the threshold
field by field: a parcel is cropland, whole, where the farmed field at its centre passes
the threshold, grassland where not (the pixel's farm layer, which is smooth over
kilometres, with the patch noise at the parcel's centre as its pixels estimate it).
A strip is a band centred on the field's edge, as renderer 7's bunds are: half of it lies
in the field, half in the next, which draws its own.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from core.classes import CLASS_INDEX
from core.noise import EARTH_KM, hash_uniform, value_noise
from core.plan.grid import CELLS
from core.plan.raster import CROPLAND_SLOPE, M_PER_CELL, PlanRaster, cultivation_patch
from worker.synthesis.bank_render import PARCEL_SEED, Fields
from worker.synthesis.plan_render import (
    HEDGE,
    FieldParcels,
    _band_coverage,
    block_fields,
    farm_blocks,
)
from worker.synthesis.region_render import OrganicRegionRenderer

STRIP_JITTER = 0.33  # how far a strip boundary moves, in strip widths (< 0.5: in order)
FIELD_LENGTH_SPREAD = (0.55, 1.6)  # a strip's field length against the block's
BUND_SHARE = 0.3  # fields with a visible grass bund
BUND_M, BUND_LIFT = 1.5, 1.12  # its width, and how much brighter than the field it is
TREE_LINE_M = 4.0
TREE_LINE_SHARE = (0.08, 0.4)  # fields with a tree line: commercial to smallholder regions
CLUMP_M = 14.0  # trees along a line stand in clumps about this long
CLUMP_COVER = 0.5  # the share of a tree line's length its clumps cover (measured)


def _boundary(strip: np.ndarray, block_key: np.ndarray, seed: int) -> np.ndarray:
    """Where strip boundary ``strip`` lies, in strip widths from the block's centre."""
    return strip + STRIP_JITTER * (2.0 * hash_uniform(strip, block_key, seed) - 1.0)


def cadastral_parcels(
    mx: np.ndarray, my: np.ndarray, u: np.ndarray, v: np.ndarray, seed: int
) -> FieldParcels:
    """Renderer 6's farm blocks, field angles and sizes (``block_fields``), cut into strips
    of varied width with each strip's own field length (see the module's text)."""
    blocks = farm_blocks(mx, my, seed)
    block_hash, theta, block_width_m, block_length_m = block_fields(blocks, u, v, seed)
    block_key = blocks.block_i * 7919 + blocks.block_j
    cos_t, sin_t = np.cos(theta), np.sin(theta)
    rx, ry = mx - blocks.centre_x, my - blocks.centre_y
    a = rx * cos_t + ry * sin_t
    across = -rx * sin_t + ry * cos_t
    t = across / block_width_m  # across, in strip widths
    strip = np.floor(t).astype(np.int64)
    # The strip holding t: boundaries move by less than half a width, so it is this one
    # or a neighbour.
    strip = np.where(t < _boundary(strip, block_key, seed + 1701), strip - 1, strip)
    strip = np.where(t >= _boundary(strip + 1, block_key, seed + 1701), strip + 1, strip)
    low = _boundary(strip, block_key, seed + 1701)
    high = _boundary(strip + 1, block_key, seed + 1701)
    width_m = (high - low) * block_width_m
    across_in_m = (t - low) * block_width_m
    lo, hi = FIELD_LENGTH_SPREAD
    length_m = block_length_m * (lo + (hi - lo) * hash_uniform(strip, block_key, seed + 1703))
    along = a + hash_uniform(strip, block_key, seed + 619) * length_m
    cut = np.floor(along / length_m).astype(np.int64)
    along_in_m = along - cut * length_m
    edge_b = np.minimum(across_in_m, width_m - across_in_m)
    edge_a = np.minimum(along_in_m, length_m - along_in_m)
    return FieldParcels(
        block_i=blocks.block_i,
        block_j=blocks.block_j,
        block_hash=block_hash,
        theta=theta,
        width_m=width_m,
        fid_x=blocks.block_i * 4096 + strip,
        fid_y=blocks.block_j * 4096 + cut,
        across=across,
        edge_m=np.minimum(edge_a, edge_b),
        block_edge_m=blocks.edge_m,
        across_in_m=across_in_m,
        along_in_m=along_in_m,
        length_m=length_m,
    )


class FieldSystemRenderer(OrganicRegionRenderer):
    """Renderer 7 (see the module's text)."""

    version = 7

    def _parcels(
        self, wx: np.ndarray, wy: np.ndarray, u: np.ndarray, v: np.ndarray, seed: int
    ) -> FieldParcels:
        return cadastral_parcels(wx, wy, u, v, seed)

    def _tree_lines(
        self,
        fields: Fields,
        regional: np.ndarray,
        keep: np.ndarray | None,
        fp: float,
        u: np.ndarray,
        v: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tree-line coverage, each field's margin pick 0..1, the share of fields with a
        tree line): picks below the share (more towards smallholder regions) have a tree
        line broken into clumps; below the native zoom they count by the ground they cover."""
        lo, hi = TREE_LINE_SHARE
        tree_share = lo + (hi - lo) * np.clip((regional - 0.35) * 3.0, 0.0, 1.0)
        pick = hash_uniform(fields.fid_x, fields.fid_y, self.seed + 1721)
        clumps = value_noise(u, v, EARTH_KM * 1000.0 / CLUMP_M, self.seed + 1723)
        clumps = np.clip((clumps - 0.5) * 4.0 + 0.5, 0.0, 1.0)
        trees = _band_coverage(fields.edge_m, TREE_LINE_M, fp) * clumps * (pick < tree_share)
        if keep is not None:
            per_m = 1 / fields.width_m + 1 / fields.length_m
            ground = np.clip(TREE_LINE_M * per_m * tree_share * CLUMP_COVER, 0.0, 1.0)
            trees = ground + keep * (trees - ground)
        return trees, pick, tree_share

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
        trees, pick, tree_share = self._tree_lines(fields, regional, keep, fp, u, v)
        bund = (pick >= tree_share) & (pick < tree_share + BUND_SHARE)
        grass = _band_coverage(fields.edge_m, BUND_M, fp) * bund
        if keep is not None:
            # Where a pixel holds many fields, their margins cover width / size of it.
            per_m = 1 / fields.width_m + 1 / fields.length_m
            ground_grass = np.clip(BUND_M * per_m * BUND_SHARE, 0.0, 1.0)
            grass = ground_grass + keep * (grass - ground_grass)
        trees, grass = trees[:, None], grass[:, None]
        lifted = np.minimum(colour * BUND_LIFT, 255.0)
        return colour * (1 - trees - grass) + HEDGE * 0.9 * trees + lifted * grass


EDGE_SHARE = 0.9  # fields whose edge shows a margin (tree line or grass strip)
GRASS_STRIP_M = (1.5, 6.0)  # a grass strip's width, per field; narrow ones most often
STRIP_LIFT = 1.1  # the savanna photographs 10 % brighter: sun-bleached grass on a bund
FIELD_SEASON_WEIGHT = 0.3  # how far a field is pulled to its region's season (renderer 5: 0.6)
FIELD_GAIN = 0.15  # a field's own brightness, +- (renderer 5: 0.05)
# How near the cropland threshold (farm units) the land cover is decided field by field:
# the patch term changes by less than this across nearly every parcel (a few large
# commercial fields reach past it and stay cut).
FIELD_BY_FIELD = 0.12


class FieldBoundaryRenderer(FieldSystemRenderer):
    """Renderer 8 (see the module's text): renderer 7 with a margin on most fields."""

    version = 8
    season_weight = FIELD_SEASON_WEIGHT
    field_gain = (1.0 - FIELD_GAIN, 2.0 * FIELD_GAIN)

    def _land_cover(self, raster: PlanRaster) -> PlanRaster:
        # Near the threshold, each parcel takes the class its centre's farming gives it.
        crop, grass = CLASS_INDEX["cropland"], CLASS_INDEX["grassland"]
        classes = raster.classes
        near = (
            ((classes == crop) | (classes == grass))
            & (np.abs(raster.crop_margin) < FIELD_BY_FIELD)
            & (raster.slope < CROPLAND_SLOPE)
        )
        if not near.any():
            return raster
        u, v = raster.x[near] / CELLS, raster.y[near] / CELLS
        mx, my = raster.x[near] * M_PER_CELL, raster.y[near] * M_PER_CELL
        wx, wy = self._warped(mx, my, u, v)
        parcels = self._parcels(wx, wy, u, v, self.seed + PARCEL_SEED)
        # The parcel's centre, from the pixel (the warp is smooth over a field).
        da = parcels.along_in_m - 0.5 * parcels.length_m
        db = parcels.across_in_m - 0.5 * parcels.width_m
        cos_t, sin_t = np.cos(parcels.theta), np.sin(parcels.theta)
        per_unit = 1.0 / (M_PER_CELL * CELLS)  # world units per Mercator metre
        uc = u + (-da * cos_t + db * sin_t) * per_unit
        vc = v + (-da * sin_t - db * cos_t) * per_unit
        patch_shift = cultivation_patch(uc, vc, self.seed) - cultivation_patch(u, v, self.seed)
        at_centre = raster.crop_margin[near] + 0.6 * patch_shift
        decided = classes.copy()
        decided[near] = np.where(at_centre > 0, crop, grass)
        return replace(raster, classes=decided)

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
        trees, pick, tree_share = self._tree_lines(fields, regional, keep, fp, u, v)
        strip = (pick >= tree_share) & (pick < EDGE_SHARE)
        narrow, wide = GRASS_STRIP_M
        strip_m = (
            narrow
            + (wide - narrow) * hash_uniform(fields.fid_x, fields.fid_y, self.seed + 1725) ** 2
        )
        grass = _band_coverage(fields.edge_m, strip_m, fp) * strip
        if keep is not None:
            # Where a pixel holds many fields, their margins cover width / size of it
            # (the strips' mean width: narrow + (wide - narrow) / 3).
            per_m = 1 / fields.width_m + 1 / fields.length_m
            mean_strip_m = narrow + (wide - narrow) / 3.0
            ground_grass = np.clip(mean_strip_m * per_m * (EDGE_SHARE - tree_share), 0.0, 1.0)
            grass = ground_grass + keep * (grass - ground_grass)
        grass = np.minimum(grass, 1.0 - trees)
        out = colour * (1 - trees - grass)[:, None] + HEDGE * 0.9 * trees[:, None]
        show = grass > 0
        if show.any():
            verge = self.sample(self.photos.surface("savanna"), px[show], py[show], level, 17)
            out[show] += np.minimum(verge * STRIP_LIFT, 255.0) * grass[show, None]
        return out
