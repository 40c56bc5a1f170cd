"""Batches whose results do not depend on their composition.

A GPU batch computes each item with kernels picked for the batch's shape, and an item's
bytes could change with its batch size or its place in the batch. So every batch has the
same size (padded), and every unit always sits at the same slot: ``seed % size``. Units that
want the same slot go to different batches. With per-item layers only (convolutions,
GroupNorm, no BatchNorm) and deterministic kernels, a unit's pixels are then the same
whatever it was queued with, on CPU and CUDA alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def fixed_slot_batches(
    items: Sequence[T], size: int, slot_of: Callable[[T], int]
) -> list[list[T | None]]:
    """Batches of exactly ``size`` slots, item at ``slot_of(item) % size``; None pads."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    batches: list[list[T | None]] = []
    for item in items:
        slot = slot_of(item) % size
        for batch in batches:
            if batch[slot] is None:
                batch[slot] = item
                break
        else:
            batch: list[T | None] = [None] * size
            batch[slot] = item
            batches.append(batch)
    return batches


def use_deterministic_kernels() -> None:
    """Same inputs, same bytes on CUDA: no autotuned or atomics-based kernels."""
    import os

    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.use_deterministic_algorithms(True, warn_only=True)
