"""World definitions: the fixed parameters that make every tile a pure function of (world, z, x, y).

A world is created once and never edited: changing its seed, model, tile size, unit size,
zoom range or extent makes a *different* world, so give it a new id. Worlds come from a TOML
file (``SYNTHTILES_WORLDS_FILE``) plus the built-in default world.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import mercantile
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

# Web Mercator stops at about ±85.0511° latitude.
MERCATOR_MAX_LAT = 85.0511287798066
MAX_SUPPORTED_ZOOM = 24


# A world id: what may appear in /worlds/{id}/... URLs and in the store's paths.
WORLD_ID_PATTERN = r"[a-z0-9][a-z0-9_-]{0,62}"


class World(BaseModel):
    """One synthetic world: everything that fixes its pixels."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=rf"^{WORLD_ID_PATTERN}$")
    name: str = ""
    seed: int = Field(ge=0, lt=2**63)
    model: str = Field(pattern=r"^[A-Za-z0-9_.-]+@[A-Za-z0-9_.+-]+$", description="NAME@VERSION")
    tile_size: int = 256
    unit_size: int = Field(1, ge=1, le=16, description="generation unit edge, in tiles")
    min_zoom: int = Field(ge=0, le=MAX_SUPPORTED_ZOOM)
    max_zoom: int = Field(ge=0, le=MAX_SUPPORTED_ZOOM)
    # west, south, east, north in degrees (WGS84)
    extent: tuple[float, float, float, float] = (-180.0, -MERCATOR_MAX_LAT, 180.0, MERCATOR_MAX_LAT)
    center: tuple[float, float] | None = None
    # "procedural": the land-cover noise of the first worlds (core/layout.py);
    # "plan": a world plan (relief, rivers, roads, towns, fields; core/plan);
    # "plan-island": a plan whose land sinks into the sea towards the extent's edges;
    # "plan-open": an open world over the whole plane, planned coarse to fine (plan
    # version 2, core/plan/open.py): rivers and roads run on across chunk borders.
    layout: Literal["procedural", "plan", "plan-island", "plan-open"] = "procedural"
    # Which planning draws a plan world (core.plan.plan): 1 (bounded, the first), 3 (as 1,
    # rivers winding in loops); "plan-open" takes 2. None: the layout's first (1 or 2).
    plan_version: Literal[1, 2, 3] | None = None
    # A GeoJSON scenario overriding the plan where its features are (plan worlds only).
    # In a worlds file the path is relative to that file; the catalog resolves it and
    # records the file's sha256, which is part of the world.
    scenario: str | None = None
    scenario_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    # Pixels of context around a unit on the generation canvas (neighbour inpainting).
    canvas_margin: int = Field(32, ge=0, le=256)

    @field_validator("tile_size")
    @classmethod
    def _tile_size_supported(cls, value: int) -> int:
        if value not in (256, 512):
            raise ValueError("tile_size must be 256 or 512")
        return value

    @field_validator("canvas_margin")
    @classmethod
    def _margin_even(cls, value: int) -> int:
        if value % 2:
            raise ValueError("canvas_margin must be even (the parent canvas is half resolution)")
        return value

    @field_validator("unit_size")
    @classmethod
    def _unit_size_power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError(
                "unit_size must be a power of two (so a unit's parent area is one unit)"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> World:
        if self.min_zoom > self.max_zoom:
            raise ValueError("min_zoom must not exceed max_zoom")
        if 2**self.min_zoom < self.unit_size:
            raise ValueError("unit_size must not exceed the grid at min_zoom (2**min_zoom tiles)")
        if self.scenario is not None and self.layout == "procedural":
            raise ValueError('a scenario needs layout = "plan" or "plan-island"')
        if self.scenario is not None and self.layout == "plan-open":
            raise ValueError('a scenario needs layout = "plan" or "plan-island", not "plan-open"')
        if self.plan_version is not None:
            if self.layout == "procedural":
                raise ValueError('plan_version needs layout = "plan", "plan-island" or "plan-open"')
            if (self.plan_version == 2) != (self.layout == "plan-open"):
                raise ValueError(
                    'plan_version 2 is the open planning: it goes with layout = "plan-open" '
                    "and only with it (bounded plans take 1 or 3)"
                )
        west, south, east, north = self.extent
        if not (-180 <= west < east <= 180):
            raise ValueError("extent must satisfy -180 <= west < east <= 180")
        if not (-MERCATOR_MAX_LAT <= south < north <= MERCATOR_MAX_LAT):
            raise ValueError(f"extent must satisfy -{MERCATOR_MAX_LAT} <= south < north <= ...")
        return self

    @property
    def model_name(self) -> str:
        return self.model.split("@", 1)[0]

    @property
    def model_version(self) -> str:
        return self.model.split("@", 1)[1]

    @property
    def center_lonlat(self) -> tuple[float, float]:
        if self.center is not None:
            return self.center
        west, south, east, north = self.extent
        return ((west + east) / 2, (south + north) / 2)

    def tile_range(self, z: int) -> tuple[int, int, int, int]:
        """Inclusive (min_x, min_y, max_x, max_y) of the tiles that touch the extent at zoom z."""
        west, south, east, north = self.extent
        # Nudge inwards so a bound that falls exactly on a tile edge does not pull in the next tile.
        eps = 1e-9
        top_left = mercantile.tile(west + eps, north - eps, z)
        bottom_right = mercantile.tile(east - eps, south + eps, z)
        return top_left.x, top_left.y, bottom_right.x, bottom_right.y

    def contains_tile(self, z: int, x: int, y: int) -> bool:
        min_x, min_y, max_x, max_y = self.tile_range(z)
        return min_x <= x <= max_x and min_y <= y <= max_y


# The first Carana: land-cover noise drawn with carana-sr@0.2.0. Kept servable by id
# (published tiles never change); no longer the default.
CARANA_V1 = World(
    id="carana",
    name="Carana (synthetic, first version)",
    seed=20261126,
    model="carana-sr@0.2.0",
    unit_size=1,
    min_zoom=10,
    max_zoom=16,
    # A fictional country placed in open ocean, so no tile can be mistaken for a real place.
    extent=(-30.0, -10.0, -24.0, -4.0),
)


def _carana_island(world_id: str, name: str, model: str, plan_version: int | None = None) -> World:
    """Carana from its world plan: every version after the first draws the same country
    (seed, extent, layout); what differs is the model that draws it and, from carana-v11,
    the planning's version (how its rivers wind)."""
    return World(
        id=world_id,
        name=name,
        seed=20261129,
        model=model,
        unit_size=1,
        min_zoom=10,
        max_zoom=16,
        extent=(-30.0, -10.0, -24.0, -4.0),
        layout="plan-island",
        plan_version=plan_version,
    )


# Drawn by carana-sr@0.3.0 (flat colours and noise from the texture prior's statistics).
# Kept servable by id; no longer the default.
CARANA_V2 = _carana_island("carana-v2", "Carana (synthetic, second version)", "carana-sr@0.3.0")

# Drawn from the training photographs themselves by carana-sr@0.4.0 (its texture bank,
# renderer 3). Kept servable by id; no longer the default.
CARANA_V3 = _carana_island("carana-v3", "Carana (synthetic, third version)", "carana-sr@0.4.0")

# Drawn from the texture bank by carana-sr@0.5.0 (renderer 4: pre-filtered to the pixel,
# so the cascade from z10 no longer carries coarse zooms' field speckle down). Kept
# servable by id; no longer the default.
CARANA_V4 = _carana_island("carana-v4", "Carana (synthetic, fourth version)", "carana-sr@0.5.0")

# Drawn by carana-sr@0.6.0 (renderer 5: renderer 4 with parkland trees one by one,
# seasons by region, tracks that stop, bare ground with cover, river banks). Kept servable
# by id; no longer the default.
CARANA_V5 = _carana_island("carana-v5", "Carana (synthetic, fifth version)", "carana-sr@0.6.0")

# Drawn by carana-sr@0.7.0 (renderer 6: renderer 5 with the regional choice of
# photographs an organic field instead of a square 6 km lattice). Kept servable by id; no
# longer the default.
CARANA_V6 = _carana_island("carana-v6", "Carana (synthetic, sixth version)", "carana-sr@0.7.0")

# Drawn by carana-sr@0.8.0 (renderer 7: field systems as cadastres, strips of varied width
# and margins on some fields only; unit borders not feathered). Kept servable by id; no
# longer the default.
CARANA_V7 = _carana_island("carana-v7", "Carana (synthetic, seventh version)", "carana-sr@0.8.0")

# Drawn by carana-sr@0.9.0 (renderer 8: renderer 7 with a margin of its own on most
# fields, grass strips of photograph texture or tree lines, and fields that keep more of
# their own tone). Kept servable by id; no longer the default.
CARANA_V8 = _carana_island("carana-v8", "Carana (synthetic, eighth version)", "carana-sr@0.9.0")

# Drawn by carana-sr@0.10.0 (renderer 8, each zoom tied to the zoom above by the low
# frequencies only: parent_lock "smooth", no blocky drift at tile borders). Kept servable
# by id; no longer the default.
CARANA_V9 = _carana_island("carana-v9", "Carana (synthetic, ninth version)", "carana-sr@0.10.0")

# Drawn by carana-sr@0.11.0 (renderer 9: carana-v9 with rivers drawn as beds of sand and a
# low-water thread winding through them, not tubes of one width). Kept servable by id; no
# longer the default.
CARANA_V10 = _carana_island("carana-v10", "Carana (synthetic, tenth version)", "carana-sr@0.11.0")

# The default world: drawn by carana-sr@0.12.0 (renderer 10: the fields of a landscape
# from photographs of its season, not a quilt of every crop) on plan version 3, whose
# rivers wind in loops of varying size (sine-generated curves), not in sideways sines of
# one wavelength.
DEFAULT_WORLD = _carana_island("carana-v11", "Carana (synthetic)", "carana-sr@0.12.0", 3)

# An open world over the whole Web-Mercator plane (plan version 2: continents planned
# coarse to fine, rivers and roads continuous across chunk borders), drawn like Carana.
TERRA = World(
    id="terra",
    name="Terra (synthetic open world)",
    seed=20261202,
    model="carana-sr@0.5.0",
    unit_size=1,
    min_zoom=10,
    max_zoom=16,
    layout="plan-open",
    center=(-140.0, 40.0),
)

BUILTIN_WORLDS = (
    DEFAULT_WORLD,
    CARANA_V10,
    CARANA_V9,
    CARANA_V8,
    CARANA_V7,
    CARANA_V6,
    CARANA_V5,
    CARANA_V4,
    CARANA_V3,
    CARANA_V2,
    CARANA_V1,
    TERRA,
)


def _with_scenario(entry: dict, base: Path) -> dict:
    """Resolve a world's scenario path (relative to the worlds file) and read the file
    once, whole: a bad file raises ScenarioError here, before anything is served."""
    if not entry.get("scenario"):
        return entry
    from core.plan.scenario import ScenarioError, load_scenario

    path = (base / str(entry["scenario"])).resolve()
    scenario = load_scenario(path)
    pinned = entry.get("scenario_sha256")
    if pinned and pinned != scenario.sha256:
        raise ScenarioError(
            f"world {entry.get('id')!r}: scenario {path} has sha256 {scenario.sha256[:12]}..., "
            f"the worlds file pins {str(pinned)[:12]}...; a changed scenario is a new world: "
            "give it a new id"
        )
    return {**entry, "scenario": str(path), "scenario_sha256": scenario.sha256}


class WorldsFileError(ValueError):
    """A world in a worlds file is not valid: the message names the file and the world."""


def _world_from_file(entry: dict, worlds_file: Path) -> World:
    """A worlds-file entry as a World, or a WorldsFileError that says what is wrong with
    it in one line per field (not pydantic's traceback). A bad scenario file raises its
    own ScenarioError, which names the feature."""
    where = f"{worlds_file}: world {entry.get('id', '(no id)')!r}"
    try:
        return World(**_with_scenario(entry, worlds_file.parent))
    except ValidationError as exc:
        problems = "; ".join(_problem(error) for error in exc.errors())
        raise WorldsFileError(f"{where}: {problems}") from None


def _problem(error: dict) -> str:
    """One pydantic error as "field: message" (a rule across fields has no field)."""
    field = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{field}: {message}" if field else message


class WorldCatalog:
    """The worlds this deployment serves, by id."""

    def __init__(self, worlds: Iterable[World], default_id: str) -> None:
        self._worlds: dict[str, World] = {}
        for world in worlds:
            if world.id in self._worlds:
                raise ValueError(f"world id {world.id!r} is defined twice")
            self._worlds[world.id] = world
        if default_id not in self._worlds:
            raise ValueError(f"default world {default_id!r} is not defined")
        self.default_id = default_id

    @classmethod
    def load(cls, worlds_file: Path | None, default_id: str | None = None) -> WorldCatalog:
        worlds = list(BUILTIN_WORLDS)
        if worlds_file is not None:
            with worlds_file.open("rb") as handle:
                data = tomllib.load(handle)
            defined = [_world_from_file(entry, worlds_file) for entry in data.get("worlds", [])]
            # A file may redefine the built-in id to replace it.
            worlds = [w for w in worlds if w.id not in {d.id for d in defined}] + defined
            default_id = default_id or data.get("default")
        return cls(worlds, default_id or DEFAULT_WORLD.id)

    @property
    def default(self) -> World:
        return self._worlds[self.default_id]

    def get(self, world_id: str) -> World | None:
        return self._worlds.get(world_id)

    def ids(self) -> list[str]:
        return sorted(self._worlds)

    def __iter__(self):
        return iter(self._worlds.values())
