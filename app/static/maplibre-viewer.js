// MapLibre GL viewer: the world's imagery (style.json) or its topographic map
// (map-style.json), the vector tiles as an overlay, the terrain tiles as a raster-dem source
// for hillshade and 3D terrain, and the MGRS grid. Tiles still being generated are asked
// for again by the "retry" protocol (below) instead of leaving a hole in the map.
//
// Page parameters: world, zoom, center=lon,lat, pitch, bearing, base=imagery|map,
// overlay=1 (vector overlay), hillshade=1, terrain=1 (3D), exaggeration, grid=1 (MGRS).
"use strict";
(async function () {
  const params = new URLSearchParams(location.search);
  const world = params.get("world");
  const flag = SynthTiles.flag;

  // Imagery tiles still being generated: asked for in placeholder mode, which answers at
  // once (a parent stand-in, "pending") instead of holding the connection and then a 503
  // that the browser logs as an error; the protocol hands MapLibre only the final tile.
  // At most this many imagery requests at once, so that of the browser's six connections to
  // the server some stay free for the terrain and vector tiles; MapLibre's own limit on image
  // requests (raster-dem tiles are images too) is raised, or polling imagery would fill it.
  const IMAGERY_CONNECTIONS = 4;
  maplibregl.setMaxParallelImageRequests(256);
  let fetching = 0;
  const waiting = [];
  async function connection(signal) {
    while (fetching >= IMAGERY_CONNECTIONS) {
      await new Promise((resolve, reject) => {
        waiting.push(resolve);
        signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
      });
    }
    fetching++;
  }
  function release() {
    fetching--;
    const next = waiting.shift();
    if (next) next();
  }

  maplibregl.addProtocol("retry", async (request, abort) => {
    const url = request.url.replace(/^retry:\/\//, "");
    for (let attempt = 0; attempt < 600; attempt++) {
      await connection(abort.signal);
      let response;
      let data;
      try {
        response = await fetch(url, {
          signal: abort.signal, headers: { "X-Synthtiles-Placeholder": "parent" },
        });
        const pending = response.headers.get("X-Synthtiles-Pending") === "true";
        if (response.ok && !pending) data = await response.arrayBuffer();
      } finally {
        release();
      }
      if (data) return { data };
      if (!response.ok && response.status !== 503) {
        throw new Error(`HTTP ${response.status} for ${url}`);
      }
      const wait = (Number(response.headers.get("Retry-After")) || 1) * 1000;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    throw new Error(`gave up waiting for ${url}`);
  });

  const key = params.get("key");  // servers that require a key for tiles
  const styleUrl = (world ? `worlds/${encodeURIComponent(world)}/style.json` : "style.json") +
    (key ? `?key=${encodeURIComponent(key)}` : "");
  const style = await SynthTiles.tilejson(styleUrl);
  const source = style.sources.synthtiles;
  const tj = await SynthTiles.tilejson(source.url);
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
  const plan = await SynthTiles.planLayers(tj);
  const mapStyle = plan.mapStyle ? await SynthTiles.tilejson(plan.mapStyle).catch(() => null) : null;
  const hidden = (on) => (on ? "visible" : "none");

  // The topographic map: map-style.json's sources and layers beside the imagery, shown in
  // "map" mode (layer ids prefixed, so they cannot collide with the imagery style's).
  const mapLayerIds = [];
  if (mapStyle) {
    for (const [id, value] of Object.entries(mapStyle.sources)) {
      style.sources[`map-${id}`] = value;
    }
    for (const layer of mapStyle.layers) {
      const copy = { ...layer, id: `map-${layer.id}`, layout: { ...(layer.layout || {}) } };
      if (layer.source) copy.source = `map-${layer.source}`;
      copy.layout.visibility = hidden(params.get("base") === "map");
      style.layers.push(copy);
      mapLayerIds.push(copy.id);
    }
    if (mapStyle.glyphs) style.glyphs = mapStyle.glyphs;
    if (mapStyle.sprite) style.sprite = mapStyle.sprite;
  }

  // Terrain: one raster-dem source for 3D and one for the hillshade layer (MapLibre's
  // advice: sharing one source makes both render at the coarser of their resolutions).
  const terrain = plan.terrain;
  if (terrain) {
    const dem = {
      type: "raster-dem",
      tiles: terrain.tiles.slice(-1),
      tileSize: terrain.tile_size || 256,
      encoding: terrain.encoding || "mapbox",
      minzoom: terrain.minzoom,
      maxzoom: terrain.maxzoom,
      bounds: terrain.bounds || tj.bounds,
    };
    style.sources["terrain-dem"] = dem;
    // A hazy sky above the horizon of a pitched 3D view (only drawn with terrain on).
    style.sky = {
      "sky-color": "#8fb7dc", "horizon-color": "#e4ecf2", "fog-color": "#e4ecf2",
      "sky-horizon-blend": 0.6, "horizon-fog-blend": 0.6, "fog-ground-blend": 0.85,
    };
    style.sources["hillshade-dem"] = { ...dem };
    style.layers.push({
      id: "hillshade",
      type: "hillshade",
      source: "hillshade-dem",
      layout: { visibility: hidden(flag("hillshade")) },
      paint: {
        "hillshade-exaggeration": 0.4,
        "hillshade-shadow-color": "#2b2014",
        "hillshade-highlight-color": "#fffaf0",
      },
    });
  }

  // The vector tiles over the imagery, in the look the other viewers give them.
  const overlayIds = [];
  if (plan.vector) {
    style.sources.vector = {
      type: "vector",
      tiles: plan.vector.tiles.slice(-1),
      minzoom: plan.vector.minzoom,
      maxzoom: plan.vector.maxzoom,
      bounds: plan.vector.bounds || tj.bounds,
    };
    const offered = new Set((plan.vector.vector_layers || []).map((l) => l.id));
    for (const layer of SynthTiles.OVERLAY_LAYERS.filter((l) => offered.has(l))) {
      for (const [kind, s] of Object.entries(SynthTiles.VECTOR_STYLE[layer])) {
        const id = `overlay-${layer}-${kind === "*" ? "other" : kind}`;
        const filter = kind === "*" ? null : layer === "contour"
          ? ["==", ["to-number", ["get", "index"]], 1]
          : ["==", ["coalesce", ["get", "kind"], ["get", "class"]], kind];
        const others = Object.keys(SynthTiles.VECTOR_STYLE[layer]).filter((k) => k !== "*");
        const rest = layer === "contour"
          ? ["!=", ["to-number", ["get", "index"]], 1]
          : ["!", ["in", ["coalesce", ["get", "kind"], ["get", "class"], ""], ["literal", others]]];
        const base = {
          id, source: "vector", "source-layer": layer, filter: filter || rest,
          layout: { visibility: hidden(flag("overlay")) },
        };
        if (layer === "place") {
          style.layers.push({
            ...base, type: "circle",
            paint: {
              "circle-radius": ["match", ["get", "kind"], ["city", "town"], 5, 3],
              "circle-color": s.fill, "circle-stroke-color": s.color, "circle-stroke-width": s.width,
            },
          });
        } else {
          style.layers.push({
            ...base, type: "line",
            layout: { ...base.layout, "line-cap": "round", "line-join": "round" },
            paint: {
              "line-color": s.color, "line-width": s.width,
              ...(s.dash ? { "line-dasharray": s.dash } : {}),
              ...(layer === "contour" ? { "line-opacity": 0.8 } : {}),
            },
          });
        }
        overlayIds.push(id);
      }
    }
  }

  // The MGRS grid: lines here, labels as HTML markers (they need no glyphs).
  style.sources["mgrs-grid"] = { type: "geojson", data: { type: "FeatureCollection", features: [] } };
  const gridStyle = SynthGrid.STYLE;
  const gridWidth = ["case", ["get", "major"], gridStyle.majorWidth, gridStyle.width];
  style.layers.push(
    {
      id: "mgrs-grid-halo", type: "line", source: "mgrs-grid", filter: ["==", ["geometry-type"], "LineString"],
      layout: { visibility: hidden(flag("grid")) },
      paint: { "line-color": gridStyle.halo, "line-width": ["+", gridWidth, 2] },
    },
    {
      id: "mgrs-grid", type: "line", source: "mgrs-grid", filter: ["==", ["geometry-type"], "LineString"],
      layout: { visibility: hidden(flag("grid")) },
      paint: { "line-color": gridStyle.color, "line-width": gridWidth },
    },
  );

  const exaggeration = Number(params.get("exaggeration")) || 1.5;
  if (terrain && flag("terrain")) style.terrain = { source: "terrain-dem", exaggeration };
  if (mapStyle && params.get("base") === "map") {
    style.layers.find((l) => l.id === "imagery").layout = { visibility: "none" };
  }

  const [west, south, east, north] = tj.bounds;
  const center = (params.get("center") || "").split(",").map(Number);
  const map = new maplibregl.Map({
    container: "map",
    style,
    center: center.length === 2 && center.every(Number.isFinite) ? center : style.center,
    zoom: Number(params.get("zoom")) || style.zoom,
    pitch: Number(params.get("pitch")) || 0,
    bearing: Number(params.get("bearing")) || 0,
    maxPitch: 80,
    minZoom: Math.max(0, tj.minzoom - 1),
    maxZoom: tj.maxzoom + 1,
    maxBounds: [[west - (east - west), south - (north - south) / 2],
                [east + (east - west), north + (north - south) / 2]],
    attributionControl: { compact: false },
  });
  window.synthtilesMap = map;
  // Top left: the layer switches take the top right corner.
  map.addControl(new maplibregl.NavigationControl({ visualizePitch: true }), "top-left");
  map.addControl(new maplibregl.ScaleControl());

  const setVisible = (ids, on) => {
    for (const id of ids) map.setLayoutProperty(id, "visibility", hidden(on));
  };
  const setTerrain = (on) => map.setTerrain(on ? { source: "terrain-dem", exaggeration } : null);

  let gridOn = flag("grid");
  let labels = [];
  function refreshGrid() {
    for (const marker of labels) marker.remove();
    labels = [];
    const data = gridOn ? gridOfView() : { type: "FeatureCollection", features: [] };
    map.getSource("mgrs-grid").setData({
      type: "FeatureCollection",
      features: data.features.filter((f) => f.geometry.type === "LineString"),
    });
    for (const f of data.features.filter((f) => f.properties.kind === "label")) {
      const element = document.createElement("div");
      element.className = "synthtiles-grid-label";
      element.textContent = f.properties.label;
      labels.push(new maplibregl.Marker({ element }).setLngLat(f.geometry.coordinates).addTo(map));
    }
  }
  function gridOfView() {
    const b = map.getBounds();
    const lat = map.getCenter().lat;
    // MapLibre's zoom 0 is one 512 px tile.
    const mpp = SynthGrid.metresPerPixel(lat, map.getZoom(), 512);
    return SynthGrid.grid({ west: b.getWest(), south: b.getSouth(), east: b.getEast(), north: b.getNorth() }, mpp);
  }

  const entries = [
    { id: "base-imagery", label: "Imagery", group: "base", checked: params.get("base") !== "map",
      onChange: (on) => on && showBase("imagery") },
  ];
  if (mapStyle) {
    entries.push({ id: "base-map", label: "Map", group: "base", checked: params.get("base") === "map",
      onChange: (on) => on && showBase("map") });
  }
  if (overlayIds.length) {
    entries.push({ id: "overlay-toggle", label: "Vector overlay", checked: flag("overlay"),
      onChange: (on) => setVisible(overlayIds, on) });
  }
  if (terrain) {
    entries.push(
      { id: "hillshade-toggle", label: "Hillshade", checked: flag("hillshade"),
        onChange: (on) => setVisible(["hillshade"], on) },
      { id: "terrain-toggle", label: "3D terrain", checked: flag("terrain"),
        onChange: (on) => { setTerrain(on); if (on && map.getPitch() < 30) map.easeTo({ pitch: 60 }); } },
    );
  }
  entries.push({ id: "grid-toggle", label: "MGRS grid", checked: gridOn,
    onChange: (on) => { gridOn = on; setVisible(["mgrs-grid", "mgrs-grid-halo"], on); refreshGrid(); } });
  SynthTiles.layerPanel(entries);

  function showBase(base) {
    setVisible(["imagery"], base === "imagery");
    setVisible(mapLayerIds, base === "map");
  }

  // Not "load": that waits for every tile of the first view, which may still be generating.
  map.once("style.load", () => {
    refreshGrid();
    window.synthtilesReady = true;
  });
  map.on("moveend", refreshGrid);

  const coords = document.getElementById("coords");
  const show = (lngLat) => {
    coords.textContent = SynthTiles.formatCoordinates(lngLat.lng, lngLat.lat, map.getZoom().toFixed(1));
  };
  map.on("mousemove", (e) => show(e.lngLat));
  show(map.getCenter());
})();
