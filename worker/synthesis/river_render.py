"""Renderer 9: renderer 8 with river beds. A river reads as a bed of sand with its
low-water thread winding through it, not as a tube of one width and one tone.

The plan draws a channel bank-full: one band of the line's width. The rivers of a wet-dry
tropical country are seldom bank-full. In the dry season the water runs in a thread that
swings from one bank to the other inside a bed of pale sand, splits round bars, and fills
the bed again where a pool lies. Renderer 8 filled the whole band with water, so every
river read as a tube: at z16 a grey strip like a road, at z14 a dark stripe.

Here the plan raster says where a pixel lies across its channel (``channel_offset``,
``channel_half``: out to twice the channel's half width), and the river follows its stage
along the course (a noise over ~1.5 km):

- the bed is the plan's channel where the river is full, and up to twice as wide where
  the water is low (the sand the floods spread), its edges wavering;
- the water is a thread in the bed, from a fifth of the channel's width at low water to
  all of it, whose centre swings from one side of the bed to the other over a few
  hundred metres, always inside it; bars of sand split it where it is wide and shallow;
- the water is the silty olive of renderer 5, darker where the thread is deep; the rest
  of the bed is washed sand (the sand photographs' texture on a pale tone), darker
  where it is wet beside the water.

Banks and gallery trees outside the bed are renderer 8's. Every term is a pure function
of position, drawn at the pixel's footprint like the rest (a thread narrower than a pixel
keeps its share of the pixel, not its contrast).
"""

from __future__ import annotations

import numpy as np

from core.noise import fractal_noise
from core.plan.grid import CELLS
from core.plan.raster import PlanRaster
from worker.synthesis.field_render import FieldBoundaryRenderer

STAGE_KM = 1.5  # how far along a river its stage (the thread's width) changes
SWING_KM = 0.45  # how far along it the thread swings from one bank to the other
THREAD_SHARE = (0.2, 1.0)  # the thread's width as a share of the channel's: low, full
BED_WIDENS = 1.5  # a river's bed at low water, in channel widths (x 1.3 of waver: under
# the raster's CHANNEL_REACH)
BED_WAVER_KM = 0.08  # the scale of the ragged edges of a bed
STREAM_HALF_M = 6.0  # channels up to this half width are streams, twice it rivers
DEEP_DARK = 0.25  # what depth takes from the water's light in the thread's middle
BAR_KM = 0.12  # the size of the sand bars that split a wide, shallow thread
WET_SAND_DARK = 0.3  # what wetness takes from the sand's light beside the water
# River sand is washed: pale, greyer than the laterite soils the sand photographs hold.
# Their texture is kept, laid on this tone.
RIVER_SAND = np.array([166, 152, 124], np.float32)
SAND_DETAIL = 1.0


class RiverBedRenderer(FieldBoundaryRenderer):
    """Renderer 9 (see the module's text)."""

    version = 9

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The sand photographs' detail without their own tones (RIVER_SAND is the tone).
        self._river_sand = self.photos.surface("sand").with_shared_mean()

    def _water_photo(
        self, out: np.ndarray, raster: PlanRaster, nx: np.ndarray, ny: np.ndarray, level: int
    ) -> np.ndarray:
        out = super()._water_photo(out, raster, nx, ny, level)
        half = raster.channel_half
        if half is None:
            return out
        near = (half > 0) & (raster.water < 1)
        if not near.any():
            return out
        u, v = raster.x[near] / CELLS, raster.y[near] / CELLS
        bed, water, depth, wet = river_bed(
            u, v, raster.channel_offset[near], half[near], raster.footprint_m, self.seed
        )
        # Never over a lake or the sea (a river's mouth).
        bed *= 1.0 - raster.water[near]
        photos = self._river_sand
        sand = self.sample(photos, nx[near], ny[near], level, 19)
        sand = RIVER_SAND + SAND_DETAIL * (sand - photos.means[0])
        sand = sand * (1.0 - WET_SAND_DARK * wet)[:, None]
        silt = self._river_water(raster, u, v) * (1.0 - DEEP_DARK * depth)[:, None]
        river = sand * (1.0 - water)[:, None] + silt * water[:, None]
        out = out.copy()
        out[near] = out[near] * (1.0 - bed[:, None]) + river * bed[:, None]
        return out


def river_bed(
    u: np.ndarray,
    v: np.ndarray,
    offset: np.ndarray,
    half: np.ndarray,
    fp: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(share of the pixel in the bed, share of the bed's part that is water, how deep that
    water is 0..1, how wet the sand is 0..1) for pixels ``offset`` metres from a channel's
    centre line, ``half`` its half width (metres), at world positions (u, v) and pixel
    footprint ``fp`` (metres)."""
    stage = fractal_noise(u, v, STAGE_KM, 2, seed + 1901)
    # Pools (full) and low water each hold about a sixth of the course, joined by the
    # stretches between.
    t = np.clip((stage - 0.5) * 3.5 + 0.5, 0.0, 1.0)
    # A stream (a channel a few metres wide) keeps its bed, under its gallery trees, and
    # more of it holds water; a river's bed widens and empties at low water.
    river = np.clip((half - STREAM_HALF_M) / STREAM_HALF_M, 0.0, 1.0)
    low, full = THREAD_SHARE
    low = low + (0.6 - low) * (1.0 - river)
    reach = (low + (full - low) * t) * half  # the thread's half width
    waver = fractal_noise(u, v, BED_WAVER_KM, 3, seed + 1907)
    widens = 1.0 + (BED_WIDENS - 1.0) * (1.0 - t) * river
    bed_half = half * widens * (1.0 + 0.3 * waver * river)
    swing = np.clip((fractal_noise(u, v, SWING_KM, 2, seed + 1903) - 0.5) * 4.0, -1.0, 1.0)
    centre = (bed_half - reach) * swing  # metres: the thread stays inside the bed
    # Ramps two pixels wide: the raster's channel position is a pixel's, repeated on the
    # sub-pixels a coarse zoom is averaged from.
    ramp = 2.0 * fp
    bed = np.clip((bed_half - np.abs(offset)) / ramp + 0.5, 0.0, 1.0)
    from_edge = reach - np.abs(offset - centre)  # metres inside the thread (< 0: outside)
    water = np.clip(from_edge / ramp + 0.5, 0.0, 1.0)
    # Bars where the thread is wide (shallow), away from its edges.
    bars = fractal_noise(u, v, BAR_KM, 2, seed + 1905)
    bar = np.clip((bars - 0.7) * 8.0, 0.0, 1.0) * np.clip((t - 0.4) * 4.0, 0.0, 1.0)
    bar *= np.clip((from_edge - 0.3 * reach) / ramp + 0.5, 0.0, 1.0)
    water = water * (1.0 - bar)
    depth = np.clip(from_edge / np.maximum(reach, 1e-6), 0.0, 1.0) * (1.0 - bar)
    # Sand is wet for a few metres beside the water (and on the bars).
    wet = np.maximum(np.clip(1.0 - np.abs(from_edge) / (0.25 * half + ramp), 0.0, 1.0), bar)
    return tuple(a.astype(np.float32) for a in (bed, water, depth, wet))  # type: ignore[return-value]


__all__ = ["RiverBedRenderer", "river_bed"]
