"""The durable tile store: the truth of every world. Write-once, atomic, never edited.

``TileStore`` is the interface; ``FileTileStore`` keeps tiles at
``{root}/{world}/{z}/{x}/{y}.png`` (the layout nginx or any static server can serve
directly), ``S3TileStore`` (core/s3_store.py) the same keys in a bucket. Besides tiles a
store keeps shared files (finished exports) under names like ``exports/ID.tif``, so any API
replica can hand them out. ``open_store`` builds the store a deployment's settings name.

A file store also keeps each tile's ETag with its file, in the extended attribute
``user.synthtiles.etag`` (set on the temporary file before it is linked into place, so a
tile never appears without it): the API's hot path then answers from the file as it is
(``FileTileStore.tile_file``), without hashing it or asking Redis. Tiles stored without it
(written before, copied without their attributes, on a filesystem without user xattrs) are
served as before, by reading them, and the API gives such a file its ETag the first time it
reads it (``record_etag``), where the store lets it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

from core.protocol import etag_of
from core.settings import StoreSettings

log = logging.getLogger("synthtiles.store")

# Shared file names: a folder and a file name, no way out of the store's own space.
_FILE_NAME = re.compile(r"^[a-z]+/[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$")


def check_file_name(name: str) -> str:
    if not _FILE_NAME.match(name) or ".." in name:
        raise ValueError(f"invalid store file name {name!r}")
    return name


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

    def read_record(self, world: str) -> dict | None:
        """The world's record (what its stored tiles were made from), or None."""
        return None

    def write_record(self, world: str, record: dict) -> None:  # noqa: B027 (optional)
        """Keep the world's record beside its tiles (a store without records ignores it)."""

    def has_tiles(self, world: str) -> bool:
        return False

    @abstractmethod
    def put_file(self, name: str, source: Path) -> None:
        """Keep a finished file (e.g. ``exports/ID.pmtiles``) where every process sees it."""

    @abstractmethod
    def open_file(self, name: str) -> tuple[BinaryIO, int] | None:
        """(a readable stream, its size) of a kept file, or None; the caller closes it."""

    def delete_file(self, name: str) -> None:  # noqa: B027 (optional)
        """Remove a kept file (expiry); a store that cannot ignores it."""


def iter_stream(stream: BinaryIO, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The stream's bytes in chunks, closing it at the end (for streaming responses)."""
    try:
        while block := stream.read(chunk):
            yield block
    finally:
        stream.close()


class WorldChanged(RuntimeError):
    """A world's definition differs from the one its stored tiles were made from."""


# What fixes a world's pixels (a change to any is a new world, core.world).
RECORD_FIELDS = (
    "seed",
    "model",
    "tile_size",
    "unit_size",
    "min_zoom",
    "extent",
    "layout",
    "canvas_margin",
    "scenario_sha256",
)


def world_record(world) -> dict:
    record = {name: getattr(world, name) for name in RECORD_FIELDS}
    record["extent"] = list(record["extent"])
    # Recorded only when a world names it, so the records of worlds stored before it
    # existed (all on their layout's first planning) still match.
    if getattr(world, "plan_version", None) is not None:
        record["plan_version"] = world.plan_version
    return record


def check_world_records(store: TileStore, worlds) -> None:
    """Refuse worlds whose definition changed after they stored tiles (e.g. an edited
    scenario file). Run by every process at start; the producer records a world's
    definition when it stores the world's first unit."""
    for world in worlds:
        if not store.has_tiles(world.id):
            continue
        record = world_record(world)
        stored = store.read_record(world.id)
        if stored is None:
            store.write_record(world.id, record)  # tiles from before records existed
        elif stored != record:
            changed = sorted(k for k in {*stored, *record} if stored.get(k) != record.get(k))
            what = (
                "its scenario file changed"
                if changed == ["scenario_sha256"]
                else f"{', '.join(changed)} changed"
            )
            raise WorldChanged(
                f"world {world.id!r}: {what} since its stored tiles were made; published "
                "tiles never change, so a changed world needs a new id (and keeps the old "
                "one for the tiles already served)"
            )


# A stored tile's ETag (core.protocol.etag_of of its bytes), kept with its file.
ETAG_XATTR = "user.synthtiles.etag"
_ETAG_VALUE = re.compile(rb'"[0-9a-f]{32}"')


@dataclass(frozen=True, slots=True)
class TileFile:
    """A stored tile's file: its path, ETag and size, and its bytes when they were read."""

    path: str
    etag: str
    size: int
    body: bytes | None = None


class FileTileStore(TileStore):
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._root_text = os.path.abspath(self.root)  # the hot path's paths, built as text
        self._told_no_xattr = False

    def tile_file(self, world: str, z: int, x: int, y: int, read: bool = False) -> TileFile | None:
        """The tile's file with the ETag stored with it, or None: no such tile, or a file
        without a (well-formed) stored ETag; then the caller reads the tile as before.
        ``read``: with the file's bytes. A few system calls on a file in the page cache,
        nothing hashed: the hot path calls it inline."""
        path = f"{self._root_text}/{world}/{z}/{x}/{y}.png"
        if not read:  # two calls on the path (HEAD: the size, not the bytes)
            try:
                etag = os.getxattr(path, ETAG_XATTR)
                size = os.stat(path).st_size
            except OSError:  # no file, no attribute, or no xattrs on this filesystem
                return None
            return TileFile(path, etag.decode(), size) if _ETAG_VALUE.fullmatch(etag) else None
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        # One open file for attribute, size and bytes: one path lookup, one read.
        try:
            etag = os.getxattr(fd, ETAG_XATTR)
            if not _ETAG_VALUE.fullmatch(etag):
                return None
            body = os.read(fd, os.fstat(fd).st_size)
        except OSError:
            return None
        finally:
            os.close(fd)
        return TileFile(path, etag.decode(), len(body), body)

    def record_etag(
        self, world: str, z: int, x: int, y: int, etag: str | None = None
    ) -> str | None:
        """Keep a stored tile's ETag with its file, for tiles stored without one: ``etag``
        when the caller has just hashed the tile's bytes (the route's store read), else
        hashed from the file's own bytes. A file that already carries it is left as it is
        (no metadata write). The ETag, or None when there is no such tile or the attribute
        cannot be set (a read-only store, no user xattrs): the tile is then served by
        reading it, as before. The tile's bytes are not touched."""
        path = self.path(world, z, x, y)
        try:
            if etag is None:
                etag = etag_of(path.read_bytes())
            if os.getxattr(path, ETAG_XATTR) == etag.encode():
                return etag
        except FileNotFoundError:
            return None
        except OSError:  # no attribute yet, or none possible (setting it says which)
            pass
        return etag if self._keep_etag(path, etag) else None

    def _keep_etag(self, target: int | Path, etag: str) -> bool:
        try:
            os.setxattr(target, ETAG_XATTR, etag.encode())
        except OSError as exc:  # e.g. a filesystem without user xattrs: the tile still counts
            if not self._told_no_xattr:
                self._told_no_xattr = True
                log.info(
                    "tile store %s keeps no ETags with its files (%s): stored tiles are "
                    "served by reading them",
                    self.root,
                    exc.strerror or exc,
                )
            return False
        return True

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
                # Before the link: the tile never appears without its ETag.
                self._keep_etag(handle.fileno(), etag_of(data))
                os.fsync(handle.fileno())
            try:
                os.link(tmp_name, final)
            except FileExistsError:
                return False
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)

    def _record_path(self, world: str) -> Path:
        return self.root / world / ".world.json"

    def read_record(self, world: str) -> dict | None:
        try:
            return json.loads(self._record_path(world).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def write_record(self, world: str, record: dict) -> None:
        path = self._record_path(world)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".world.", suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            json.dump(record, handle, sort_keys=True)
        os.replace(tmp, path)

    def has_tiles(self, world: str) -> bool:
        folder = self.root / world
        return folder.is_dir() and any(p.name.isdigit() for p in folder.iterdir())

    def _file_path(self, name: str) -> Path:
        folder, _, file = check_file_name(name).partition("/")
        return self.root / f".{folder}" / file

    def put_file(self, name: str, source: Path) -> None:
        target = self._file_path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
        os.replace(tmp, target)  # readers see the whole file or none

    def open_file(self, name: str) -> tuple[BinaryIO, int] | None:
        path = self._file_path(name)
        try:
            stream = path.open("rb")
        except FileNotFoundError:
            return None
        return stream, os.fstat(stream.fileno()).st_size

    def delete_file(self, name: str) -> None:
        self._file_path(name).unlink(missing_ok=True)


def open_store(settings: StoreSettings) -> TileStore:
    """The durable store a deployment's settings name (SYNTHTILES_STORE_URL)."""
    url = settings.store_url
    if not url:
        return FileTileStore(settings.store_root)
    parsed = urlparse(url)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"store URL {url!r}: a file URL has no host (file:///path)")
        return FileTileStore(Path(parsed.path))
    if parsed.scheme == "s3":
        from core.s3_store import S3TileStore

        if not parsed.netloc:
            raise ValueError(f"store URL {url!r} names no bucket (s3://bucket/prefix)")
        return S3TileStore(parsed.netloc, parsed.path.lstrip("/"))
    raise ValueError(f"store URL {url!r}: use file:///path or s3://bucket/prefix")
