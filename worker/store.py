"""The durable tile store: the truth of every world. Write-once, atomic, never edited.

``TileStore`` is the interface an object store (S3, GCS) can implement; ``FileTileStore``
keeps tiles at ``{root}/{world}/{z}/{x}/{y}.png``, the layout nginx or any static server
can serve directly.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path


class TileStore(ABC):
    @abstractmethod
    def get(self, world: str, z: int, x: int, y: int) -> bytes | None:
        """The tile's PNG bytes, or None when it was never generated."""

    @abstractmethod
    def exists(self, world: str, z: int, x: int, y: int) -> bool: ...

    @abstractmethod
    def put_if_absent(self, world: str, z: int, x: int, y: int, data: bytes) -> bool:
        """Store the tile unless it already exists; True when this call wrote it.

        Must be atomic (a reader sees the whole tile or nothing) and write-once
        (an existing tile is never replaced).
        """


class FileTileStore(TileStore):
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, world: str, z: int, x: int, y: int) -> Path:
        return self.root / world / str(z) / str(x) / f"{y}.png"

    def get(self, world: str, z: int, x: int, y: int) -> bytes | None:
        try:
            return self.path(world, z, x, y).read_bytes()
        except FileNotFoundError:
            return None

    def exists(self, world: str, z: int, x: int, y: int) -> bool:
        return self.path(world, z, x, y).is_file()

    def put_if_absent(self, world: str, z: int, x: int, y: int, data: bytes) -> bool:
        final = self.path(world, z, x, y)
        if final.exists():
            return False
        final.parent.mkdir(parents=True, exist_ok=True)
        # Write a temporary file beside the target, make it durable, then hard-link it into
        # place: link() fails if the name exists, so a tile is never overwritten, and a
        # reader never sees a partial file.
        fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=f".{y}.", suffix=".tmp")
        try:
            # mkstemp makes 0600 files; tiles are public, and a static server may serve them.
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp_name, final)
            except FileExistsError:
                return False
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
