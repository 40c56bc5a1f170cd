"""What a model kind provides to the registry."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from core.classes import CLASSES
from model_store.errors import ModelError

if TYPE_CHECKING:
    from model_store.registry import ModelEntry


class ModelKind(Protocol):
    #: The ``kind`` written in conditioning.json and the manifest.
    name: str
    #: Files (relative to the model folder) without which the model is refused.
    required_files: tuple[str, ...]
    #: The generator that draws this kind's models, as ``module:Class``: a name, resolved
    #: by the worker with importlib (``worker.synthesis.generators``), so model_store never
    #: imports worker.
    #: The class is built as ``Class(what load() returned, GeneratorOptions)``.
    generator: str

    def default_config(self, source: Path) -> dict[str, Any]:
        """conditioning.json for a folder added without one (e.g. a downloaded checkpoint)."""
        ...

    def validate(self, folder: Path, config: dict[str, Any]) -> None:
        """Raise ModelError when the folder or its config cannot be used as this kind."""
        ...

    def load(self, entry: ModelEntry, device: str) -> Any:
        """The loaded model, from local files only (the entry is already verified)."""
        ...


def require_classes(folder: Path, config: dict[str, Any], made_for: str) -> None:
    """Refuse a config whose land-cover classes are not this version's (in order)."""
    if list(config.get("classes", [])) != list(CLASSES):
        raise ModelError(
            f"{folder}: {made_for} classes {config.get('classes')}, "
            f"this version has {list(CLASSES)}"
        )
