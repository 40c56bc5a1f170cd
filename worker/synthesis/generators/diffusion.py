"""The diffusion generator: a registry model refining the parent, inpainting the neighbours.

A model whose ``conditioning.json`` names a ``texture_prior`` starts each unit from the
prior's detail band, rendered at the unit's position (SDEdit), instead of from pure noise,
and at min_zoom takes the prior's render as the parent in place of the layout render.
``parent_lock`` says how a unit's low frequencies are tied to the parent
(``model_store.conditioning.PARENT_LOCKS``): every 2x2 block mean exactly (the default), or,
for a unit drawn from a render, only the low frequencies of the parent's difference from
that render ("smooth").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from model_store.conditioning import PARENT_LOCKS, degrade, smooth_parent
from model_store.kinds.sr_residual import LoadedModel
from model_store.sampling import SamplingInputs, sample
from worker.synthesis.batching import fixed_slot_batches, use_deterministic_kernels
from worker.synthesis.engine import UnitRequest
from worker.synthesis.generators.base import GeneratorOptions, to_image, to_tensor
from worker.synthesis.prior_drawing import PriorDrawing


class DiffusionGenerator:
    def __init__(self, model: LoadedModel, options: GeneratorOptions | None = None) -> None:
        options = options or GeneratorOptions()
        device = options.device
        self.model = model
        self.model_id = model.entry.id
        self.device = device
        conditioning = model.conditioning
        self.steps = options.steps or int(conditioning.get("steps", 8))
        # ``learned_step: false``: the cascade without the network (the texture render's
        # detail band over the parent); kept for a model whose network does not earn its
        # time (measured by `synthtiles eval model --ablate-learned-step`).
        self.learned_step = bool(conditioning.get("learned_step", True))
        self.residual_scale = float(conditioning["residual_scale"])
        self.levels = int(conditioning.get("levels", 3))
        self.finest_zoom = int(conditioning.get("finest_zoom", 16))
        # Units per sampler call: fixed-size, fixed-slot batches (synthesis/batching.py), so
        # a tile never depends on what it happened to be batched with. One at a time on a
        # CPU unless asked.
        self.batch_size = options.batch_size or (1 if device == "cpu" else 8)
        if device.startswith("cuda"):
            use_deterministic_kernels()
        self.prior = PriorDrawing.from_conditioning(model.entry.path, self.model_id, conditioning)
        # Units started from a class-map prior (renderer 1) continue their neighbours'
        # texture across the border; feathering would only blur it. Over a plan render
        # (renderer 2) the single denoising step leaves a measurable step at unit borders
        # in fine field texture (seam ratio 1.17-1.22 at z12): feathering takes it out.
        # A model whose render is continuous across units by itself (a bank render is a
        # pure function of position) says ``feather_borders: false``: feathering only
        # smooths its texture along every unit border (seam ratio 0.80-0.87 at z10).
        feather = self.prior is None or self.prior.draws_plan
        self.feather_borders = bool(conditioning.get("feather_borders", feather))
        # ``parent_margin: "parent"``: the parent canvas holds the sibling quadrants' pixels
        # where they lie in the margin, not the quadrant's edge repeated (engine.py), so a
        # unit generated before its neighbour continues the parent across their border.
        self.parent_margin = str(conditioning.get("parent_margin", "edge"))
        self.parent_lock = str(conditioning.get("parent_lock", "exact"))
        if self.parent_lock not in PARENT_LOCKS:
            raise ValueError(
                f"{self.model_id}: parent_lock must be one of {PARENT_LOCKS}, "
                f"got {self.parent_lock!r}"
            )
        self.parent_lock_sigma = float(conditioning.get("parent_lock_sigma", 2.0))
        if self.parent_lock == "smooth" and self.parent_margin != "parent":
            # It reads which parent pixels are real from the engine's parent_source.
            raise ValueError(f'{self.model_id}: parent_lock "smooth" needs parent_margin "parent"')
        if not self.parent_lock_sigma > 0:
            raise ValueError(f"{self.model_id}: parent_lock_sigma must be > 0")

    def _uses_prior(self, request: UnitRequest) -> bool:
        return self.prior is not None and self.prior.applies_to(request.zoom)

    def _prior_start(
        self, request: UnitRequest
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(the render's half as a parent, that half unrounded, init residual) from the
        texture prior, or None where it does not apply (no prior, or a zoom finer than
        the imagery it was measured on)."""
        if not self._uses_prior(request):
            return None
        assert self.prior is not None
        render = self.prior.draw(
            request.world_seed,
            request.zoom,
            request.canvas_left,
            request.canvas_top,
            request.layout,
            request.plan,
        )
        size = render.shape[0] // 2
        half = render.reshape(size, 2, size, 2, 3).mean((1, 3))
        parent = np.clip(half, 0, 255).round().astype(np.uint8)
        # The detail band: the render minus its own 2x-down-up (what a parent cannot hold).
        rendered = torch.from_numpy(render / 127.5 - 1.0).permute(2, 0, 1)[None].float()
        band = rendered - degrade(rendered)
        return parent, np.clip(half, 0, 255), (band[0] * self.residual_scale).numpy()

    def scale_for_zoom(self, zoom: int) -> float:
        level = min(max(self.finest_zoom - zoom, 0), self.levels - 1)
        return level / max(1, self.levels - 1)

    def _inputs(self, requests: Sequence[UnitRequest]) -> SamplingInputs:
        starts = [self._prior_start(r) for r in requests]
        parents = [self._parent(r, start) for r, start in zip(requests, starts, strict=True)]
        init = None
        if all(start is not None for start in starts):
            init = torch.stack([torch.from_numpy(start[2]) for start in starts if start])
        elif any(start is not None for start in starts):
            raise ValueError("a batch mixes units with and without a texture-prior start")
        return SamplingInputs(
            parent_half=torch.stack(parents),
            known=torch.stack([to_tensor(r.known) for r in requests]),
            mask=torch.stack(
                [torch.from_numpy(r.known_mask[None].astype(np.float32)) for r in requests]
            ),
            class_map=torch.stack([torch.from_numpy(r.layout.astype(np.int64)) for r in requests]),
            scale=torch.tensor([self.scale_for_zoom(r.zoom) for r in requests]),
            seeds=[r.seed for r in requests],
            init_residual=init,
            strength=self.prior.strength if self.prior is not None else 1.0,
            # The smooth lock needs a render to follow; without one the unit is matched.
            exact_lock=self.parent_lock == "exact" or init is None,
        )

    def _parent(
        self, request: UnitRequest, start: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    ) -> torch.Tensor:
        """The parent canvas a unit is sampled from, as a tensor; under the smooth lock,
        what the unit keeps of it (``smooth_parent``)."""
        parent = to_tensor(_parent_of(request, start[0] if start is not None else None))
        if self.parent_lock == "exact" or start is None or request.parent_is_layout:
            return parent
        size = parent.shape[-1]
        assert request.parent_source is not None  # parent_margin "parent" (checked at load)
        # A pixel is real where it holds its own value, not one repeated from the edge.
        own = np.arange(size * size).reshape(size, size)
        real = torch.from_numpy(request.parent_source == own).float()[None, None]
        render_half = to_tensor(start[1])[None]
        return smooth_parent(parent[None], render_half, real, self.parent_lock_sigma)[0]

    def generate(self, requests: Sequence[UnitRequest]) -> list[np.ndarray]:
        # One sampler call per canvas size and start (prior or not), in fixed-slot batches.
        groups: dict[tuple[int, bool], list[int]] = {}
        for index, request in enumerate(requests):
            key = (request.canvas_px, self._uses_prior(request))
            groups.setdefault(key, []).append(index)
        results: list[np.ndarray | None] = [None] * len(requests)
        for group in groups.values():
            for slots in fixed_slot_batches(group, self.batch_size, lambda i: requests[i].seed):
                filler = next(i for i in slots if i is not None)
                batch = [requests[filler if i is None else i] for i in slots]
                inputs = self._inputs(batch)
                steps = self.steps if self.learned_step or inputs.init_residual is None else 0
                images = sample(
                    self.model.unet, self.model.scheduler, inputs, steps, self.residual_scale
                )
                for index, image in zip(slots, images.cpu(), strict=True):
                    if index is not None:
                        results[index] = to_image(image)
        return [r for r in results if r is not None]


def _parent_of(request: UnitRequest, render_half: np.ndarray | None) -> np.ndarray:
    """The parent canvas a unit is sampled from. At min_zoom: the render's own half. Where
    the engine repeated the parent's edge into the margin (``parent_source``), the render's
    variation is carried on from that edge pixel: a unit generated before its neighbour
    then continues the ground's slope across their border instead of flattening it, which
    left a step at every unit border outside the parent (seam ratio 1.16 at z14)."""
    if render_half is None:
        return request.parent
    if request.parent_is_layout:
        return render_half
    if request.parent_source is None:
        return request.parent
    rendered = render_half.astype(np.float32)
    carried = rendered - rendered.reshape(-1, 3)[request.parent_source]
    return np.clip(request.parent.astype(np.float32) + carried, 0.0, 255.0)
