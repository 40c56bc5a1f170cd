"""Model kinds: the plug-in point of the registry.

A model folder's ``conditioning.json`` names its ``kind``; the kind says which files the
folder must have, checks the config at load, and loads the weights (local files only), the
way diffusers' ``model_index.json`` decides which classes load, and names the generator
that draws it (``generator = "module:Class"``, resolved by the worker). An unknown kind is
refused with the list of known ones.
"""

from __future__ import annotations

from model_store.errors import ModelError
from model_store.kinds.base import ModelKind
from model_store.kinds.diffusers_inpaint import DiffusersInpaint
from model_store.kinds.sr_residual import SuperResolutionResidual

KINDS: dict[str, ModelKind] = {}


def register_kind(kind: ModelKind) -> None:
    KINDS[kind.name] = kind


def kind_for(name: object) -> ModelKind:
    if not isinstance(name, str) or name not in KINDS:
        known = ", ".join(sorted(KINDS))
        raise ModelError(f"unknown model kind {name!r} (known: {known})")
    return KINDS[name]


register_kind(SuperResolutionResidual())
register_kind(DiffusersInpaint())

__all__ = ["KINDS", "ModelKind", "kind_for", "register_kind"]
