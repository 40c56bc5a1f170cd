"""What every export format offers: a plan of what it makes, checked before any work, that
then writes itself. One subclass of `Export` per format; the registry lists them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, Self

from core.bbox import AreaError, BBox
from core.units import UnitKey, unit_of_tile
from core.world import World

ReadPng = Callable[[int, int, int], bytes]  # (z, x, y) -> the stored tile's PNG bytes


class ExportTooLarge(AreaError):
    """An export over the size limit (the API answers 413, not 400)."""


class Export(ABC):
    """A planned export of a bbox of a world, in one format.

    A subclass is a format: its class attributes are what the API and the CLI need to offer
    it (the request's `format`, the answer's media type, the file's suffix), `plan` checks a
    request and says what it makes, and `write` makes the file from stored tiles.
    """

    format: ClassVar[str]  # the request's `format`, and the registry's key
    media_type: ClassVar[str]
    suffix: ClassVar[str]  # of the written file, with its dot
    # The request options `plan` takes as keywords besides the bbox and zooms (a DEM's
    # `sea_depth`, a package's `layer`); the registry refuses any other.
    accepts: ClassVar[tuple[str, ...]] = ()

    world: World
    bbox: BBox  # clipped to the world

    @classmethod
    @abstractmethod
    def plan(cls, world: World, bbox: BBox, minzoom: int, maxzoom: int, max_pixels: int) -> Self:
        """The export of `bbox` (not yet clipped) at the zooms, or AreaError / ExportTooLarge.
        The registry has checked the zooms against the world already."""

    @abstractmethod
    def tile_coords(self) -> Iterator[tuple[int, int, int]]:
        """(z, x, y) of every tile the export reads."""

    @property
    @abstractmethod
    def pixels(self) -> int:
        """Its size as the limits count it."""

    @property
    @abstractmethod
    def filename(self) -> str:
        """The name a client saves it under."""

    @property
    @abstractmethod
    def zooms(self) -> list[int]:
        """The zooms as the export's identity names them (part of its job id's hash)."""

    @abstractmethod
    def size_fields(self) -> dict[str, int]:
        """Its size as a queued export's answer tells it (after `units` and `pixels`)."""

    @abstractmethod
    def describe(self) -> str:
        """Its size in words, for the CLI's 'wrote ...' line."""

    @abstractmethod
    def write(self, read_png: ReadPng, out: Path, attribution: str) -> Path:
        """Writes the file to `out` (complete or not at all) from the stored tiles."""

    @property
    def options(self) -> dict[str, Any]:
        """The options it was planned with that change what it makes, as a request gives
        them (JSON values; empty for a plain export): part of its job's id and record."""
        return {}

    def units(self) -> list[UnitKey]:
        """The generation units to make before writing, each once, in tile order."""
        return list(
            dict.fromkeys(unit_of_tile(self.world, z, x, y) for z, x, y in self.tile_coords())
        )
