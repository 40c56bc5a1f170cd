"""Polylines of the plan (rivers, roads): storage, shaping and lookup by area.

Vertices are stored in cell units with a width in metres per vertex. Lines come off the
grid as chains of cell centres; ``smooth`` rounds their corners (Chaikin) and ``meander``
densifies them and bends them sideways with hashed sines, so a river winds at the scale of
its own width and a road curves gently, both as pure functions of the line's vertices.
``meander_bends`` (plan version 3) winds a river in loops instead: its direction, not its
offset, swings along the channel (a sine-generated curve).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.noise import hash_uniform


def chaikin(points: np.ndarray, values: np.ndarray, rounds: int) -> tuple[np.ndarray, np.ndarray]:
    """Corner cutting that keeps both end points; ``values`` ride along (e.g. widths)."""
    for _ in range(rounds):
        if len(points) < 3:
            break
        a, b = points[:-1], points[1:]
        va, vb = values[:-1], values[1:]
        q, r = 0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b
        qv, rv = 0.75 * va + 0.25 * vb, 0.25 * va + 0.75 * vb
        inner = np.empty((2 * len(a), 2))
        inner[0::2], inner[1::2] = q, r
        inner_v = np.empty(2 * len(a))
        inner_v[0::2], inner_v[1::2] = qv, rv
        points = np.vstack([points[:1], inner[1:-1], points[-1:]])
        values = np.concatenate([values[:1], inner_v[1:-1], values[-1:]])
    return points, values


def resample(
    points: np.ndarray, values: np.ndarray, spacing: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evenly spaced vertices (``spacing`` in cell units); returns (points, values, arclength)."""
    steps = np.hypot(*np.diff(points, axis=0).T)
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    total = arc[-1]
    count = max(2, int(np.ceil(total / spacing)) + 1)
    at = np.linspace(0.0, total, count)
    xs = np.interp(at, arc, points[:, 0])
    ys = np.interp(at, arc, points[:, 1])
    return np.stack([xs, ys], 1), np.interp(at, arc, values), at


def meander(
    points: np.ndarray,
    widths_m: np.ndarray,
    m_per_cell: float,
    seed: int,
    wavelength_per_width: float,
    min_wavelength_m: float,
    max_amplitude_cells: float,
    spacing_m: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Densify to ``spacing_m`` and bend sideways: two sines whose wavelength follows the
    local width (rivers meander at ~10 widths), amplitude capped so a line stays in its
    valley. The end points do not move (confluences and mouths stay joined)."""
    pts, widths, arc = resample(points, widths_m, spacing_m / m_per_cell)
    if len(pts) < 3:
        return pts, widths
    tangent = np.gradient(pts, axis=0)
    tangent /= np.maximum(np.hypot(*tangent.T), 1e-12)[:, None]
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1)
    wavelength = np.maximum(widths * wavelength_per_width, min_wavelength_m) / m_per_cell
    h = hash_uniform(np.arange(6) + int(pts[0, 0] * 64), np.full(6, int(pts[0, 1] * 64)), seed) * (
        2 * np.pi
    )
    # Three scales of bends (the line's own wavelength, 3.7x and 13x it); each one's phase
    # speed wobbles along the line, so bends vary in length instead of repeating.
    offset = np.zeros(len(pts))
    # Each line bends its own amount at each scale: neighbouring streams do not wiggle
    # in step.
    amount = 0.25 + 0.75 * hash_uniform(
        np.arange(3) + int(pts[-1, 0] * 64), np.full(3, int(pts[-1, 1] * 64)), seed + 1
    )
    for k, (scale, weight) in enumerate(((1.0, 0.8), (3.7, 0.5), (13.0, 0.9))):
        weight = weight * float(amount[k])
        rate = 1.0 + 0.45 * np.sin(arc / (wavelength * scale * 2.3) + h[k + 3])
        phase = np.cumsum(np.diff(arc, prepend=0.0) * rate / (wavelength * scale)) * 2 * np.pi
        offset += (
            weight
            * np.sin(phase + h[k])
            * np.minimum(0.16 * wavelength * scale, max_amplitude_cells)
        )
    taper = np.minimum(1.0, np.minimum(arc, arc[-1] - arc) / np.maximum(2 * wavelength, 1e-9))
    offset *= taper / 1.6
    return pts + normal * offset[:, None], widths


def _knot_noise(at: np.ndarray, knots_per_unit: float, salt: int, seed: int) -> np.ndarray:
    """Smooth 1-D value noise in [0, 1) along ``at`` (hashed knots, smoothstep between)."""
    t = at * knots_per_unit
    i = np.floor(t)
    f = t - i
    f = f * f * (3 - 2 * f)
    lo = hash_uniform(i.astype(np.int64), np.full(len(t), salt), seed)
    hi = hash_uniform(i.astype(np.int64) + 1, np.full(len(t), salt), seed)
    return lo + (hi - lo) * f


def meander_bends(
    points: np.ndarray,
    widths_m: np.ndarray,
    m_per_cell: float,
    seed: int,
    wavelength_per_width: float,
    min_wavelength_m: float,
    max_amplitude_cells: float,
    spacing_m: float,
    swing_deg: tuple[float, float] = (25.0, 110.0),
    room: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Densify and wind a river as a sine-generated curve (Langbein & Leopold 1966) with
    Kinoshita's skew and flattening: the channel's direction, not its sideways offset,
    swings sinusoidally with distance along the channel, so bends are round loops that
    lean downstream, tight where the swing is large (up to goosenecks), nearly straight
    reaches where it is small; how much a river winds varies along it. The loops ride on
    the line's own course, are kept within ``max_amplitude_cells`` of it (a river stays in
    its valley) and fade out near both ends, which do not move (confluences and mouths
    stay joined). ``swing_deg``: the least and the most a reach swings (the direction's
    amplitude). ``room(course, normal)``, if given, says how far the loops may swing to
    the left (+normal) and right of each vertex of the resampled course, in cells (at
    most ``max_amplitude_cells``): a river winds less where a road runs beside it and
    runs straight where one crosses it. A pure function of the line's vertices (and of
    what ``room`` reads), like ``meander``."""
    base, widths, arc = resample(points, widths_m, spacing_m / m_per_cell)
    total = float(arc[-1])
    if len(base) < 3 or total <= 0:
        return base, widths
    # The course's direction, smoothed over a few cells: the grid path's rounded corners
    # would otherwise throw wide loops off the inside of every turn.
    tangent = np.gradient(base, axis=0)
    sigma = max(1.0, 0.8 / max(spacing_m / m_per_cell, 1e-9))
    tangent = np.stack([_smooth1d(tangent[:, 0], sigma), _smooth1d(tangent[:, 1], sigma)], 1)
    tangent /= np.maximum(np.hypot(*tangent.T), 1e-12)[:, None]
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1)
    key_x, key_y = int(base[0, 0] * 64), int(base[0, 1] * 64)
    h = hash_uniform(np.arange(4) + key_x, np.full(4, key_y), seed)
    wavelength = np.maximum(widths * wavelength_per_width, min_wavelength_m) / m_per_cell
    # Walk the channel in steps of path length; where each step lies along the course is
    # only known after the walk, so the widths (and so the bend lengths) along the walk
    # come from the previous estimate of it (two passes settle it).
    step = spacing_m / m_per_cell
    sinuosity = 1.35
    previous: tuple[np.ndarray, np.ndarray] | None = None
    for _ in range(2):
        count = max(3, int(np.ceil(total * sinuosity / step)) + 1)
        s = np.arange(count) * step
        if previous is None:
            guess = s * total / s[-1]
        else:
            guess = np.interp(s / s[-1], previous[0] / previous[0][-1], previous[1])
        guess = np.clip(guess, 0.0, total)
        lam = np.interp(guess, arc, wavelength)
        # How far each reach swings: slow noise along the channel (over ~5 bends), from
        # nearly straight to goosenecks (a river's swing near 110 degrees).
        bends = np.cumsum(step / lam)  # bends walked so far
        swing = _knot_noise(bends, 1 / 5.0, key_y, seed + 2)
        least, most = swing_deg
        theta0 = np.radians(least + (most - least) * swing) * (0.75 + 0.25 * h[2])
        # Bend lengths vary: the phase speed wobbles along the channel.
        rate = 0.6 + 0.9 * _knot_noise(bends, 1 / 1.3, key_x, seed + 3)
        phase = np.cumsum(rate / lam) * step * 2 * np.pi + h[0] * 2 * np.pi
        skew, flat = 0.06 * (h[1] - 0.5), 0.006
        theta = theta0 * np.sin(phase) + theta0**3 * (
            skew * np.cos(3 * phase) - flat * np.sin(3 * phase)
        )
        x = np.concatenate([[0.0], np.cumsum(np.cos(theta[:-1]) * step)])
        y = np.concatenate([[0.0], np.cumsum(np.sin(theta[:-1]) * step)])
        # The walk's own drift (a train of loops need not sum to zero) is taken out, so
        # the loops centre on the course, and the walk is scaled to end where it ends.
        y = y - _smooth1d(y, 2.0 * float(np.median(lam)) / step)
        sinuosity = float(s[-1]) / max(float(x[-1]), 1e-9)
        x = x * total / max(float(x[-1]), 1e-9)
        previous = (s, x)
    # Loops fade out over two bend lengths at each end; the belt is kept in the valley.
    wl = np.interp(np.clip(x, 0.0, total), arc, wavelength)
    fade = np.clip(np.minimum(x, total - x) / np.maximum(2 * wl, 1e-9), 0.0, 1.0)
    xs = np.clip(x, 0.0, total)
    if room is None:
        shift, limit = np.zeros(len(y)), np.full(len(y), max_amplitude_cells)
    else:
        # The belt moves to the side with room and narrows to what there is: a river
        # beside a road winds on its far side, and runs straight where a road crosses.
        left, right = room(base, normal)
        left = np.clip(np.interp(xs, arc, left), 0.0, max_amplitude_cells)
        right = np.clip(np.interp(xs, arc, right), 0.0, max_amplitude_cells)
        shift, limit = (left - right) / 2 * fade, np.maximum((left + right) / 2, 1e-6)
    y = shift + limit * np.tanh(y * fade / limit)
    centre = np.stack([np.interp(xs, arc, base[:, 0]), np.interp(xs, arc, base[:, 1])], 1)
    across = np.stack([np.interp(xs, arc, normal[:, 0]), np.interp(xs, arc, normal[:, 1])], 1)
    out = centre + across * y[:, None]
    out[0], out[-1] = base[0], base[-1]
    # Widths from the farthest point reached so far: where a gooseneck doubles back the
    # channel keeps its width instead of narrowing (widths only grow downstream).
    return out, np.interp(np.maximum.accumulate(xs), arc, widths)


def _smooth1d(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of a 1-D array (edges held), without scipy's per-call set-up."""
    radius = int(np.ceil(3 * sigma))
    if radius < 1 or len(values) < 2:
        return values.astype(np.float64)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.concatenate([np.full(radius, values[0]), values, np.full(radius, values[-1])])
    return np.convolve(padded, kernel, mode="valid")


@dataclass
class Polylines:
    """Many polylines in flat arrays: vertices (N, 2) in cell units, width_m (N,), and per
    line its start offset, kind and name."""

    vertices: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    width_m: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    starts: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    kinds: list[str] = field(default_factory=list)

    @classmethod
    def from_lines(cls, lines: list[tuple[np.ndarray, np.ndarray, str]]) -> Polylines:
        if not lines:
            return cls()
        vertices = np.vstack([points for points, _, _ in lines])
        widths = np.concatenate([w for _, w, _ in lines]).astype(np.float32)
        lengths = np.array([len(points) for points, _, _ in lines], np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)])
        return cls(vertices, widths, starts, [kind for _, _, kind in lines])

    def __len__(self) -> int:
        return len(self.kinds)

    def line(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.starts[index], self.starts[index + 1]
        return self.vertices[a:b], self.width_m[a:b]

    def segments_points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(start points, end points, owning line, start width) of every segment."""
        keep = np.ones(len(self.vertices), bool)
        keep[self.starts[1:] - 1] = False  # a line's last vertex starts no segment
        index = np.flatnonzero(keep)
        owner = np.searchsorted(self.starts, index, side="right") - 1
        return self.vertices[index], self.vertices[index + 1], owner, self.width_m[index]

    def in_box(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        """Indices of lines with a vertex inside the box (cell units), as a bool mask."""
        v = self.vertices
        inside = (v[:, 0] >= x0) & (v[:, 0] <= x1) & (v[:, 1] >= y0) & (v[:, 1] <= y1)
        hits = np.zeros(len(self), bool)
        if inside.any():
            owners = np.searchsorted(self.starts, np.flatnonzero(inside), side="right") - 1
            hits[np.unique(owners)] = True
        return hits

    def subset(self, mask: np.ndarray) -> Polylines:
        return Polylines.from_lines([(*self.line(i), self.kinds[i]) for i in np.flatnonzero(mask)])

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}_vertices": self.vertices,
            f"{prefix}_width": self.width_m,
            f"{prefix}_starts": self.starts,
            f"{prefix}_kinds": np.array(self.kinds, dtype="U16"),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> Polylines:
        return cls(
            arrays[f"{prefix}_vertices"],
            arrays[f"{prefix}_width"],
            arrays[f"{prefix}_starts"],
            [str(k) for k in arrays[f"{prefix}_kinds"]],
        )
