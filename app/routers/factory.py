"""The route factory: a layer declares its world-scoped routes once, and `world_router`
mounts them for the default world (`/tilejson.json`) and under `/worlds/{world_id}`.

This follows TiTiler's `titiler/core/factory.py`: endpoints take their world from a path
dependency (app/dependencies.py) that the mount chooses, so the two URLs of an endpoint
cannot drift apart, and a new layer (terrain, say) is one module with one declaration.
A declaration is a plain function called once per mount (TiTiler's `register_routes`),
because the world dependency must be bound when the endpoint is defined: FastAPI reads
it from the parameter's default.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter, Depends

from app.dependencies import default_world, named_world, tile_in
from app.tile_url import WORLD_PREFIX
from core.world import World

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


@dataclass(frozen=True)
class WorldMount:
    """Where a layer's routes are mounted and how their world is found there."""

    prefix: str
    dependency: Callable[..., World]
    # Prefixes route names where a layer is mounted more than once, so that the twins'
    # OpenAPI operation ids stay distinct (`default_tile` / `world_tile`).
    name: str

    @property
    def is_default(self) -> bool:
        return self.prefix == ""


DEFAULT_WORLD = WorldMount("", default_world, "default")
NAMED_WORLD = WorldMount(WORLD_PREFIX, named_world, "world")
BOTH = (NAMED_WORLD, DEFAULT_WORLD)


class WorldRoutes:
    """What a layer's declaration is given, once per mount: `route` registers an endpoint;
    `world` and `tile` are parameter defaults that resolve the mount's world and a checked
    `/{z}/{x}/{y}.png` tile of it (`world: World = routes.world, tile: TileXYZ = routes.tile`).
    Declare `world` before `tile`: the OpenAPI document then lists `world_id` first, as the
    path does."""

    def __init__(self, mount: WorldMount, name_prefix: str = "") -> None:
        self.mount = mount
        self.name_prefix = name_prefix
        self.router = APIRouter()
        # `Any`: each stands as the default of a typed parameter (`world: World = ...`).
        self.world: Any = Depends(mount.dependency)
        self.tile: Any = Depends(tile_in(mount.dependency))

    def route(
        self,
        path: str,
        *,
        summary: str,
        default_summary: str | None = None,
        methods: Sequence[str] = ("GET",),
        **options: Any,
    ) -> Callable[[Endpoint], Endpoint]:
        """Registers the decorated endpoint at `path` (relative to the mount's prefix).
        `summary` documents the named-world route, `default_summary` (if given) the
        default world's; other options go to FastAPI's `add_api_route`."""

        def register(endpoint: Endpoint) -> Endpoint:
            self.router.add_api_route(
                path,
                endpoint,
                methods=list(methods),
                name=self.name_prefix + endpoint.__name__,
                summary=default_summary if self.mount.is_default and default_summary else summary,
                **options,
            )
            return endpoint

        return register


def world_router(
    declare: Callable[[WorldRoutes], None],
    *,
    mounts: Sequence[WorldMount] = BOTH,
    **router_options: Any,
) -> APIRouter:
    """One router holding `declare`'s routes for each mount; `router_options` (tags, auth
    dependencies) apply to all of them, as `APIRouter(...)` options do."""
    router = APIRouter(**router_options)
    for mount in mounts:
        routes = WorldRoutes(mount, f"{mount.name}_" if len(mounts) > 1 else "")
        declare(routes)
        router.include_router(routes.router, prefix=mount.prefix)
    return router
