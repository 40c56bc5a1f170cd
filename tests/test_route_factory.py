"""The route factory (app/routers/factory.py): a layer declared once answers for the default
world and under /worlds/{world_id}, with the same checks; the app's world-scoped routes all
come from it (no Redis needed: only the world catalog is read)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.dependencies import TileXYZ
from app.errors import install_error_handlers
from app.main import create_app
from app.routers.factory import WorldRoutes, world_router
from app.tile_url import TILE_ROUTE
from core.config import Config
from core.settings import RedisSettings, WorldSettings
from core.world import World, WorldCatalog
from tests.stack import WORLDS_FILE


def _terrain(routes: WorldRoutes) -> None:
    """A made-up layer, as a new one (terrain, say) would declare itself."""

    @routes.route(
        "/terrain" + TILE_ROUTE,
        summary="Terrain of a world",
        default_summary="Terrain of the default world",
    )
    async def terrain(world: World = routes.world, tile: TileXYZ = routes.tile) -> dict[str, Any]:
        return {"world": world.id, "tile": list(tile), "default": routes.mount.is_default}


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(world_router(_terrain))
    app.state.services = SimpleNamespace(catalog=WorldCatalog.load(WORLDS_FILE))
    return TestClient(app)


def test_one_declaration_answers_for_the_default_and_a_named_world(client: TestClient) -> None:
    assert client.get("/terrain/3/4/3.png").json() == {
        "world": "testland",
        "tile": [3, 4, 3],
        "default": True,
    }
    assert client.get("/worlds/blocks/terrain/3/4/3.png").json() == {
        "world": "blocks",
        "tile": [3, 4, 3],
        "default": False,
    }


def test_both_mounts_check_the_world_and_the_tile(client: TestClient) -> None:
    unknown = client.get("/worlds/nowhere/terrain/3/4/3.png")
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "unknown world 'nowhere'"
    assert "testland" in unknown.json()["worlds"]
    # Zoom ranges differ: testland serves z2, blocks starts at z3.
    assert client.get("/terrain/2/1/1.png").status_code == 200
    assert client.get("/worlds/blocks/terrain/2/1/1.png").status_code == 404
    bad = client.get("/worlds/blocks/terrain/03/4/3.png")
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("z must be a non-negative integer")


@pytest.fixture(scope="module")
def openapi() -> dict:
    config = Config.from_env(
        redis=RedisSettings(redis_url="redis://127.0.0.1:1/0"),  # never connected to
        worlds=WorldSettings(worlds_file=WORLDS_FILE),
    )
    return create_app(config).openapi()


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (TILE_ROUTE, "tile"),
        ("/tilejson.json", "tilejson"),
        ("/style.json", "style"),
        ("/WMTSCapabilities.xml", "capabilities"),
        ("/features.geojson", "features"),
    ],
)
def test_app_mounts_each_world_route_twice_with_the_names_it_had(
    openapi: dict, path: str, name: str
) -> None:
    default = openapi["paths"][path]["get"]
    named = openapi["paths"]["/worlds/{world_id}" + path]["get"]
    assert default["operationId"].startswith(f"default_{name}_")
    assert named["operationId"].startswith(f"world_{name}_")
    assert "default world" in default["summary"]
    assert "default world" not in named["summary"]
    # world_id first, as in the path (a generated client's argument order).
    assert named["parameters"][0]["name"] == "world_id"
    assert "world_id" not in [p["name"] for p in default.get("parameters", [])]
    assert "404" in named["responses"]


def test_a_layer_mounted_once_keeps_its_plain_name(openapi: dict) -> None:
    operation = openapi["paths"]["/worlds/{world_id}/layout/{z}/{x}/{y_file}"]["get"]
    assert operation["operationId"].startswith("layout_debug_tile_")
    assert [p["name"] for p in operation["parameters"]] == ["world_id", "z", "x", "y_file"]
    assert "/layout/{z}/{x}/{y_file}" not in openapi["paths"]
