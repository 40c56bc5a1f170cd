"""Model store: chip filter, registry integrity, KID/FID, and train -> registry -> tiles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.png import decode_tile
from core.store import FileTileStore
from core.units import UnitKey
from core.world import World
from model_store.chips import ChipFilter, cut_chips, load_labels
from model_store.evaluation import HistogramRanges, fid, kid
from model_store.registry import ModelIntegrityError, ModelRegistry, load_model
from model_store.texture_prior import BANK_RENDERER_VERSION, RENDERERS
from model_store.training import TrainConfig, train
from worker.synthesis.generators.base import GeneratorOptions
from worker.synthesis.generators.diffusion import DiffusionGenerator
from worker.synthesis.producer import UnitProducer


def _chip_with(black: int, white: int, size: int = 64) -> np.ndarray:
    chip = np.full((size, size, 3), 120, np.uint8)
    flat = chip.reshape(-1, 3)
    flat[:black] = 0
    flat[black : black + white] = 255
    return chip


def test_chip_filter_keeps_and_drops_exactly_at_the_thresholds() -> None:
    rule = ChipFilter(max_black_fraction=0.0005, max_white_fraction=0.0005)
    pixels = 200 * 200  # 0.05 % of 40,000 pixels = 20 pixels
    assert rule.keep(_chip_with(20, 0, 200)) and rule.keep(_chip_with(0, 20, 200))
    assert not rule.keep(_chip_with(21, 0, 200)) and not rule.keep(_chip_with(0, 21, 200))
    assert rule.keep(_chip_with(20, 20, 200))
    assert pixels * 0.0005 == 20
    # A nearly-black pixel is not black; thresholds are configurable.
    almost = _chip_with(0, 0, 200)
    almost[:50, :50] = 1
    assert rule.keep(almost)
    assert not ChipFilter(black_level=1).keep(almost)


def test_cut_chips_tiles_the_image_and_filters() -> None:
    image = np.full((130, 200, 3), 100, np.uint8)
    image[:64, :64] = 255  # the first chip is white
    chips = cut_chips(image, 64, ChipFilter())
    assert len(chips) == 2 * 3 - 1


def test_labels_from_csv_and_rule(tmp_path: Path) -> None:
    for name in ("a_forest.png", "urban_b.png"):
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("file,class\na_forest.png,forest\n")
    labels = load_labels(tmp_path, csv_path, r"^([a-z]+)_")
    assert labels == {"a_forest.png": "forest", "urban_b.png": "urban"}
    with pytest.raises(ValueError, match="unknown classes"):
        load_labels(tmp_path, None, r"^(ur)")


def test_kid_is_near_zero_for_identical_sets_and_large_for_different_ones() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (300, 64))
    b = rng.normal(0, 1, (300, 64))
    c = rng.normal(1.5, 1, (300, 64))
    same, _ = kid(a, a.copy())
    similar, _ = kid(a, b)
    different, _ = kid(a, c)
    # Identical and same-distribution sets: KID ~ 0 (subset noise ~0.05 at this size).
    assert abs(same) < 0.1 and abs(similar) < 0.1
    assert different > 100 * max(abs(same), abs(similar))
    assert fid(a, a.copy()) < 1e-6 < fid(a, c)


def test_histogram_ranges_from_chips() -> None:
    chips = np.stack([np.full((4, 4, 3), v, np.uint8) for v in range(50, 150)])
    ranges = HistogramRanges.from_chips(chips)
    assert ranges.low[0] == pytest.approx(50.495 - 5) and ranges.high[0] == pytest.approx(
        148.505 + 5
    )
    tiles = np.stack([np.full((4, 4, 3), 60, np.uint8), np.full((4, 4, 3), 200, np.uint8)])
    assert ranges.valid(tiles).tolist() == [True, False]


def _tiny_config(data: Path, work: Path, steps: int) -> TrainConfig:
    """A few steps of a tiny UNet on tiny images: seconds on a CPU."""
    return TrainConfig(
        data=data,
        work_dir=work,
        label_rule=r"^([a-z]+)_",
        steps=steps,
        batch_size=4,
        crop=32,
        levels=2,
        checkpoint_every=2,
        widths=(8, 16),
        sample_steps=2,
    )


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelRegistry, str]:
    """Train a few steps on tiny synthetic images and add the result to a registry."""
    root = tmp_path_factory.mktemp("tiny")
    data = root / "images"
    data.mkdir()
    rng = np.random.default_rng(0)
    for index, cls in enumerate(["forest", "urban", "bare"]):
        pixels = rng.integers(0, 255, (96, 96, 3), np.uint8)
        Image.fromarray(pixels).save(data / f"{cls}_{index}.png")
    final = train(_tiny_config(data, root / "run", steps=3))
    assert (root / "run" / "samples-000002.png").exists()  # a grid per checkpoint
    registry = ModelRegistry([root / "models"])
    registry.add(final, "tiny@0.0.1", training_data={"folder": str(data)})
    return registry, "tiny@0.0.1"


def test_training_resumes_from_its_checkpoint(tiny_model, tmp_path: Path, capsys) -> None:
    """A longer run in the same work dir continues from the checkpoint (step 3), keeping the
    first run's losses, instead of starting over."""
    registry, model_id = tiny_model
    root = registry.get(model_id).path.parents[2]
    work = tmp_path / "run"
    shutil.copytree(root / "run", work)
    before = torch.load(work / "checkpoint.pt", weights_only=False)
    assert before["step"] == 3 and len(before["losses"]) == 3
    final = train(_tiny_config(root / "images", work, steps=5))
    assert "resumed from step 3" in capsys.readouterr().out
    after = torch.load(work / "checkpoint.pt", weights_only=False)
    assert after["step"] == 5 and after["losses"][:3] == before["losses"]
    assert len(after["losses"]) == 5
    assert json.loads((final / "training.json").read_text())["steps"] == 5


def test_trained_model_is_loaded_by_the_engine_and_makes_tiles(tiny_model, tmp_path: Path) -> None:
    registry, model_id = tiny_model
    loaded = load_model(registry, model_id)
    generator = DiffusionGenerator(loaded, GeneratorOptions(steps=2))
    world = World(id="tiny", seed=3, model=model_id, min_zoom=3, max_zoom=5, canvas_margin=8)
    producer = UnitProducer(FileTileStore(tmp_path), lambda _world: generator)
    made = producer.produce(world, [UnitKey("tiny", 4, 5, 6)])
    assert UnitKey("tiny", 4, 5, 6) in made and UnitKey("tiny", 3, 2, 3) in made
    tile = decode_tile((tmp_path / "tiny" / "4" / "5" / "6.png").read_bytes())
    assert tile.shape == (256, 256, 3) and tile.std() > 0


def test_tampered_weights_are_refused(tiny_model, tmp_path: Path) -> None:
    registry, model_id = tiny_model

    copy_root = tmp_path / "models"
    shutil.copytree(registry.get(model_id).path.parents[1], copy_root)
    tampered = ModelRegistry([copy_root])
    weights = copy_root / "tiny" / "0.0.1" / "unet" / "diffusion_pytorch_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="refusing to load modified weights"):
        load_model(tampered, model_id)
    assert registry.verify(model_id).id == model_id  # the original still verifies


def test_inception_features_separate_textures_from_flat_images() -> None:
    from model_store.evaluation import InceptionFeatures

    rng = np.random.default_rng(0)
    ramps = np.linspace(0, 255, 64).astype(np.uint8)
    textured = np.stack(
        [np.dstack([rng.permutation(np.tile(ramps, (64, 1)))] * 3) for _ in range(24)]
    )
    textured_too = np.stack(
        [np.dstack([rng.permutation(np.tile(ramps, (64, 1)))] * 3) for _ in range(24)]
    )
    flat = np.stack([np.full((64, 64, 3), v, np.uint8) for v in rng.integers(90, 160, 24)])
    features = InceptionFeatures()
    f_textured, f_textured_too, f_flat = features(textured), features(textured_too), features(flat)
    assert f_textured.shape == (24, 2048)
    near, _ = kid(f_textured, f_textured_too, subset_size=24)
    far, _ = kid(f_textured, f_flat, subset_size=24)
    assert far > 10 * abs(near)


def test_add_prior_registers_a_new_version_whose_prior_is_verified(
    tiny_model, tmp_path: Path
) -> None:
    from app.cli import main

    registry, model_id = tiny_model
    models = tmp_path / "models"
    shutil.copytree(registry.get(model_id).path.parents[1], models)
    data = tmp_path / "labelled"
    data.mkdir()
    rng = np.random.default_rng(1)
    for cls in ("forest", "cropland"):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), np.uint8)).save(data / f"{cls}_1.png")
    args = ["models", "--models-dir", str(models), "add-prior", model_id, "tiny@0.0.2"]
    args += ["--data", str(data), "--label-rule", r"^([a-z]+)_", "--size", "32"]
    assert main([*args, "--strength", "1.5"]) == 1  # out of range: refused, nothing added
    assert not (models / "tiny" / "0.0.2").exists()
    assert main([*args, "--strength", "0.5"]) == 0

    copy = ModelRegistry([models])
    entry = copy.verify("tiny@0.0.2")
    assert "texture_prior.safetensors" in entry.manifest["files"]
    assert entry.conditioning["texture_prior"]["strength"] == 0.5
    assert entry.manifest["training_data"]["texture_prior"]["derived_from"] == model_id
    loaded = load_model(copy, "tiny@0.0.2")
    generator = DiffusionGenerator(loaded, GeneratorOptions(steps=2))
    assert set(generator.prior.stats.classes) == {"forest", "cropland"}
    # The engine uses it: units at the prior's zoom start from its render, deterministically.
    world = World(id="fine", seed=3, model="tiny@0.0.2", min_zoom=15, max_zoom=16, canvas_margin=8)
    tiles = []
    for run in ("a", "b"):
        producer = UnitProducer(FileTileStore(tmp_path / run), lambda _world: generator)
        key = UnitKey("fine", 16, 30000, 30001)
        assert key in producer.produce(world, [key])
        tiles.append((tmp_path / run / "fine" / "16" / "30000" / "30001.png").read_bytes())
    assert tiles[0] == tiles[1] and decode_tile(tiles[0]).std() > 0
    # A prior drawn by a renderer this code does not have is refused, not drawn differently.
    loaded.conditioning["texture_prior"]["renderer"] = 99
    with pytest.raises(ValueError, match="texture renderer 99"):
        DiffusionGenerator(loaded, GeneratorOptions(steps=2))

    prior = entry.path / "texture_prior.safetensors"
    prior.write_bytes(prior.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ModelIntegrityError, match="texture_prior"):
        load_model(copy, "tiny@0.0.2")


def _labelled_photos(folder: Path, names: dict[str, str]) -> Path:
    """Real PNG photographs (noise) and a labels CSV naming them all training data."""
    folder.mkdir()
    rng = np.random.default_rng(4)
    for name in names:
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), np.uint8)).save(folder / name)
    labels = folder / "labels.csv"
    lines = ["file,class,split", *(f"{name},{cls},train" for name, cls in names.items())]
    labels.write_text("\n".join(lines) + "\n")
    return labels


# One photograph of every surface renderer 3 draws.
EVERY_SURFACE = {
    "irrcrop1.png": "cropland",
    "forest.png": "forest",
    "grass.png": "grassland",
    "industrial.png": "urban",
    "rock_red.png": "bare",
    "sand.png": "bare",
    "savanna.png": "grassland",
    "gravel_brown.png": "bare",
    "town.png": "urban",
    "water.png": "water",
    "marsh.png": "grassland",
}


def _models_with_prior(tiny_model, tmp_path: Path) -> tuple[Path, list[str]]:
    """A copy of the tiny model's registry with tiny@0.0.2 (the model plus a texture prior
    from one forest image) added through the CLI; (registry folder, CLI prefix for it)."""
    from app.cli import main

    registry, model_id = tiny_model
    models = tmp_path / "models"
    shutil.copytree(registry.get(model_id).path.parents[1], models)
    prior_data = tmp_path / "labelled"
    prior_data.mkdir()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), np.uint8)).save(prior_data / "forest_1.png")
    base = ["models", "--models-dir", str(models)]
    prior = [*base, "add-prior", model_id, "tiny@0.0.2", "--data", str(prior_data)]
    assert main([*prior, "--label-rule", r"^([a-z]+)_", "--size", "32"]) == 0
    return models, base


def test_add_bank_registers_a_version_drawn_from_photographs(tiny_model, tmp_path: Path) -> None:
    from app.cli import main

    models, base = _models_with_prior(tiny_model, tmp_path)

    # Photographs that leave surfaces out are refused, naming what is missing.
    few = _labelled_photos(tmp_path / "few", {"forest.png": "forest", "savanna.png": "grassland"})
    bank = [*base, "add-bank", "tiny@0.0.2", "tiny@0.0.3", "--holdout", str(tmp_path / "none")]
    assert main([*bank, "--data", str(tmp_path / "few"), "--labels", str(few)]) == 1
    assert not (models / "tiny" / "0.0.3").exists()

    every = _labelled_photos(tmp_path / "every", EVERY_SURFACE)
    made = [*bank, "--data", str(tmp_path / "every"), "--labels", str(every)]
    assert main([*made, "--no-learned-step"]) == 0
    entry = ModelRegistry([models]).verify("tiny@0.0.3")
    assert entry.conditioning["texture_prior"]["renderer"] == BANK_RENDERER_VERSION
    assert entry.conditioning["learned_step"] is False
    assert f"texture_bank/{'forest.jpg'}" in entry.manifest["files"]
    recorded = entry.manifest["training_data"]["texture_bank"]
    assert recorded["derived_from"] == "tiny@0.0.2"
    assert sorted(recorded["sources"]) == sorted(EVERY_SURFACE)
    generator = DiffusionGenerator(
        load_model(ModelRegistry([models]), "tiny@0.0.3"), GeneratorOptions(steps=2)
    )
    assert generator.prior is not None and generator.prior.bank is not None


def test_redraw_registers_the_same_model_drawn_by_another_renderer(
    tiny_model, tmp_path: Path
) -> None:
    from app.cli import main

    models, base = _models_with_prior(tiny_model, tmp_path)
    every = _labelled_photos(tmp_path / "every", EVERY_SURFACE)
    bank = [*base, "add-bank", "tiny@0.0.2", "tiny@0.0.3", "--holdout", str(tmp_path / "none")]
    assert main([*bank, "--data", str(tmp_path / "every"), "--labels", str(every)]) == 0

    redraw = [*base, "redraw", "tiny@0.0.3", "tiny@0.0.4"]
    assert main([*redraw, "--renderer", str(max(RENDERERS) + 1)]) == 1  # no such renderer
    assert main([*redraw, "--renderer", str(BANK_RENDERER_VERSION)]) == 1  # already drawn so
    no_bank = [*base, "redraw", "tiny@0.0.2", "tiny@0.0.4", "--renderer", "3"]
    assert main(no_bank) == 1  # a bank renderer needs a bank
    assert not (models / "tiny" / "0.0.4").exists()

    assert main([*redraw, "--renderer", "3"]) == 0
    source = ModelRegistry([models]).verify("tiny@0.0.3")
    made = ModelRegistry([models]).verify("tiny@0.0.4")
    assert made.conditioning["texture_prior"] == {
        **source.conditioning["texture_prior"],
        "renderer": 3,
    }
    differ = {
        name
        for name, digest in made.manifest["files"].items()
        if source.manifest["files"].get(name) != digest
    }
    assert differ == {"conditioning.json"}
    assert made.manifest["training_data"]["redrawn_from"] == {
        "model": "tiny@0.0.3",
        "renderer": BANK_RENDERER_VERSION,
    }
    generator = DiffusionGenerator(
        load_model(ModelRegistry([models]), "tiny@0.0.4"), GeneratorOptions(steps=2)
    )
    assert generator.prior is not None
    assert generator.prior.plan_renderer(1).version == 3
    assert generator.parent_lock == "exact"  # what a model says nothing about keeps

    # The same renderer with another cascade setting is a new version too.
    relock = [*base, "redraw", "tiny@0.0.4", "tiny@0.0.5", "--renderer", "3"]
    assert main(relock) == 1  # nothing would change
    assert main([*relock, "--parent-lock", "exact"]) == 1  # the default: nothing either
    assert main([*relock, "--parent-lock", "smooth"]) == 1  # reads the parent margin's source
    assert not (models / "tiny" / "0.0.5").exists()
    assert main([*relock, "--parent-lock", "smooth", "--parent-margin", "parent"]) == 0
    locked = ModelRegistry([models]).verify("tiny@0.0.5")
    assert locked.conditioning == {
        **made.conditioning,
        "parent_lock": "smooth",
        "parent_margin": "parent",
    }
    generator = DiffusionGenerator(
        load_model(ModelRegistry([models]), "tiny@0.0.5"), GeneratorOptions(steps=2)
    )
    assert generator.parent_lock == "smooth"
    loaded = load_model(ModelRegistry([models]), "tiny@0.0.5")
    settings = loaded.conditioning
    for wrong, message in (
        ({"parent_lock": "tight"}, "parent_lock must be one of"),
        ({"parent_margin": "edge"}, 'needs parent_margin "parent"'),
        ({"parent_lock_sigma": 0.0}, "parent_lock_sigma must be > 0"),
    ):
        loaded.conditioning = {**settings, **wrong}
        with pytest.raises(ValueError, match=message):
            DiffusionGenerator(loaded)


def test_without_the_learned_step_the_network_is_never_called(tiny_model, tmp_path: Path) -> None:
    """learned_step false: the cascade, the texture render and the parent projection, and
    no UNet call; the tile is still a pure function of the unit."""
    from app.cli import main

    registry, model_id = tiny_model
    models = tmp_path / "models"
    shutil.copytree(registry.get(model_id).path.parents[1], models)
    data = tmp_path / "labelled"
    data.mkdir()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), np.uint8)).save(
        data / "forest_1.png"
    )
    args = ["models", "--models-dir", str(models), "add-prior", model_id, "tiny@0.0.2"]
    assert main([*args, "--data", str(data), "--label-rule", r"^([a-z]+)_", "--size", "32"]) == 0
    loaded = load_model(ModelRegistry([models]), "tiny@0.0.2")
    loaded.conditioning["learned_step"] = False

    def refuse(*_args, **_kwargs):
        raise AssertionError("the UNet was called")

    loaded.unet.forward = refuse
    generator = DiffusionGenerator(loaded, GeneratorOptions(steps=2))
    world = World(id="fine", seed=3, model="tiny@0.0.2", min_zoom=15, max_zoom=16, canvas_margin=8)
    tiles = []
    for run in ("a", "b"):
        producer = UnitProducer(FileTileStore(tmp_path / run), lambda _world: generator)
        key = UnitKey("fine", 16, 30000, 30001)
        assert key in producer.produce(world, [key])
        tiles.append((tmp_path / run / "fine" / "16" / "30000" / "30001.png").read_bytes())
    assert tiles[0] == tiles[1] and decode_tile(tiles[0]).std() > 0
