"""Tile packages for offline use: MBTiles 1.3 and PMTiles v3 files of already-made tiles.

Pure format writers: they take (z, x, y, bytes) in any order plus the tileset's metadata and
write one file under a temporary name, renamed into place only when complete.
"""

from core.tilepackages.mbtiles import write_mbtiles
from core.tilepackages.metadata import TilesetMetadata
from core.tilepackages.pmtiles import write_pmtiles

__all__ = ["TilesetMetadata", "write_mbtiles", "write_pmtiles"]
