"""Render a model's texture prior over the world, as a pure function of position.

Each class gets a bank of periodic textures synthesised from the prior with seeds derived
from the world seed, so two deployments of a world draw the same ones. The world plane is
cut into parcels (cells of ``cell_px`` native pixels, their borders warped by noise so they
are not a grid); each parcel picks a texture, an offset into it and a brightness from a
hash of its coordinates, and blends into its neighbours with a variance-preserving weight
(Heitz & Neyret 2018) so no seam or washed-out band shows. On top, drawn procedurally:
cropland as axis-aligned fields with crop rows and farm tracks, towns as a street grid of
house lots, large buildings and parks, and tree crowns with their shadows. Zoom z samples
the bank's 2^(native_zoom - z) area-downsampled level; where parcels shrink to a few
pixels the render fades to the class's mean colour rather than alias into speckle.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from core.classes import CLASS_INDEX, CLASSES
from core.noise import hash_uniform, value_noise
from model_store.texture_prior import TexturePrior, synthesize

# Water is one surface: its parcels vary in texture only, not in colour.
ONE_COLOUR = frozenset({"water"})
# Geometry in native pixels (about 2.4 m at zoom 16): fields of ~300 m, halved at random,
# with 6 m farm tracks; town blocks of ~150 m with 14 m streets, cut into ~38 m lots.
FIELD_PX, TRACK_PX = 128.0, 2.5
BLOCK_PX, STREET_PX, LOTS_PER_BLOCK = 64.0, 6.0, 4
# Trees and bushes: (spacing in native px, share of spots with a crown). Forest is closed
# canopy; scrub and grass get scattered bushes; yards a few garden trees.
TREES = {
    "forest": (8.0, 0.85),
    "grassland": (11.0, 0.12),
    "bare": (13.0, 0.04),
    "urban": (9.0, 0.1),
}
TREE_COLOUR = np.array([46, 66, 34], np.float32)  # without a forest texture in the prior
ASPHALT = np.array([92, 92, 90], np.float32)
YARD = np.array([104, 110, 88], np.float32)
TRACK = np.array([158, 144, 118], np.float32)
ROOFS = np.array(
    [
        (168, 92, 72),
        (150, 110, 90),
        (196, 196, 190),
        (132, 132, 132),
        (90, 90, 92),
        (178, 160, 130),
    ],
    np.float32,
)


def line_coverage(x: np.ndarray, period: float, width: float, footprint: float) -> np.ndarray:
    """Fraction of a pixel (footprint wide, centred at x) covered by lines of ``width``
    centred at multiples of ``period``: anti-aliased at every zoom."""
    t = np.mod(x, period)
    d = np.minimum(t, period - t)
    overlap = np.minimum(d + footprint / 2, width / 2) - np.maximum(d - footprint / 2, -width / 2)
    return np.clip(overlap / footprint, 0.0, 1.0)


def box_coverage(
    x: np.ndarray, centre: np.ndarray, half: np.ndarray, footprint: float
) -> np.ndarray:
    d = np.abs(x - centre)
    overlap = np.minimum(d + footprint / 2, half) - np.maximum(d - footprint / 2, -half)
    return np.clip(overlap / footprint, 0.0, 1.0)


class _ClassBank:
    def __init__(self, prior: TexturePrior, cls: str, seed: int) -> None:
        stats = prior.classes[cls]
        self.means = np.stack([s.mean for s in stats])  # (n, 3)
        self.mean_colour = self.means.mean(0)
        if cls in ONE_COLOUR:
            self.means = np.broadcast_to(self.mean_colour, self.means.shape).copy()
        textures = np.stack([synthesize(s, seed + 1009 * index) for index, s in enumerate(stats)])
        self.levels = [textures]  # level L: (n, size / 2^L, size / 2^L, 3), down to 1 px
        while textures.shape[1] > 1:
            n, size = textures.shape[0], textures.shape[1] // 2
            textures = textures.reshape(n, size, 2, size, 2, 3).mean((2, 4))
            self.levels.append(textures)


class TextureRenderer:
    def __init__(
        self, prior: TexturePrior, world_seed: int, native_zoom: int, cell_px: int = 96
    ) -> None:
        self.prior = prior
        self.seed = world_seed
        self.native_zoom = native_zoom
        self.cell_px = cell_px
        self.banks = {
            cls: _ClassBank(prior, cls, world_seed + 7 * CLASS_INDEX[cls]) for cls in prior.classes
        }

    def render(self, zoom: int, left: int, top: int, class_map: np.ndarray) -> np.ndarray:
        """(H, W, 3) float32 RGB (0..255) of the region whose top-left pixel is (left, top)
        in global pixel coordinates at ``zoom``; ``class_map`` gives each pixel's class."""
        height, width = class_map.shape
        level = max(self.native_zoom - zoom, 0)
        scale = 2.0 ** (self.native_zoom - zoom)
        gy, gx = np.mgrid[top : top + height, left : left + width]
        nx, ny = (gx + 0.5) * scale, (gy + 0.5) * scale  # native pixel coordinates
        # Position in parcels; a smooth warp makes the parcel borders irregular.
        px = (gx + 0.5) * scale / self.cell_px
        py = (gy + 0.5) * scale / self.cell_px
        wx = px + 0.45 * (value_noise(px * 0.5, py * 0.5, 1.0, self.seed + 31) - 0.5)
        wy = py + 0.45 * (value_noise(px * 0.5, py * 0.5, 1.0, self.seed + 37) - 0.5)
        # Parcels of a few pixels would alias into speckle: fade to the mean colour there.
        cell_on_screen = self.cell_px / scale
        detail = float(np.clip((cell_on_screen - 2.0) / 6.0, 0.0, 1.0))

        out = np.zeros((height, width, 3), np.float32)
        for cls in CLASSES:
            where = class_map == CLASS_INDEX[cls]
            if not where.any():
                continue
            bank = self.banks.get(cls) or self._fallback_bank()
            out[where] = bank.mean_colour
            if detail == 0.0:
                continue
            args = (bank, gx[where], gy[where])
            if cls == "cropland":
                rendered = self._fields(*args, nx[where], ny[where], level=level)
            elif cls == "urban":
                base = self._blended(*args, wx[where], wy[where], level=level)
                rendered = self._town(base, nx[where], ny[where], footprint=scale)
            else:
                rendered = self._blended(*args, wx[where], wy[where], level=level)
            if cls in TREES:
                rendered = self._trees(rendered, nx[where], ny[where], scale, *TREES[cls])
            out[where] = detail * rendered + (1 - detail) * bank.mean_colour
        return out

    def _fallback_bank(self) -> _ClassBank:
        # A class the prior has no texture of borrows the first class it has.
        return next(iter(self.banks.values()))

    def _parcel(
        self,
        bank: _ClassBank,
        cx: np.ndarray,
        cy: np.ndarray,
        gx: np.ndarray,
        gy: np.ndarray,
        level: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(colour, texture) of each pixel's parcel (cx, cy): the parcel's texture, offset
        into it, brightness and gain all come from a hash of the parcel's coordinates."""
        n = len(bank.means)
        index = np.minimum((hash_uniform(cx, cy, self.seed + 101) * n).astype(np.int64), n - 1)
        colour = bank.means[index] * (0.9 + 0.2 * hash_uniform(cx, cy, self.seed + 113))[:, None]
        if level >= len(bank.levels):
            return colour, np.zeros_like(colour)
        textures = bank.levels[level]
        size = textures.shape[1]
        ox = (hash_uniform(cx, cy, self.seed + 103) * self.prior.size).astype(np.int64) >> level
        oy = (hash_uniform(cx, cy, self.seed + 107) * self.prior.size).astype(np.int64) >> level
        gain = 0.8 + 0.4 * hash_uniform(cx, cy, self.seed + 109)
        texel = textures[index, (gy + oy) % size, (gx + ox) % size]
        return colour, gain[:, None] * texel

    def _trees(
        self,
        image: np.ndarray,
        nx: np.ndarray,
        ny: np.ndarray,
        footprint: float,
        spacing: float,
        share: float,
    ) -> np.ndarray:
        """Round crowns, lit from the top left, each casting a shadow to the bottom right;
        at most one crown per ``spacing`` cell, overlapping into the cells next to it (the
        four nearest cells are drawn, always in the same order), anti-aliased to the pixel
        footprint."""
        forest = self.banks.get("forest")
        colour = forest.mean_colour if forest is not None else TREE_COLOUR
        for cx, cy, dx, dy, radius in crown_cells(nx, ny, spacing, self.seed, 0.3, 0.25):
            present = hash_uniform(cx, cy, self.seed + 401) < share
            crown = np.clip((radius - np.hypot(dx, dy)) / footprint + 0.5, 0, 1) * present
            offset = 0.5 * radius
            shadow = np.clip((radius - np.hypot(dx - offset, dy - offset)) / footprint + 0.5, 0, 1)
            # Crowns smaller than a pixel average out: their contrast scales with their size.
            visible = np.clip(2 * radius / footprint, 0, 1) ** 2
            light = 1 + 0.35 * np.clip(-(dx + dy) / (1.4 * radius), -1, 1)
            tone = 0.8 + 0.4 * hash_uniform(cx, cy, self.seed + 421)
            image = image * (1 - 0.45 * (shadow * present * (1 - crown) * visible)[:, None])
            cover = (crown * visible)[:, None]
            image = image * (1 - cover) + colour * (light * tone)[:, None] * cover
        return image

    def _fields(self, bank: _ClassBank, *where: np.ndarray, level: int) -> np.ndarray:
        """Axis-aligned fields, some halved, each its own texture, with crop rows and farm
        tracks along the field grid."""
        gx, gy, nx, ny = where
        footprint = 2.0**level
        fx, fy = np.floor(nx / FIELD_PX).astype(np.int64), np.floor(ny / FIELD_PX).astype(np.int64)
        split_x = hash_uniform(fx, fy, self.seed + 211) < 0.5
        split_y = hash_uniform(fx, fy, self.seed + 223) < 0.5
        half_x = (np.mod(nx, FIELD_PX) >= FIELD_PX / 2) & split_x
        half_y = (np.mod(ny, FIELD_PX) >= FIELD_PX / 2) & split_y
        cx, cy = fx * 2 + half_x, fy * 2 + half_y
        colour, texture = self._parcel(bank, cx, cy, gx, gy, level)
        # Crop rows: a fine stripe across the field, faded out once a pixel spans a row.
        period = 4.0 + 4.0 * hash_uniform(cx, cy, self.seed + 227)
        along = np.where(hash_uniform(cx, cy, self.seed + 229) < 0.5, nx, ny)
        fade = np.clip(1.0 - footprint / period, 0.0, 1.0)
        rows = 1.0 + 0.12 * fade * np.sin(2 * np.pi * along / period)
        image = colour * rows[:, None] + 0.6 * texture  # fields are calmer than their source
        track = np.maximum(
            line_coverage(nx, FIELD_PX, TRACK_PX, footprint),
            line_coverage(ny, FIELD_PX, TRACK_PX, footprint),
        )[:, None]
        return image * (1 - track) + TRACK * track

    def _town(
        self, ground: np.ndarray, nx: np.ndarray, ny: np.ndarray, footprint: float
    ) -> np.ndarray:
        """A street grid; blocks of houses on lots, some one large building, some parks."""
        bx, by = np.floor(nx / BLOCK_PX).astype(np.int64), np.floor(ny / BLOCK_PX).astype(np.int64)
        kind = hash_uniform(bx, by, self.seed + 307)
        lot = BLOCK_PX / LOTS_PER_BLOCK
        big = kind < 0.2
        size = np.where(big, BLOCK_PX, lot)
        lx, ly = np.floor(nx / size), np.floor(ny / size)
        centre_x, centre_y = (lx + 0.5) * size, (ly + 0.5) * size
        lx, ly = lx.astype(np.int64), ly.astype(np.int64)
        margin = np.where(big, STREET_PX + 3, 1.5 + 3.0 * hash_uniform(lx, ly, self.seed + 311))
        half = size / 2 - margin
        built = box_coverage(nx, centre_x, half, footprint) * box_coverage(
            ny, centre_y, half, footprint
        )
        built *= ((kind >= 0.2) & (kind < 0.32)) == 0  # parks: no buildings
        roof = ROOFS[
            np.minimum((hash_uniform(lx, ly, self.seed + 313) * len(ROOFS)), 5).astype(int)
        ]
        # Pitched roofs: the half facing away from the light is darker.
        across = np.where(hash_uniform(lx, ly, self.seed + 317) < 0.5, nx - centre_x, ny - centre_y)
        roof = roof * np.where(across > 0, 0.82, 1.0)[:, None]
        ground = 0.6 * ground + 0.4 * YARD  # gardens and verges: calmer than the texture
        image = ground * (1 - built[:, None]) + roof * built[:, None]
        street = np.maximum(
            line_coverage(nx, BLOCK_PX, STREET_PX, footprint),
            line_coverage(ny, BLOCK_PX, STREET_PX, footprint),
        )[:, None]
        return image * (1 - street) + ASPHALT * street

    def _blended(self, bank: _ClassBank, *where: np.ndarray, level: int) -> np.ndarray:
        gx, gy, wx, wy = where
        fx, fy = wx - 0.5, wy - 0.5
        x0, y0 = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
        tx, ty = fx - x0, fy - y0
        tx, ty = tx * tx * (3 - 2 * tx), ty * ty * (3 - 2 * ty)
        colour = np.zeros((len(gx), 3), np.float32)
        texture = np.zeros((len(gx), 3), np.float32)
        weight_sq = np.zeros(len(gx), np.float32)
        for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
            w = (tx if dx else 1 - tx) * (ty if dy else 1 - ty)
            parcel_colour, parcel_texture = self._parcel(bank, x0 + dx, y0 + dy, gx, gy, level)
            colour += w[:, None] * parcel_colour
            texture += w[:, None] * parcel_texture
            weight_sq += w * w
        # Colours blend linearly; the zero-mean texture part keeps its variance.
        return colour + texture / np.sqrt(np.maximum(weight_sq, 1e-6))[:, None]


def crown_cells(
    nx: np.ndarray, ny: np.ndarray, spacing: float, seed: int, radius_min: float, radius_span: float
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The four crown cells (``spacing`` native pixels a side) nearest each point, always in
    the same order: (cell x, cell y, offset from its crown's centre x, y, crown radius).
    At most one crown per cell, placed and sized by hashes of the cell; a crown overlaps
    into the cells next to it, which is why four are drawn."""
    bx = np.floor(nx / spacing - 0.5).astype(np.int64)
    by = np.floor(ny / spacing - 0.5).astype(np.int64)
    for ox, oy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        cx, cy = bx + ox, by + oy
        tx = (cx + 0.15 + 0.7 * hash_uniform(cx, cy, seed + 403)) * spacing
        ty = (cy + 0.15 + 0.7 * hash_uniform(cx, cy, seed + 409)) * spacing
        radius = spacing * (radius_min + radius_span * hash_uniform(cx, cy, seed + 419))
        yield cx, cy, nx - tx, ny - ty, radius
