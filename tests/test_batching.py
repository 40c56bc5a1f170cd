"""Fixed-size, fixed-slot batches: a unit's bytes do not depend on its batch-mates."""

from __future__ import annotations

import numpy as np
import pytest

from core.units import UnitKey
from model_store.registry import ModelRegistry, load_model
from worker.synthesis.batching import fixed_slot_batches
from worker.synthesis.engine import UnitRequest
from worker.synthesis.generators.base import GeneratorOptions
from worker.synthesis.generators.diffusion import DiffusionGenerator


def test_every_batch_has_the_size_and_every_item_its_slot() -> None:
    batches = fixed_slot_batches([5, 9, 13, 2, 6, 7], 4, slot_of=lambda n: n)
    assert all(len(batch) == 4 for batch in batches)
    for batch in batches:
        for slot, item in enumerate(batch):
            assert item is None or item % 4 == slot
    placed = sorted(item for batch in batches for item in batch if item is not None)
    assert placed == [2, 5, 6, 7, 9, 13]
    assert len(batches) == 3  # 5, 9 and 13 all want slot 1
    assert fixed_slot_batches([], 4, slot_of=lambda n: n) == []
    with pytest.raises(ValueError, match="at least 1"):
        fixed_slot_batches([1], 0, slot_of=lambda n: n)


def _request(seed: int, rng: np.random.Generator) -> UnitRequest:
    size = 256 + 2 * 16
    mask = np.zeros((size, size), bool)
    mask[:, : rng.integers(0, 64)] = True
    return UnitRequest(
        unit=UnitKey("w", 12, seed, 7),
        seed=seed,
        zoom=12,
        tile_size=256,
        unit_px=256,
        margin=16,
        parent=rng.integers(0, 255, (size // 2, size // 2, 3), np.uint8),
        parent_is_layout=False,
        known=rng.integers(0, 255, (size, size, 3), np.uint8),
        known_mask=mask,
        layout=rng.integers(0, 6, (size, size)).astype(np.int64),
        canvas_left=0,
        canvas_top=0,
        world_seed=1,
    )


def test_a_units_pixels_are_the_same_in_any_batch_composition() -> None:
    """The GPU code path, run on the CPU: batches of 4 with different mates (and padding)."""
    generator = DiffusionGenerator(
        load_model(ModelRegistry(), "carana-sr@0.1.0"), GeneratorOptions(steps=2, batch_size=4)
    )
    rng = np.random.default_rng(0)
    units = {seed: _request(seed, rng) for seed in (40, 41, 42, 45, 48)}
    alone = generator.generate([units[40]])[0]
    # 41 and 42 fill other slots; 48 wants 40's slot and goes to a second batch.
    mixed = generator.generate([units[41], units[48], units[40], units[42], units[45]])
    assert np.array_equal(mixed[2], alone)
    assert not np.array_equal(mixed[1], alone)  # 48 is another unit, not a copy
    again = generator.generate([units[45], units[40]])
    assert np.array_equal(again[1], alone) and np.array_equal(again[0], mixed[4])


def test_embedded_workers_are_placed_one_per_gpu() -> None:
    from app.cli import build_parser, worker_devices

    assert worker_devices("cuda", 3) == ["cuda:0", "cuda:1", "cuda:2"]
    assert worker_devices("cuda:1", 2) == ["cuda:1", "cuda:1"]  # a named GPU is shared
    assert worker_devices("cpu", 2) == ["cpu", "cpu"]
    args = build_parser().parse_args(["worker", "--device", "cuda:3"])
    assert args.device == "cuda:3"
