"""Exports of a bbox of a world as files for GIS and offline use, one module per format.

- `base.py`: `Export`, what every format offers (plan, size, file name, write).
- `cog.py`: a Cloud-Optimized GeoTIFF of one zoom, on the tiles' pixel grid.
- `packages.py`: the plan and metadata shared by tile packages; `mbtiles.py` (MBTiles 1.3)
  and `pmtiles.py` (PMTiles v3) each add their file writer, the served PNGs byte for byte.
- `registry.py`: `FORMATS` by request name, and `plan_export`, which checks a request.

Writers read tiles through a `ReadPng` callable, so they know no store, Redis or queue.
"""

from core.exports.base import Export, ExportTooLarge, ReadPng
from core.exports.cog import CogExport
from core.exports.mbtiles import MBTilesExport, write_mbtiles
from core.exports.packages import PackageExport, TilesetMetadata
from core.exports.pmtiles import PMTilesExport, write_pmtiles
from core.exports.registry import FORMATS, plan_export

__all__ = [
    "FORMATS",
    "CogExport",
    "Export",
    "ExportTooLarge",
    "MBTilesExport",
    "PMTilesExport",
    "PackageExport",
    "ReadPng",
    "TilesetMetadata",
    "plan_export",
    "write_mbtiles",
    "write_pmtiles",
]
