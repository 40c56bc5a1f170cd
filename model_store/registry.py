"""The model registry: ``{root}/NAME/VERSION/`` folders with a manifest of sha256 hashes.

A model folder holds a diffusers UNet (``unet/config.json`` and
``unet/diffusion_pytorch_model.safetensors``), its scheduler config (``scheduler/``), the
conditioning it expects (``conditioning.json``), optionally ``training.json`` and
``MODEL_CARD.md``, and ``manifest.json``: the sha256 of every other file, the training data,
steps and metrics. Loading verifies every hash first and refuses a mismatch. Nothing is ever
downloaded: models are added from local folders.
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

BUNDLED_ROOT = Path(__file__).resolve().parent / "models"
MANIFEST = "manifest.json"
REQUIRED_FILES = (
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "scheduler/scheduler_config.json",
    "conditioning.json",
)
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class ModelError(Exception):
    """A model is missing, malformed or not what its manifest says."""


class ModelIntegrityError(ModelError):
    pass


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
        return json.loads((self.path / "conditioning.json").read_text())


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
        for required in REQUIRED_FILES:
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
        return entry

    def add(
        self,
        source: Path,
        model_id: str,
        training_data: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        card: str | None = None,
    ) -> ModelEntry:
        """Copy a model folder (diffusers UNet + scheduler + conditioning.json) in and hash it."""
        name, version = parse_model_id(model_id)
        for required in REQUIRED_FILES:
            if not (source / required).is_file():
                raise ModelError(f"{source} has no {required}")
        target = self.roots[0] / name / version
        if target.exists():
            raise ModelError(f"{model_id} already exists at {target}; versions are immutable")
        staging = target.with_name(f".{version}.staging")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging)
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


@dataclass
class LoadedModel:
    entry: ModelEntry
    unet: Any  # diffusers.UNet2DModel
    scheduler: Any  # diffusers.DDIMScheduler
    conditioning: dict[str, Any]


def load_model(registry: ModelRegistry, model_id: str, device: str = "cpu") -> LoadedModel:
    """Verify, then load from local files only."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub
    from diffusers import DDIMScheduler, UNet2DModel

    entry = registry.verify(model_id)
    unet = UNet2DModel.from_pretrained(
        entry.path / "unet", local_files_only=True, low_cpu_mem_usage=False
    )
    scheduler = DDIMScheduler.from_pretrained(entry.path / "scheduler", local_files_only=True)
    return LoadedModel(entry, unet.to(device).eval(), scheduler, entry.conditioning)
