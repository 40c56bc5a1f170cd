"""World plans by world: one per process, built on first use or read from the plan cache.

A plan is a function of the world's definition alone (``plan_spec``); its cache file is
named by the hash of that definition, so every process of a deployment (API, workers,
seeding, export) shares one build.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from core.plan.grid import lonlat_to_cell
from core.plan.plan import OPEN_PLAN_VERSION, PLAN_VERSION, PlanSpec, WorldPlan
from core.plan.scenario import Scenario, ScenarioError, load_scenario
from core.settings import PlanSettings, StoreSettings
from core.world import World

if TYPE_CHECKING:
    from collections.abc import Callable

    from core.store import TileStore

_plans: dict[str, WorldPlan] = {}
_lock = threading.Lock()
_cache_dir: Path | None = None  # set by core.config.Config.from_env
_shared_store: Callable[[], TileStore] | None = None  # shares plan files between machines


def use_cache_dir(path: Path) -> None:
    """Where this process's plans are cached (a process-wide choice, like the plans)."""
    global _cache_dir
    _cache_dir = path


def use_shared_store(store: Callable[[], TileStore] | None) -> None:
    """Share plan files through the durable store's object space (an S3 store: every
    machine of a deployment reads a chunk another built); ``store`` opens it when a plan
    is first used."""
    global _shared_store
    _shared_store = store


def plan_spec(world: World) -> PlanSpec | None:
    """The plan a world is drawn from, or None for a world without one."""
    if world.layout == "procedural":
        return None
    west, south, east, north = world.extent
    x0, y0 = lonlat_to_cell(west, north)
    x1, y1 = lonlat_to_cell(east, south)
    scenario = _scenario(world)
    return PlanSpec(
        world.seed,
        (x0, y0, x1, y1),
        island=world.layout == "plan-island",
        scenario=scenario,
        version=world.plan_version
        or (OPEN_PLAN_VERSION if world.layout == "plan-open" else PLAN_VERSION),
    )


_scenarios: dict[tuple[str, str | None], Scenario] = {}


def _scenario(world: World) -> Scenario | None:
    """The world's scenario, read once per process; refused if the file no longer has the
    hash the world was defined with (the catalog records it when it reads the file)."""
    if world.scenario is None:
        return None
    key = (world.scenario, world.scenario_sha256)
    if key not in _scenarios:
        scenario = load_scenario(Path(world.scenario))
        if world.scenario_sha256 and scenario.sha256 != world.scenario_sha256:
            raise ScenarioError(
                f"world {world.id!r}: scenario {world.scenario} changed since the world was "
                f"loaded (sha256 {scenario.sha256[:12]}... != {world.scenario_sha256[:12]}...); "
                "a changed scenario is a new world: give it a new id"
            )
        _scenarios[key] = scenario
    return _scenarios[key]


def world_plan(world: World, cache_dir: Path | None = None) -> WorldPlan | None:
    spec = plan_spec(world)
    if spec is None:
        return None
    with _lock:
        plan = _plans.get(spec.key)
        if plan is None:
            plan = WorldPlan(
                spec,
                cache_dir or _cache_dir or StoreSettings().plan_dir,
                max_chunks=PlanSettings().plan_chunks_in_memory,
                shared=_shared_store() if _shared_store is not None else None,
            )
            _plans[spec.key] = plan
        return plan


def warm_plan(world: World) -> None:
    """Build (or read) a bounded world's plan now, so the first tile does not wait for it.
    Chunked worlds are planned as tiles touch them."""
    plan = world_plan(world)
    if plan is not None and not plan.spec.chunked:
        plan.build_all()
