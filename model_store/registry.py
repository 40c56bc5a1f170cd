"""The model registry: ``{root}/NAME/VERSION/`` folders with a manifest of sha256 hashes.

A model folder holds its ``conditioning.json`` (whose ``kind`` decides which files the
folder needs, how its config is checked and how it loads: see ``model_store.kinds``), the
kind's files (for this project's own models a diffusers UNet and scheduler; for
``diffusers-inpaint`` a whole diffusers pipeline folder), optionally ``training.json`` and
``MODEL_CARD.md``, and ``manifest.json``: the kind, the sha256 of every other file, the
training data, steps and metrics. Loading verifies every hash first and refuses a mismatch.
Nothing is ever downloaded: models are added from local folders.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_store.errors import ModelError, ModelIntegrityError
from model_store.kinds import ModelKind, kind_for

BUNDLED_ROOT = Path(__file__).resolve().parent / "models"
MANIFEST = "manifest.json"
CONDITIONING = "conditioning.json"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
__all__ = ["ModelEntry", "ModelError", "ModelIntegrityError", "ModelRegistry", "load_model"]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_model_id(model_id: str) -> tuple[str, str]:
    name, sep, version = model_id.partition("@")
    if not sep or not _NAME.match(name) or not _NAME.match(version):
        raise ModelError(f"model id {model_id!r} must look like NAME@VERSION")
    return name, version


@dataclass(frozen=True)
class ModelEntry:
    name: str
    version: str
    path: Path
    manifest: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def conditioning(self) -> dict[str, Any]:
        return json.loads((self.path / CONDITIONING).read_text())

    @property
    def kind(self) -> ModelKind:
        return kind_for(self.conditioning.get("kind"))


class ModelRegistry:
    """Looks models up in ``roots`` in order; adds and removes in the first (writable) one."""

    def __init__(self, roots: list[Path] | None = None) -> None:
        self.roots = roots or [BUNDLED_ROOT]

    @classmethod
    def from_settings(cls, models_dir: Path | None) -> ModelRegistry:
        return cls([models_dir, BUNDLED_ROOT] if models_dir else [BUNDLED_ROOT])

    def entries(self) -> list[ModelEntry]:
        found: dict[str, ModelEntry] = {}
        for root in self.roots:
            for manifest_path in sorted(root.glob(f"*/*/{MANIFEST}")):
                folder = manifest_path.parent
                entry = ModelEntry(
                    folder.parent.name, folder.name, folder, json.loads(manifest_path.read_text())
                )
                found.setdefault(entry.id, entry)
        return list(found.values())

    def get(self, model_id: str) -> ModelEntry:
        name, version = parse_model_id(model_id)
        for root in self.roots:
            folder = root / name / version
            if (folder / MANIFEST).exists():
                return ModelEntry(
                    name, version, folder, json.loads((folder / MANIFEST).read_text())
                )
        known = ", ".join(e.id for e in self.entries()) or "none"
        raise ModelError(f"model {model_id} is not in the registry (known: {known})")

    def verify(self, model_id: str) -> ModelEntry:
        """Check every file against the manifest; raise ModelIntegrityError on any difference."""
        entry = self.get(model_id)
        recorded: dict[str, str] = entry.manifest.get("files", {})
        if CONDITIONING not in recorded:
            raise ModelIntegrityError(f"{entry.id}: manifest does not list {CONDITIONING}")
        if sha256_of(entry.path / CONDITIONING) != recorded[CONDITIONING]:
            raise ModelIntegrityError(
                f"{entry.id}: {CONDITIONING} differs from the manifest; refusing to load it"
            )
        kind = entry.kind
        for required in kind.required_files:
            if required not in recorded:
                raise ModelIntegrityError(f"{entry.id}: manifest does not list {required}")
        for relative, expected in recorded.items():
            path = entry.path / relative
            if not path.is_file():
                raise ModelIntegrityError(f"{entry.id}: {relative} is missing")
            actual = sha256_of(path)
            if actual != expected:
                raise ModelIntegrityError(
                    f"{entry.id}: {relative} has sha256 {actual[:16]}..., the manifest says "
                    f"{expected[:16]}...; refusing to load modified weights"
                )
        unlisted = [
            str(p.relative_to(entry.path))
            for p in entry.path.rglob("*")
            if p.is_file() and p.name != MANIFEST and str(p.relative_to(entry.path)) not in recorded
        ]
        if any(name.endswith((".safetensors", ".bin", ".pt", ".ckpt")) for name in unlisted):
            raise ModelIntegrityError(f"{entry.id}: weights not in the manifest: {unlisted}")
        kind.validate(entry.path, entry.conditioning)
        return entry

    def add(
        self,
        source: Path,
        model_id: str,
        training_data: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        card: str | None = None,
        kind: str | None = None,
        config: dict[str, Any] | None = None,
    ) -> ModelEntry:
        """Copy a model folder in and hash it. Its kind comes from ``config``, else from its
        conditioning.json, else from ``kind`` (the folder then gets that kind's default
        config, e.g. a downloaded diffusers pipeline)."""
        name, version = parse_model_id(model_id)
        if not source.is_dir():
            raise ModelError(f"{source} is not a folder")
        written = config is not None
        if config is not None:
            config = {"kind": kind, **config} if kind else config
            if kind is not None and config.get("kind") != kind:
                raise ModelError(f"the config says kind {config.get('kind')!r}, not {kind!r}")
        elif (source / CONDITIONING).is_file():
            config = json.loads((source / CONDITIONING).read_text())
            if kind is not None and config.get("kind") != kind:
                raise ModelError(
                    f"{source}/{CONDITIONING} says kind {config.get('kind')!r}, not {kind!r}"
                )
        elif kind is None:
            raise ModelError(f"{source} has no {CONDITIONING}; say its kind (--kind)")
        model_kind = kind_for(config.get("kind") if config else kind)
        if config is None:
            written = True
            config = model_kind.default_config(source)
        for required in model_kind.required_files:
            if required != CONDITIONING and not (source / required).is_file():
                raise ModelError(f"{source} has no {required} (needed by kind {model_kind.name})")
        model_kind.validate(source, config)
        target = self.roots[0] / name / version
        if target.exists():
            raise ModelError(f"{model_id} already exists at {target}; versions are immutable")
        staging = target.with_name(f".{version}.staging")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging)
        if written:
            (staging / CONDITIONING).write_text(json.dumps(config, indent=2) + "\n")
        if card is not None:
            (staging / "MODEL_CARD.md").write_text(card)
        training = {}
        if (staging / "training.json").exists():
            training = json.loads((staging / "training.json").read_text())
        files = {
            str(p.relative_to(staging)): sha256_of(p)
            for p in sorted(staging.rglob("*"))
            if p.is_file() and p.name != MANIFEST
        }
        manifest = {
            "name": name,
            "version": version,
            "kind": model_kind.name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "files": files,
            "training_data": training_data or {},
            "steps": training.get("steps"),
            "metrics": metrics or {},
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        staging.rename(target)
        return self.get(model_id)

    def update_metrics(self, model_id: str, metrics: dict[str, Any]) -> None:
        """Record evaluation results (the manifest is not itself hashed)."""
        entry = self.verify(model_id)
        manifest = dict(entry.manifest)
        manifest["metrics"] = {**manifest.get("metrics", {}), **metrics}
        (entry.path / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))

    def remove(self, model_id: str) -> None:
        entry = self.get(model_id)
        if entry.path.parent.parent != self.roots[0]:
            raise ModelError(f"{model_id} is not in the writable registry {self.roots[0]}")
        shutil.rmtree(entry.path)


def load_model(registry: ModelRegistry, model_id: str, device: str = "cpu") -> Any:
    """Verify, then load from local files only, as the model's kind says."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub
    entry = registry.verify(model_id)
    return entry.kind.load(entry, device)
