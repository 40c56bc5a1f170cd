"""Model kinds and the diffusers-inpaint kind, with tiny randomly initialised pipelines.

Unit tests run the generator in-process; the last test serves a 3x3 block from a real
`synthtiles serve` with real worker processes, twice, and compares the bytes.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest

from app.cli import main
from core.classes import CLASS_INDEX
from core.settings import WorkerSettings
from core.store import FileTileStore
from core.units import UnitKey
from core.world import World
from model_store.errors import ModelError, ModelIntegrityError
from model_store.kinds import KINDS
from model_store.registry import BUNDLED_ROOT, ModelRegistry, load_model
from tests.stack import Stack
from tests.tiny_inpaint import TINY_CONFIG, build_tiny_inpaint_pipeline
from worker.evaluation.world import Region, read_mosaic, seam_ratio
from worker.synthesis.engine import UnitRequest
from worker.synthesis.generators import BUILT_IN, GeneratorOptions, generator_class, load_generator
from worker.synthesis.generators.diffusion import DiffusionGenerator
from worker.synthesis.generators.inpaint import InpaintGenerator, ground_resolution
from worker.synthesis.producer import UnitProducer

MODEL = "tiny-inpaint@0.1.0"
CONTROL_MODEL = "tiny-inpaint-controlnet@0.1.0"
BLOCK = [(63 + dx, 63 + dy) for dy in range(3) for dx in range(3)]  # z7, around (0, 0)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry with the tiny pipeline (plain and ControlNet) added like a user would."""
    root = tmp_path_factory.mktemp("inpaint")
    config = root / "tiny-config.json"
    config.write_text(json.dumps(TINY_CONFIG))
    for model_id, controlnet in ((MODEL, False), (CONTROL_MODEL, True)):
        source = build_tiny_inpaint_pipeline(root / model_id, controlnet=controlnet)
        args = ["models", "--models-dir", str(root / "models"), "add"]
        args += ["--kind", "diffusers-inpaint", "--config", str(config), str(source), model_id]
        assert main(args) == 0
    return root / "models"


def _world(model: str, world_id: str = "inpaintland") -> World:
    return World(
        id=world_id,
        seed=7,
        model=model,
        min_zoom=6,
        max_zoom=8,
        extent=(-6.0, -6.0, 6.0, 6.0),
        canvas_margin=16,
    )


def test_added_pipeline_is_hashed_and_records_its_kind(models: Path) -> None:
    entry = ModelRegistry([models]).verify(MODEL)
    assert entry.manifest["kind"] == "diffusers-inpaint"
    assert entry.kind.name == "diffusers-inpaint"
    files = entry.manifest["files"]
    assert "unet/diffusion_pytorch_model.safetensors" in files and "model_index.json" in files
    assert entry.conditioning["steps"] == 3  # the given config, not the kind's default
    control = ModelRegistry([models]).verify(CONTROL_MODEL)
    assert "controlnet/diffusion_pytorch_model.safetensors" in control.manifest["files"]


def test_a_pipeline_folder_gets_the_kinds_default_config(models: Path, tmp_path: Path) -> None:
    registry = ModelRegistry([tmp_path / "registry"])
    source = tmp_path / "download"
    shutil.copytree(ModelRegistry([models]).get(MODEL).path, source)
    for name in ("conditioning.json", "manifest.json"):
        (source / name).unlink()
    with pytest.raises(ModelError, match="say its kind"):
        registry.add(source, "sd-inpaint@1.0")
    entry = registry.add(source, "sd-inpaint@1.0", kind="diffusers-inpaint")
    config = entry.conditioning
    assert config["kind"] == "diffusers-inpaint" and "{landcover}" in config["prompts"]["template"]
    assert set(config["prompts"]["classes"]) == set(CLASS_INDEX)


def test_unknown_or_inconsistent_models_are_refused(models: Path, tmp_path: Path) -> None:
    registry = ModelRegistry([tmp_path / "registry"])
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "conditioning.json").write_text(json.dumps({"kind": "gan"}))
    with pytest.raises(ModelError, match=r"unknown model kind 'gan' \(known: diffusers-inpaint"):
        registry.add(odd, "odd@1.0")

    pipeline = ModelRegistry([models]).get(MODEL).path
    for change, message in (
        ({"strength": 1.5}, "strength must be in"),
        ({"steps": 0}, "steps must be an integer"),
        ({"dtype": "float64"}, "dtype must be one of"),
        ({"classes": ["water", "land"]}, "prompts are for classes"),
        ({"prompts": {"template": "no slot", "classes": {}}}, "must contain"),
    ):
        with pytest.raises(ModelError, match=message):
            registry.add(pipeline, "bad@1.0", config={**TINY_CONFIG, **change})
    not_inpainting = tmp_path / "txt2img"
    shutil.copytree(pipeline, not_inpainting)
    index = json.loads((not_inpainting / "model_index.json").read_text())
    index["_class_name"] = "StableDiffusionPipeline"
    (not_inpainting / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ModelError, match="not an inpainting pipeline"):
        registry.add(not_inpainting, "txt2img@1.0")

    # This project's own kind checks what its UNet was trained on, too.
    trained = tmp_path / "sr"
    shutil.copytree(BUNDLED_ROOT / "carana-sr" / "0.1.0", trained)
    (trained / "manifest.json").unlink()
    config = json.loads((trained / "conditioning.json").read_text())
    config["classes"] = config["classes"][:-1]
    (trained / "conditioning.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="trained on classes"):
        registry.add(trained, "sr@9.9")
    assert not (tmp_path / "registry").exists() or not any((tmp_path / "registry").iterdir())


def test_each_kind_names_the_generator_that_draws_it() -> None:
    """A kind names its generator as 'module:Class' (resolved by the worker, never imported
    by model_store); every generator is built as Class(loaded model, GeneratorOptions)."""
    assert generator_class(KINDS["diffusers-inpaint"].generator) is InpaintGenerator
    assert generator_class(KINDS["super-resolution-residual"].generator) is DiffusionGenerator
    for model_id, name in BUILT_IN.items():
        generator = generator_class(name)(None, GeneratorOptions(delay_s=0.5))
        assert generator.model_id == model_id and generator.delay_s == 0.5
    generator = load_generator("carana-sr@0.1.0", WorkerSettings(device_batch_size=3))
    assert isinstance(generator, DiffusionGenerator) and generator.batch_size == 3


def test_a_kind_whose_generator_cannot_be_used_is_refused_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    model = "carana-sr@0.1.0"
    kind = KINDS["super-resolution-residual"]
    for name, reason in (
        (
            "worker.synthesis.generators.nowhere:Gen",
            "no module worker.synthesis.generators.nowhere",
        ),
        (
            "worker.synthesis.generators.diffusion:Nothing",
            "worker.synthesis.generators.diffusion has no Nothing",
        ),
        ("DiffusionGenerator", "names no generator as 'module:Class'"),
    ):
        monkeypatch.setattr(kind, "generator", name, raising=False)
        expected = f"model '{model}' cannot be used: .*{re.escape(reason)}"
        with pytest.raises(LookupError, match=expected):
            load_generator(model, WorkerSettings())
    # A generator whose module needs a package that is not installed.
    (tmp_path / "needs_extra.py").write_text("import synthtiles_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(kind, "generator", "needs_extra:Generator", raising=False)
    missing = r"model 'carana-sr@0\.1\.0' needs a package that is missing: .*not_installed"
    with pytest.raises(LookupError, match=missing):
        load_generator(model, WorkerSettings())


def test_tampered_pipeline_weights_are_refused(models: Path, tmp_path: Path) -> None:
    copy = tmp_path / "models"
    shutil.copytree(models, copy)
    weights = copy / "tiny-inpaint" / "0.1.0" / "unet" / "diffusion_pytorch_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="refusing to load modified weights"):
        load_model(ModelRegistry([copy]), MODEL)
    with pytest.raises(LookupError, match="refusing to load modified weights"):
        load_generator(MODEL, WorkerSettings(models_dir=copy))
    conditioning = copy / "tiny-inpaint-controlnet" / "0.1.0" / "conditioning.json"
    conditioning.write_text(conditioning.read_text().replace('"steps": 3', '"steps": 4'))
    with pytest.raises(ModelIntegrityError, match=r"conditioning\.json differs"):
        load_model(ModelRegistry([copy]), CONTROL_MODEL)


def _request(generator_seed: int, known: np.ndarray, mask: np.ndarray) -> UnitRequest:
    size = known.shape[0]
    rng = np.random.default_rng(0)
    return UnitRequest(
        unit=UnitKey("inpaintland", 7, 63, 63),
        seed=generator_seed,
        zoom=7,
        tile_size=256,
        unit_px=256,
        margin=16,
        parent=rng.integers(0, 255, (size // 2, size // 2, 3), np.uint8),
        parent_is_layout=False,
        known=known,
        known_mask=mask,
        layout=np.full((size, size), CLASS_INDEX["forest"], np.int64),
        canvas_left=63 * 256 - 16,
        canvas_top=63 * 256 - 16,
        world_seed=7,
    )


@pytest.mark.parametrize("model", [MODEL, CONTROL_MODEL])
def test_generator_keeps_known_pixels_and_depends_only_on_the_seed(
    models: Path, model: str
) -> None:
    generator = load_generator(model, WorkerSettings(models_dir=models))
    assert isinstance(generator, InpaintGenerator)
    size = 288
    known = np.random.default_rng(1).integers(0, 255, (size, size, 3), np.uint8)
    mask = np.zeros((size, size), bool)
    mask[:, :48] = True  # a left neighbour's pixels
    first, again, other_seed = (
        generator.generate([_request(seed, known, mask)])[0] for seed in (11, 11, 12)
    )
    assert first.shape == (size, size, 3) and first.dtype == np.uint8
    assert np.array_equal(first[mask], known[mask])  # the neighbour's pixels, exactly
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other_seed)
    # Batched with another unit, a unit's pixels do not change.
    pair = generator.generate([_request(12, known, mask), _request(11, known, mask)])
    assert np.array_equal(pair[1], first)


def test_prompts_name_the_class_and_ground_resolution(models: Path) -> None:
    generator = load_generator(MODEL, WorkerSettings(models_dir=models))
    assert generator.prompts.prompt("forest", 14, 256) == "satellite image of forest, 9.6 m"
    assert ground_resolution(16, 256) == "2.4 m" and ground_resolution(10, 256) == "153 m"


def test_a_block_through_the_engine_is_the_same_twice(models: Path, tmp_path: Path) -> None:
    generator = load_generator(MODEL, WorkerSettings(models_dir=models))
    world = _world(MODEL)
    mosaics = []
    for run in ("a", "b"):
        producer = UnitProducer(FileTileStore(tmp_path / run), lambda _world: generator)
        producer.produce(world, [UnitKey(world.id, 7, x, y) for x, y in BLOCK])
        mosaics.append(read_mosaic(world, tmp_path / run, Region(7, 63, 63, 3, 3)))
    assert np.array_equal(mosaics[0], mosaics[1])
    # Measured, not asserted against a target: the tiny model's pictures are noise.
    print(f"tiny inpaint seam ratio {seam_ratio(mosaics[0], 256):.3f}")


@pytest.mark.integration
def test_serve_a_block_from_a_registered_pipeline_twice(models: Path, tmp_path: Path) -> None:
    worlds = tmp_path / "worlds.toml"
    worlds.write_text(
        'default = "inpaintland"\n\n[[worlds]]\nid = "inpaintland"\nseed = 7\n'
        f'model = "{MODEL}"\nmin_zoom = 6\nmax_zoom = 8\n'
        "extent = [-6.0, -6.0, 6.0, 6.0]\ncanvas_margin = 16\n"
    )
    served = []
    for run in ("a", "b"):
        stack = Stack(
            tmp_path / run,
            f"synthtiles-test-inpaint-{run}-{tmp_path.name}",
            SYNTHTILES_WORLDS_FILE=str(worlds),
            SYNTHTILES_MODELS_DIR=str(models),
        )
        try:
            stack.base_url = stack.start_api()
            stack.start_worker("w1")
            tiles = {}
            for x, y in BLOCK:
                response = httpx.get(f"{stack.base_url}/7/{x}/{y}.png", timeout=180)
                assert response.status_code == 200, response.text
                tiles[x, y] = (response.content, response.headers["etag"])
            served.append(tiles)
        finally:
            stack.stop()
    assert served[0] == served[1]
