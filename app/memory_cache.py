"""A per-process LRU of tiles. Tiles never change once generated, so this cache never goes stale."""

from __future__ import annotations

from collections import OrderedDict

TileId = tuple[str, int, int, int]  # world, z, x, y


class TileMemoryCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size_bytes = 0
        self._entries: OrderedDict[TileId, tuple[bytes, str]] = OrderedDict()

    def get(self, tile_id: TileId) -> tuple[bytes, str] | None:
        entry = self._entries.get(tile_id)
        if entry is not None:
            self._entries.move_to_end(tile_id)
        return entry

    def put(self, tile_id: TileId, png: bytes, etag: str) -> None:
        if len(png) > self.max_bytes or tile_id in self._entries:
            return
        self._entries[tile_id] = (png, etag)
        self.size_bytes += len(png)
        while self.size_bytes > self.max_bytes:
            _, (evicted, _) = self._entries.popitem(last=False)
            self.size_bytes -= len(evicted)

    def __len__(self) -> int:
        return len(self._entries)
