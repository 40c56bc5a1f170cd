"""The world engine: what a unit depends on, in which order units are made, what they are given.

DESIGN §3. A unit at zoom z > min_zoom is conditioned on its parent unit at z-1. Units of a
zoom are coloured by parity, phase = (ux mod 2) + 2 (uy mod 2); a unit is given as known
pixels only its edge neighbours of lower phase (and, for phase 3, its four phase-0
corners). Which pixels a unit sees is therefore fixed by (world, unit) alone, never by
timing, so every tile is a pure function of (world, z, x, y).

Corners: DESIGN also mentions diagonal corners of lower phase for phase 2 (its corners are
phase 1). Taking those would pull units from outside the 3x3 block into the closure, so only
phase 3 takes corners, all of them phase 0 (see ARCHITECTURE.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from core.layout import layout_of
from core.plan.raster import PlanRaster
from core.units import UnitKey, unit_seed, unit_tiles, units_per_side
from core.world import World

EDGES = ((-1, 0), (1, 0), (0, -1), (0, 1))
CORNERS = ((-1, -1), (1, -1), (-1, 1), (1, 1))


@dataclass
class UnitRequest:
    """Everything a generator needs to make one unit (DESIGN §3).

    The canvas is the unit plus ``margin`` pixels each side; the unit's own pixels are its
    centre. ``known``/``known_mask`` hold the lower-phase neighbours' pixels on that canvas.
    ``parent`` is the canvas at half resolution as the zoom above saw it: the parent unit's
    quadrant in the centre, the known neighbours (downsampled) or the quadrant's edge in the
    margin. At min_zoom it is the procedural rendering of the layout instead
    (``parent_is_layout``). ``layout`` is the land-cover class map on the canvas, whose
    top-left pixel is (``canvas_left``, ``canvas_top``) in global pixels at ``zoom``.
    """

    unit: UnitKey
    seed: int
    zoom: int
    tile_size: int
    unit_px: int
    margin: int
    parent: np.ndarray
    parent_is_layout: bool
    known: np.ndarray
    known_mask: np.ndarray
    layout: np.ndarray
    canvas_left: int
    canvas_top: int
    world_seed: int
    # The world plan's layers on the canvas (plan worlds only): what a plan-drawing
    # texture prior renders.
    plan: PlanRaster | None = None
    # parent_margin "parent": for each pixel of ``parent``, the flat index of the pixel whose
    # value it holds (its own where it is real, an edge pixel where it repeats one), so a
    # generator with a render of the canvas can carry that render's variation past the edge.
    parent_source: np.ndarray | None = None

    @property
    def canvas_px(self) -> int:
        return self.unit_px + 2 * self.margin


def neighbour_in_world(world: World, unit: UnitKey, dx: int, dy: int) -> UnitKey | None:
    """The unit at offset (dx, dy), or None if it is off the grid or outside the extent."""
    n = units_per_side(world, unit.z)
    ux, uy = unit.ux + dx, unit.uy + dy
    if not (0 <= ux < n and 0 <= uy < n):
        return None
    neighbour = UnitKey(unit.world, unit.z, ux, uy)
    if not any(world.contains_tile(unit.z, x, y) for x, y in unit_tiles(world, neighbour)):
        return None
    return neighbour


def known_neighbours(world: World, unit: UnitKey) -> list[tuple[int, int, UnitKey]]:
    """(dx, dy, neighbour) of every unit whose pixels this unit is given as known."""
    found = []
    for dx, dy in EDGES:
        neighbour = neighbour_in_world(world, unit, dx, dy)
        if neighbour is not None and neighbour.phase < unit.phase:
            found.append((dx, dy, neighbour))
    if unit.phase == 3:
        for dx, dy in CORNERS:
            neighbour = neighbour_in_world(world, unit, dx, dy)
            if neighbour is not None:
                found.append((dx, dy, neighbour))
    return found


def parent_unit(world: World, unit: UnitKey) -> UnitKey | None:
    if unit.z <= world.min_zoom:
        return None
    return UnitKey(unit.world, unit.z - 1, unit.ux // 2, unit.uy // 2)


def dependencies(world: World, unit: UnitKey) -> list[UnitKey]:
    deps = [neighbour for _, _, neighbour in known_neighbours(world, unit)]
    parent = parent_unit(world, unit)
    if parent is not None:
        deps.append(parent)
    return deps


def plan(
    world: World, targets: Iterable[UnitKey], exists: Callable[[UnitKey], bool]
) -> list[list[UnitKey]]:
    """The missing units needed for ``targets``, as waves that may each run as one batch.

    Ordering by (zoom, phase) is topological: every dependency has a lower zoom, or the same
    zoom and a lower phase. Units in one wave never depend on each other.
    """
    missing: set[UnitKey] = set()
    seen: set[UnitKey] = set()
    stack = list(targets)
    while stack:
        unit = stack.pop()
        if unit in seen:
            continue
        seen.add(unit)
        if exists(unit):
            continue
        missing.add(unit)
        stack.extend(dependencies(world, unit))
    waves: dict[tuple[int, int], list[UnitKey]] = {}
    for unit in sorted(missing):
        waves.setdefault((unit.z, unit.phase), []).append(unit)
    return [waves[key] for key in sorted(waves)]


def unit_px(world: World, unit: UnitKey) -> int:
    return world.tile_size * min(world.unit_size, 2**unit.z)


TileReader = Callable[[int, int, int], np.ndarray]


def read_unit(world: World, unit: UnitKey, read_tile: TileReader) -> np.ndarray:
    """Mosaic a generated unit's tiles into one (px, px, 3) array."""
    size = world.tile_size
    m = world.unit_size
    canvas = np.zeros((unit_px(world, unit), unit_px(world, unit), 3), np.uint8)
    for x, y in unit_tiles(world, unit):
        ox, oy = (x - unit.ux * m) * size, (y - unit.uy * m) * size
        canvas[oy : oy + size, ox : ox + size] = read_tile(unit.z, x, y)
    return canvas


# How a unit's parent canvas is filled in the margin around the unit's quadrant, where no
# known neighbour lies: "edge" repeats the quadrant's edge pixels, also where the margin
# lies inside the parent unit; "parent" takes the parent unit's own pixels there (the
# sibling quadrants, no new dependency) and repeats the parent's edge only beyond it,
# saying which pixel each repeats (``UnitRequest.parent_source``).
PARENT_MARGINS = ("edge", "parent")


def build_request(
    world: World, unit: UnitKey, read_tile: TileReader, parent_margin: str = "edge"
) -> UnitRequest:
    """Assemble a unit's conditioning from its (already generated) dependencies."""
    px = unit_px(world, unit)
    margin = world.canvas_margin
    canvas = px + 2 * margin
    known = np.zeros((canvas, canvas, 3), np.uint8)
    mask = np.zeros((canvas, canvas), bool)
    for dx, dy, neighbour in known_neighbours(world, unit):
        pixels = read_unit(world, neighbour, read_tile)
        # Neighbour's top-left on the canvas, then clip to the canvas.
        left, top = margin + dx * px, margin + dy * px
        x0, y0 = max(left, 0), max(top, 0)
        x1, y1 = min(left + px, canvas), min(top + px, canvas)
        if x0 >= x1 or y0 >= y1:
            continue
        known[y0:y1, x0:x1] = pixels[y0 - top : y1 - top, x0 - left : x1 - left]
        mask[y0:y1, x0:x1] = True

    # Global pixel position of the canvas's top-left corner at this zoom.
    left = unit.ux * world.unit_size * world.tile_size - margin
    top = unit.uy * world.unit_size * world.tile_size - margin
    layout = layout_of(world)
    parent_key = parent_unit(world, unit)
    source = None
    if parent_key is None:
        parent = layout.preview(unit.z - 1, left // 2, top // 2, canvas // 2, canvas // 2)
    else:
        parent, source = _parent_canvas(
            world, unit, parent_key, read_tile, known, mask, parent_margin
        )
    region = layout.region(unit.z, left, top, canvas, canvas)

    return UnitRequest(
        unit=unit,
        seed=unit_seed(world, unit),
        zoom=unit.z,
        tile_size=world.tile_size,
        unit_px=px,
        margin=margin,
        parent=parent,
        parent_is_layout=parent_key is None,
        known=known,
        known_mask=mask,
        layout=region.classes,
        canvas_left=left,
        canvas_top=top,
        world_seed=world.seed,
        plan=region.raster,
        parent_source=source,
    )


def _parent_canvas(
    world: World,
    unit: UnitKey,
    parent_key: UnitKey,
    read_tile: TileReader,
    known: np.ndarray,
    mask: np.ndarray,
    parent_margin: str = "edge",
) -> tuple[np.ndarray, np.ndarray | None]:
    """The canvas at half resolution: parent quadrant, known neighbours in the margin
    (``parent_margin``: what fills the rest of the margin, see PARENT_MARGINS); with
    "parent", also each pixel's source (``UnitRequest.parent_source``)."""
    if parent_margin not in PARENT_MARGINS:
        raise ValueError(f"parent_margin must be one of {PARENT_MARGINS}, got {parent_margin!r}")
    px = unit_px(world, unit)
    half, margin_half = px // 2, world.canvas_margin // 2
    parent_pixels = read_unit(world, parent_key, read_tile)
    qx, qy = (unit.ux % 2) * half, (unit.uy % 2) * half
    pad = ((margin_half, margin_half), (margin_half, margin_half), (0, 0))
    span = half + 2 * margin_half
    source = None
    if parent_margin == "parent":
        around = np.pad(parent_pixels, pad, mode="edge")
        canvas = around[qy : qy + span, qx : qx + span].astype(np.float32)
        # Which parent pixel each canvas pixel holds, as a flat index into the canvas.
        side = parent_pixels.shape[0]
        held = np.pad(np.arange(side * side).reshape(side, side), pad[:2], mode="edge")
        held = held[qy : qy + span, qx : qx + span]
        source = (held // side - qy + margin_half) * span + (held % side - qx + margin_half)
    else:
        quadrant = parent_pixels[qy : qy + half, qx : qx + half]
        canvas = np.pad(quadrant, pad, mode="edge").astype(np.float32)
    size = canvas.shape[0]
    known_half = known.astype(np.float32).reshape(size, 2, size, 2, 3).mean((1, 3))
    known_here = mask.reshape(size, 2, size, 2).all((1, 3))
    known_here[margin_half : margin_half + half, margin_half : margin_half + half] = False
    canvas[known_here] = known_half[known_here]
    if source is not None:
        source[known_here] = np.arange(span * span).reshape(span, span)[known_here]
    return np.round(canvas).astype(np.uint8), source


def finish_canvas(request: UnitRequest, canvas: np.ndarray, feather: bool = True) -> np.ndarray:
    """Keep known pixels exact, then cut the unit's own pixels from the canvas centre
    (``feather``: soften the generated pixels next to known ones, see below)."""
    expected = (request.canvas_px, request.canvas_px, 3)
    if canvas.shape != expected or canvas.dtype != np.uint8:
        raise ValueError(
            f"generator returned {canvas.shape} {canvas.dtype}, expected {expected} uint8"
        )
    canvas = np.where(request.known_mask[..., None], request.known, canvas)
    if feather:
        canvas = _feather_along_known(canvas, request.known_mask)
    m = request.margin
    return np.ascontiguousarray(canvas[m : m + request.unit_px, m : m + request.unit_px])


# Weight of the local 3x3 mean for generated pixels 1 and 2 pixels away from known ones.
FEATHER = (0.5, 0.25)


def _feather_along_known(canvas: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Soften the first generated pixels next to known (neighbour) pixels.

    The sampler continues the neighbours' colours but not always their finest texture, which
    leaves a faint line at unit borders. Blending the two generated rows next to them with
    their local mean hides it; known pixels themselves are never changed.
    """
    if not known.any():
        return canvas
    image = canvas.astype(np.float32)
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
    local_mean = (
        sum(
            padded[dy : dy + image.shape[0], dx : dx + image.shape[1]]
            for dy in range(3)
            for dx in range(3)
        )
        / 9.0
    )
    reached = known.copy()
    for weight in FEATHER:
        grown = reached.copy()
        grown[1:] |= reached[:-1]
        grown[:-1] |= reached[1:]
        grown[:, 1:] |= reached[:, :-1]
        grown[:, :-1] |= reached[:, 1:]
        ring = grown & ~reached
        image[ring] = (1 - weight) * image[ring] + weight * local_mean[ring]
        reached = grown
    return np.clip(np.round(image), 0, 255).astype(np.uint8)
