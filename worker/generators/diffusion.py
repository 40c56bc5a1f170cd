"""The diffusion generator: a registry model refining the parent, inpainting the neighbours."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from model_store.registry import LoadedModel
from model_store.sampling import SamplingInputs, sample
from worker.engine import UnitRequest


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)


class DiffusionGenerator:
    def __init__(self, model: LoadedModel, device: str = "cpu", steps: int | None = None) -> None:
        self.model = model
        self.model_id = model.entry.id
        self.device = device
        conditioning = model.conditioning
        self.steps = steps or int(conditioning.get("steps", 8))
        self.residual_scale = float(conditioning["residual_scale"])
        self.levels = int(conditioning.get("levels", 3))
        self.finest_zoom = int(conditioning.get("finest_zoom", 16))
        # On a CPU, units go one at a time: convolution results can depend on the batch
        # size, and a tile must not depend on what it happened to be batched with.
        self.batch_on_device = device != "cpu"

    def scale_for_zoom(self, zoom: int) -> float:
        level = min(max(self.finest_zoom - zoom, 0), self.levels - 1)
        return level / max(1, self.levels - 1)

    def _inputs(self, requests: Sequence[UnitRequest]) -> SamplingInputs:
        return SamplingInputs(
            parent_half=torch.stack([_to_tensor(r.parent) for r in requests]),
            known=torch.stack([_to_tensor(r.known) for r in requests]),
            mask=torch.stack(
                [torch.from_numpy(r.known_mask[None].astype(np.float32)) for r in requests]
            ),
            class_map=torch.stack([torch.from_numpy(r.layout.astype(np.int64)) for r in requests]),
            scale=torch.tensor([self.scale_for_zoom(r.zoom) for r in requests]),
            seeds=[r.seed for r in requests],
        )

    def generate(self, requests: Sequence[UnitRequest]) -> list[np.ndarray]:
        groups: list[list[int]] = []
        if self.batch_on_device:
            by_size: dict[int, list[int]] = {}
            for index, request in enumerate(requests):
                by_size.setdefault(request.canvas_px, []).append(index)
            groups = list(by_size.values())
        else:
            groups = [[index] for index in range(len(requests))]
        results: list[np.ndarray | None] = [None] * len(requests)
        for group in groups:
            batch = [requests[i] for i in group]
            images = sample(
                self.model.unet,
                self.model.scheduler,
                self._inputs(batch),
                self.steps,
                self.residual_scale,
            )
            arrays = ((images.permute(0, 2, 3, 1).cpu().numpy() + 1) * 127.5).round()
            for index, array in zip(group, arrays, strict=True):
                results[index] = np.clip(array, 0, 255).astype(np.uint8)
        return [r for r in results if r is not None]
