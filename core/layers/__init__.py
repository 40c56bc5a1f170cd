"""Planner layers drawn from a world's plan without a model: elevation (terrain tiles, DEM),
vector tiles and what the map style needs. Pure functions of (world, tile): cheap enough for
the API process, which loads no torch."""
