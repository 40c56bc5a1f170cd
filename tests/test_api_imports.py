"""The API process never loads the synthesis code: tiles, placeholders, the layout layer
and features of a plan world come from core alone (the import-linter contract checks the
imports; this checks what a running API has actually loaded)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.stack import ROOT, WORLDS_FILE

pytestmark = pytest.mark.integration

SCRIPT = """
import json, sys
from fastapi.testclient import TestClient
from app.main import create_app

with TestClient(create_app()) as client:
    stand_in = {"x-synthtiles-placeholder": "parent"}
    answers = [
        client.get("/worlds/planland/11/1085/1031.png", headers=stand_in).status_code,
        client.get("/worlds/planland/layout/11/1085/1031.png").status_code,
        client.get("/worlds/planland/features.geojson?bbox=10.6,-1.4,10.9,-1.1").status_code,
        client.get("/worlds/planland/tilejson.json").status_code,
    ]
loaded = sorted(
    m for m in sys.modules if m.split(".")[0] in {"torch", "diffusers", "worker", "model_store"}
)
print(json.dumps({"answers": answers, "loaded": loaded}))
"""


def test_the_api_serves_a_plan_world_without_loading_synthesis_code(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHTILES_")}
    env.update(
        SYNTHTILES_REDIS_URL="redis://127.0.0.1:6379/0",
        SYNTHTILES_REDIS_PREFIX=f"test-imports-{uuid.uuid4().hex[:8]}",
        SYNTHTILES_WORLDS_FILE=str(WORLDS_FILE),
        SYNTHTILES_STORE_ROOT=str(tmp_path / "store"),
        PYTHONPATH=str(ROOT),
    )
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["answers"] == [200, 200, 200, 200], report
    assert report["loaded"] == []
