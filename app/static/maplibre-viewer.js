// MapLibre GL viewer: draws the world's style.json. Tiles still being generated answer
// 503 + Retry-After; the "retry" protocol asks again after that delay instead of leaving
// a hole in the map.
"use strict";
(async function () {
  const params = new URLSearchParams(location.search);
  const world = params.get("world");

  maplibregl.addProtocol("retry", async (request, abort) => {
    const url = request.url.replace(/^retry:\/\//, "");
    for (let attempt = 0; attempt < 60; attempt++) {
      const response = await fetch(url, { signal: abort.signal });
      if (response.ok) return { data: await response.arrayBuffer() };
      if (response.status !== 503) throw new Error(`HTTP ${response.status} for ${url}`);
      const wait = (Number(response.headers.get("Retry-After")) || 2) * 1000;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    throw new Error(`gave up waiting for ${url}`);
  });

  const key = params.get("key");  // servers that require a key for tiles
  const styleUrl = (world ? `worlds/${encodeURIComponent(world)}/style.json` : "style.json") +
    (key ? `?key=${encodeURIComponent(key)}` : "");
  const response = await fetch(styleUrl);
  if (!response.ok) throw new Error(`style ${styleUrl}: HTTP ${response.status}`);
  const style = await response.json();
  const source = style.sources.synthtiles;
  const tj = await (await fetch(source.url)).json();
  // Same source, tiles fetched through the retrying protocol.
  style.sources.synthtiles = {
    type: "raster",
    tiles: tj.tiles.slice(-1).map((t) => `retry://${t}`),
    tileSize: source.tileSize,
    minzoom: tj.minzoom,
    maxzoom: tj.maxzoom,
    bounds: tj.bounds,
    attribution: tj.attribution,
  };
  const [west, south, east, north] = tj.bounds;
  const map = new maplibregl.Map({
    container: "map",
    style,
    center: style.center,
    zoom: Number(params.get("zoom")) || style.zoom,
    minZoom: Math.max(0, tj.minzoom - 1),
    maxZoom: tj.maxzoom + 1,
    maxBounds: [[west - (east - west), south - (north - south) / 2],
                [east + (east - west), north + (north - south) / 2]],
    attributionControl: { compact: false },
  });
  map.addControl(new maplibregl.NavigationControl());
  map.addControl(new maplibregl.ScaleControl());
  const coords = document.getElementById("coords");
  map.on("mousemove", (e) => {
    coords.textContent = `${e.lngLat.lat.toFixed(5)}, ${e.lngLat.lng.toFixed(5)} · z${map.getZoom().toFixed(1)}`;
  });
  window.synthtilesMap = map;
})();
