"""What a model kind provides to the registry."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from model_store.registry import ModelEntry


class ModelKind(Protocol):
    #: The ``kind`` written in conditioning.json and the manifest.
    name: str
    #: Files (relative to the model folder) without which the model is refused.
    required_files: tuple[str, ...]

    def default_config(self, source: Path) -> dict[str, Any]:
        """conditioning.json for a folder added without one (e.g. a downloaded checkpoint)."""
        ...

    def validate(self, folder: Path, config: dict[str, Any]) -> None:
        """Raise ModelError when the folder or its config cannot be used as this kind."""
        ...

    def load(self, entry: ModelEntry, device: str) -> Any:
        """The loaded model, from local files only (the entry is already verified)."""
        ...
