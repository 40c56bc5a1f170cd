"""`synthtiles eval world`: generate a region into a fresh store and measure it (DESIGN §6).

Seam ratio, cross-zoom PSNR with the sharpness ratio, order independence (bytes identical
across visiting orders and worker counts), histogram validity, and the number of unit
generations a cold request costs.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.png import decode_tile
from core.settings import WorkerSettings
from core.store import FileTileStore
from core.units import UnitKey, unit_of_tile
from core.world import World
from worker.synthesis.engine import plan
from worker.synthesis.generators import load_generator
from worker.synthesis.generators.base import Generator
from worker.synthesis.producer import UnitProducer

ORDERS = ("row-major", "random", "reverse")


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def seam_ratio(mosaic: np.ndarray, tile_size: int) -> float:
    """Mean |ΔL| across tile borders over mean |ΔL| of all other neighbouring pairs."""
    lum = luminance(mosaic)
    dx = np.abs(np.diff(lum, axis=1))  # dx[:, j] compares columns j and j+1
    dy = np.abs(np.diff(lum, axis=0))
    border_cols = np.zeros(dx.shape[1], bool)
    border_cols[tile_size - 1 :: tile_size] = True
    border_rows = np.zeros(dy.shape[0], bool)
    border_rows[tile_size - 1 :: tile_size] = True
    border = np.concatenate([dx[:, border_cols].ravel(), dy[border_rows].ravel()])
    inner = np.concatenate([dx[:, ~border_cols].ravel(), dy[~border_rows].ravel()])
    return float(border.mean() / inner.mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def sharpness(rgb: np.ndarray) -> float:
    lum = luminance(rgb)
    return float(np.abs(np.diff(lum, axis=0)).mean() + np.abs(np.diff(lum, axis=1)).mean()) / 2


def downsample2(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[0] // 2, rgb.shape[1] // 2
    return rgb.astype(np.float64).reshape(h, 2, w, 2, 3).mean((1, 3))


@dataclass
class Region:
    zoom: int
    x0: int
    y0: int
    width: int  # tiles
    height: int

    def tiles(self) -> list[tuple[int, int]]:
        return [
            (x, y)
            for y in range(self.y0, self.y0 + self.height)
            for x in range(self.x0, self.x0 + self.width)
        ]


def region_from_bbox(
    world: World, zoom: int, bbox: tuple[float, float, float, float] | None, size: int
) -> Region:
    """The bbox's tiles, or a size x size block at the centre of the world's extent."""
    import mercantile

    if bbox is not None:
        west, south, east, north = bbox
        top_left = mercantile.tile(west, north, zoom)
        bottom_right = mercantile.tile(east, south, zoom)
        return Region(
            zoom,
            top_left.x,
            top_left.y,
            bottom_right.x - top_left.x + 1,
            bottom_right.y - top_left.y + 1,
        )
    min_x, min_y, max_x, max_y = world.tile_range(zoom)
    cx, cy = (min_x + max_x) // 2, (min_y + max_y) // 2
    return Region(zoom, cx - size // 2, cy - size // 2, size, size)


def visit_order(tiles: list[tuple[int, int]], order: str, seed: int = 0) -> list[tuple[int, int]]:
    if order == "row-major":
        return list(tiles)
    if order == "reverse":
        return list(reversed(tiles))
    if order == "random":
        shuffled = list(tiles)
        random.Random(seed).shuffle(shuffled)
        return shuffled
    raise ValueError(f"unknown order {order!r}; choose from {', '.join(ORDERS)}")


def _generate_tiles(
    world: World, store_root: Path, zoom: int, tiles: list[tuple[int, int]], generator: Generator
) -> int:
    """Visit tiles one by one (as requests would), generating what each needs."""
    producer = UnitProducer(FileTileStore(store_root), lambda _world: generator)
    made = 0
    for x, y in tiles:
        made += len(producer.produce(world, [unit_of_tile(world, zoom, x, y)]))
    return made


def _worker_process(world: World, store_root: Path, zoom: int, tiles, settings) -> int:
    generator = load_generator(world.model, settings)
    return _generate_tiles(world, store_root, zoom, tiles, generator)


def generate_region(
    world: World,
    store_root: Path,
    region: Region,
    order: str,
    workers: int,
    settings: WorkerSettings,
    generator: Generator | None = None,
) -> int:
    tiles = visit_order(region.tiles(), order)
    if workers <= 1:
        generator = generator or load_generator(world.model, settings)
        return _generate_tiles(world, store_root, region.zoom, tiles, generator)
    # Interleave the visiting order across processes: they race on shared dependencies.
    shares = [tiles[i::workers] for i in range(workers)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        counts = pool.starmap(
            _worker_process, [(world, store_root, region.zoom, share, settings) for share in shares]
        )
    return sum(counts)


def read_mosaic(world: World, store_root: Path, region: Region) -> np.ndarray:
    store = FileTileStore(store_root)
    size = world.tile_size
    mosaic = np.zeros((region.height * size, region.width * size, 3), np.uint8)
    for x, y in region.tiles():
        data = store.get(world.id, region.zoom, x, y)
        if data is None:
            raise RuntimeError(f"tile {region.zoom}/{x}/{y} was not generated")
        ox, oy = (x - region.x0) * size, (y - region.y0) * size
        mosaic[oy : oy + size, ox : ox + size] = decode_tile(data)
    return mosaic


def cold_request_cost(world: World, zoom: int, x: int, y: int, depth: int) -> tuple[int, int]:
    """(units a cold request needs, bound 16·d + 9) when only its ancestor d levels up exists."""
    target = unit_of_tile(world, zoom, x, y)
    ancestor = UnitKey(target.world, zoom - depth, target.ux >> depth, target.uy >> depth)
    waves = plan(world, [target], lambda unit: unit == ancestor or unit.z < zoom - depth)
    return sum(len(w) for w in waves), 16 * depth + 9


@dataclass
class WorldReport:
    lines: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)

    def add(self, key: str, value: float, text: str) -> None:
        self.figures[key] = value
        self.lines.append(text)


def evaluate_world(
    world: World,
    out_dir: Path,
    region: Region,
    orders: list[str],
    workers: list[int],
    settings: WorkerSettings,
    histogram_valid: Callable[[np.ndarray], np.ndarray] | None = None,
    log: Callable[[str], None] = print,
) -> WorldReport:
    report = WorldReport()
    runs: list[tuple[str, Path]] = []
    generator = load_generator(world.model, settings)
    # Every order with one worker, then the first order with each other worker count.
    plan_runs = [(order, 1) for order in orders] + [(orders[0], w) for w in workers if w != 1]
    for order, count in plan_runs:
        store_root = out_dir / f"{order}-{count}w"
        started = time.perf_counter()
        made = generate_region(
            world, store_root, region, order, count, settings, generator if count == 1 else None
        )
        elapsed = time.perf_counter() - started
        log(
            f"generated {region.width}x{region.height} tiles at z{region.zoom} ({order}, "
            f"{count} worker(s)): {made} units in {elapsed:.1f} s"
        )
        runs.append((f"{order}/{count}w", store_root))
    reference_name, reference_root = runs[0]
    mosaic = read_mosaic(world, reference_root, region)
    report.add(
        "seam_ratio",
        seam_ratio(mosaic, world.tile_size),
        f"seam ratio ({region.width}x{region.height} mosaic): "
        f"{seam_ratio(mosaic, world.tile_size):.3f} (target 0.9-1.1)",
    )

    for name, root in runs[1:]:
        other = read_mosaic(world, root, region)
        identical = all(
            (reference_root / world.id / str(region.zoom) / str(x) / f"{y}.png").read_bytes()
            == (root / world.id / str(region.zoom) / str(x) / f"{y}.png").read_bytes()
            for x, y in region.tiles()
        )
        report.add(
            f"order_psnr[{name}]",
            psnr(mosaic, other),
            f"order independence {reference_name} vs {name}: PSNR "
            f"{psnr(mosaic, other):.1f} dB, bytes identical: {identical}",
        )
        report.figures[f"order_identical[{name}]"] = float(identical)

    # Cross-zoom: the region's parents (z-1) against the 2x-downsampled region.
    if region.zoom > world.min_zoom:
        store = FileTileStore(reference_root)
        scores, ratios = [], []
        for px in range(region.x0 // 2, (region.x0 + region.width) // 2):
            for py in range(region.y0 // 2, (region.y0 + region.height) // 2):
                if not all(
                    region.x0 <= 2 * px + dx < region.x0 + region.width
                    and region.y0 <= 2 * py + dy < region.y0 + region.height
                    for dx in (0, 1)
                    for dy in (0, 1)
                ):
                    continue
                parent = store.get(world.id, region.zoom - 1, px, py)
                if parent is None:
                    continue
                children = np.zeros((2 * world.tile_size, 2 * world.tile_size, 3), np.uint8)
                for dx in (0, 1):
                    for dy in (0, 1):
                        tile = decode_tile(
                            store.get(world.id, region.zoom, 2 * px + dx, 2 * py + dy)
                        )
                        s = world.tile_size
                        children[dy * s : (dy + 1) * s, dx * s : (dx + 1) * s] = tile
                parent_rgb = decode_tile(parent)
                scores.append(psnr(parent_rgb, downsample2(children)))
                ratios.append(sharpness(children) / max(sharpness(parent_rgb), 1e-9))
        if scores:
            report.add(
                "cross_zoom_psnr",
                float(np.mean(scores)),
                f"cross-zoom PSNR z{region.zoom - 1}->z{region.zoom}: mean "
                f"{np.mean(scores):.1f} dB, min {np.min(scores):.1f} dB over "
                f"{len(scores)} parents (target >= 28)",
            )
            report.add(
                "sharpness_ratio",
                float(np.mean(ratios)),
                f"sharpness children/parents: {np.mean(ratios):.2f} (target >= 0.8)",
            )

    if histogram_valid is not None:
        tiles = np.stack(
            [
                mosaic[
                    (y - region.y0) * world.tile_size : (y - region.y0 + 1) * world.tile_size,
                    (x - region.x0) * world.tile_size : (x - region.x0 + 1) * world.tile_size,
                ]
                for x, y in region.tiles()
            ]
        )
        valid = histogram_valid(tiles)
        report.add(
            "histogram_validity",
            float(valid.mean()),
            f"histogram validity: {valid.mean() * 100:.1f} % of {len(tiles)} tiles "
            f"(target >= 99 %)",
        )

    x, y = region.tiles()[0]
    for depth in (1, 2, 3):
        if region.zoom - depth >= world.min_zoom:
            cost, bound = cold_request_cost(world, region.zoom, x, y, depth)
            report.add(
                f"cold_cost[d={depth}]",
                cost,
                f"cold request {depth} level(s) below its deepest generated ancestor: "
                f"{cost} unit generations (bound 16*d+9 = {bound})",
            )
    return report
