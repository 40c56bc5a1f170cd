"""Generator factory: the generator for a world's model NAME@VERSION.

``procedural@0.1.0`` is built in; every other id is looked up in the model registry
(verified against its manifest before loading) and drawn by the generator its model kind
names: ``ModelKind.generator``, a ``module:Class`` string resolved here with importlib (the
way diffusers' ``model_index.json`` names the class of each component), so model_store never
imports worker. Every generator class is built as ``Cls(loaded model, GeneratorOptions)``.
"""

from __future__ import annotations

import importlib

from core.settings import WorkerSettings
from model_store.registry import ModelError, ModelRegistry, load_model
from worker.synthesis.generators.base import Generator, GeneratorClass, GeneratorOptions

PROCEDURAL = "procedural@0.1.0"
#: Models drawn without a registry entry (no weights): id -> generator.
BUILT_IN = {PROCEDURAL: "worker.synthesis.generators.procedural:ProceduralGenerator"}


class GeneratorNotFound(LookupError):
    """A generator name that is malformed or names nothing importable."""


def load_generator(model: str, settings: WorkerSettings) -> Generator:
    options = GeneratorOptions.from_settings(settings)
    try:
        if model in BUILT_IN:
            return generator_class(BUILT_IN[model])(None, options)
        registry = ModelRegistry.from_settings(settings.models_dir)
        kind = registry.get(model).kind
        # Named before the weights load: a kind this worker cannot draw fails fast.
        cls = generator_class(getattr(kind, "generator", None), kind.name)
        loaded = load_model(registry, model, settings.device)
    except ModelError as exc:
        raise LookupError(f"model {model!r} is not available: {exc}") from exc
    except ImportError as exc:  # a kind whose optional packages are not installed
        raise LookupError(f"model {model!r} needs a package that is missing: {exc}") from exc
    except GeneratorNotFound as exc:
        raise LookupError(f"model {model!r} cannot be used: {exc}") from exc
    # Steps come from the model (conditioning.json): they are part of how a world looks.
    try:
        return cls(loaded, options)
    except ValueError as exc:  # e.g. a texture renderer this version cannot draw
        raise LookupError(f"model {model!r} cannot be used: {exc}") from exc


def generator_class(name: object, kind: str | None = None) -> GeneratorClass:
    """The generator class a ``module:Class`` name stands for (its module imported now).

    GeneratorNotFound when the name is malformed or names nothing; ImportError (from the module's
    own imports) when an optional package it needs is not installed.
    """
    what = f"model kind {kind!r}" if kind else "the built-in model"
    if not isinstance(name, str) or name.count(":") != 1:
        raise GeneratorNotFound(f"{what} names no generator as 'module:Class' (got {name!r})")
    module_name, _, attribute = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (module_name + ".").startswith(exc.name + "."):
            raise  # the generator's module is there; a package it imports is not
        raise GeneratorNotFound(
            f"{what} names generator {name!r}: no module {module_name}"
        ) from exc
    cls = getattr(module, attribute, None)
    if not callable(cls):
        raise GeneratorNotFound(
            f"{what} names generator {name!r}: {module_name} has no {attribute}"
        )
    return cls


__all__ = [
    "BUILT_IN",
    "PROCEDURAL",
    "Generator",
    "GeneratorNotFound",
    "GeneratorOptions",
    "generator_class",
    "load_generator",
]
