"""The OpenAPI document says what the routes answer: 400 (never 422), typed tile paths."""

from __future__ import annotations

import re

import pytest

from app.main import create_app
from tests.stack import WORLDS_FILE


@pytest.fixture(scope="module")
def openapi() -> dict:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SYNTHTILES_REDIS_URL", "redis://127.0.0.1:1/0")  # never connected to
        env.setenv("SYNTHTILES_WORLDS_FILE", str(WORLDS_FILE))
        return create_app().openapi()


def test_no_route_documents_422_and_errors_have_a_schema(openapi: dict) -> None:
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            assert "422" not in operation["responses"], (path, method)
    assert "ValidationError" not in openapi["components"]["schemas"]
    ids = [op["operationId"] for ops in openapi["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))  # GET and HEAD of a route are told apart
    export = openapi["paths"]["/export"]["post"]["responses"]
    assert export["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


def test_tile_routes_document_their_answers_and_typed_coordinates(openapi: dict) -> None:
    for path in ("/{z}/{x}/{y_file}", "/worlds/{world_id}/{z}/{x}/{y_file}"):
        operation = openapi["paths"][path]["get"]
        assert {"200", "304", "400", "404", "429", "503"} <= set(operation["responses"])
        assert "Retry-After" in operation["responses"]["503"]["headers"]
        schemas = {p["name"]: p["schema"] for p in operation["parameters"]}
        assert re.fullmatch(schemas["z"]["pattern"], "12")
        assert not re.fullmatch(schemas["z"]["pattern"], "012")
        assert re.fullmatch(schemas["y_file"]["pattern"], "7.png")
        assert not re.fullmatch(schemas["y_file"]["pattern"], "7.jpg")
