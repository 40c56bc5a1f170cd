"""A model's texture prior, loaded with how to draw it (``texture_prior`` in conditioning.json).

The one place that reads those settings, for the generator and the evaluation. Renderer 1
draws over a land-cover class map (worker/synthesis/texture_render.py); renderer 2 draws over the
world plan (worker/synthesis/plan_render.py), so it needs a world that has one; renderer 3 draws the
plan from the model's texture bank of photographs (worker/synthesis/bank_render.py, ``bank`` names
the bank's folder in the model); renderer 4 is renderer 3 pre-filtered to the pixel;
renderer 5 (worker/synthesis/parkland_render.py) adds what stands on the land; renderer 6
(region_render.py) chooses photographs by an organic regional field; renderer 7
(field_render.py) draws field systems as cadastres.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.plan.raster import PlanRaster
from model_store.texture_bank import TextureBank, missing_surfaces
from model_store.texture_prior import (
    BANK_RENDERER_VERSIONS,
    PLAN_RENDERERS,
    RENDERERS,
    TexturePrior,
)
from worker.synthesis.bank_render import BankRenderer, PrefilteredBankRenderer
from worker.synthesis.field_render import FieldBoundaryRenderer, FieldSystemRenderer
from worker.synthesis.parkland_render import ParklandRenderer
from worker.synthesis.plan_render import PlanRenderer
from worker.synthesis.region_render import OrganicRegionRenderer
from worker.synthesis.river_render import RiverBedRenderer
from worker.synthesis.season_render import SeasonalFieldRenderer
from worker.synthesis.texture_render import TextureRenderer

# The renderers that draw the plan from a texture bank, by version (BANK_RENDERER_VERSIONS).
BANK_RENDERERS: dict[int, type[BankRenderer]] = {
    cls.version: cls
    for cls in (
        BankRenderer,
        PrefilteredBankRenderer,
        ParklandRenderer,
        OrganicRegionRenderer,
        FieldSystemRenderer,
        FieldBoundaryRenderer,
        RiverBedRenderer,
        SeasonalFieldRenderer,
    )
}


@dataclass
class PriorDrawing:
    stats: TexturePrior
    renderer_version: int
    native_zoom: int  # the imagery's own zoom: finer zooms get no prior
    cell_px: int
    strength: float  # SDEdit start, as a fraction of the sampling schedule
    bank: TextureBank | None = None  # renderers 3 and 4: the photographs
    _renderers: dict[int, TextureRenderer] = field(default_factory=dict, repr=False)
    _plan_renderers: dict[int, PlanRenderer] = field(default_factory=dict, repr=False)

    @classmethod
    def from_conditioning(
        cls, model_path: Path, model_id: str, conditioning: dict[str, Any]
    ) -> PriorDrawing | None:
        """None for a model without a prior; ValueError for one drawn by another renderer."""
        settings = conditioning.get("texture_prior")
        if not settings:
            return None
        version = settings.get("renderer")
        if version not in RENDERERS:
            raise ValueError(
                f"{model_id} wants texture renderer {version}; this synthtiles draws "
                f"versions {', '.join(map(str, RENDERERS))}"
            )
        bank = None
        if version in BANK_RENDERER_VERSIONS:
            if not settings.get("bank"):
                raise ValueError(f"{model_id}: renderer {version} needs a texture bank (``bank``)")
            bank = TextureBank.load(model_path / settings["bank"])
            missing = missing_surfaces(set(bank.surfaces))
            if missing:
                raise ValueError(f"{model_id}: its texture bank has no {', '.join(missing)}")
        return cls(
            bank=bank,
            stats=TexturePrior.load(model_path / settings["file"]),
            renderer_version=int(version),
            native_zoom=int(settings.get("native_zoom", conditioning.get("finest_zoom", 16))),
            cell_px=int(settings.get("cell_px", 96)),
            strength=float(settings.get("strength", 1.0)),
        )

    @property
    def draws_plan(self) -> bool:
        return self.renderer_version in PLAN_RENDERERS

    def applies_to(self, zoom: int) -> bool:
        return zoom <= self.native_zoom

    def renderer(self, world_seed: int) -> TextureRenderer:
        """The world's class-map renderer, made once (synthesising its texture banks is the
        costly part)."""
        if world_seed not in self._renderers:
            self._renderers[world_seed] = TextureRenderer(
                self.stats, world_seed, self.native_zoom, self.cell_px
            )
        return self._renderers[world_seed]

    def plan_renderer(self, world_seed: int) -> PlanRenderer:
        if world_seed not in self._plan_renderers:
            if self.bank is not None:
                make = BANK_RENDERERS[self.renderer_version]
                self._plan_renderers[world_seed] = make(
                    self.stats, self.bank, world_seed, self.native_zoom, self.cell_px
                )
            else:
                self._plan_renderers[world_seed] = PlanRenderer(
                    self.stats, world_seed, self.native_zoom, self.cell_px
                )
        return self._plan_renderers[world_seed]

    def draw(
        self,
        world_seed: int,
        zoom: int,
        left: int,
        top: int,
        class_map: np.ndarray,
        plan: PlanRaster | None,
    ) -> np.ndarray:
        """(H, W, 3) float32 RGB of the canvas whose top-left global pixel is (left, top)."""
        if self.draws_plan:
            if plan is None:
                raise ValueError(
                    "this model draws from a world plan; give it a world with "
                    'layout = "plan" or "plan-island"'
                )
            return self.plan_renderer(world_seed).render(plan)
        return self.renderer(world_seed).render(zoom, left, top, class_map)
