// Leaflet viewer: imagery or the map (the world's vector tiles, drawn by the vendored
// Leaflet.VectorGrid: Leaflet has no MVT renderer of its own), the vector tiles as an
// overlay, the layout and plan features, and the MGRS grid.
// Page parameters: world, zoom, base=imagery|map, overlay=1, grid=1, features=1.
"use strict";
(async function () {
  const params = new URLSearchParams(location.search);
  const world = params.get("world");
  const flag = SynthTiles.flag;
  const tj = await SynthTiles.tilejson(world ? `worlds/${world}/tilejson.json` : "tilejson.json");
  const [west, south, east, north] = tj.bounds;
  const bounds = L.latLngBounds([south, west], [north, east]);
  const map = L.map("map", {
    minZoom: tj.minzoom, maxZoom: tj.maxzoom, maxBounds: bounds.pad(0.1),
  }).setView([tj.center[1], tj.center[0]], Number(params.get("zoom")) || tj.center[2]);
  window.synthtilesMap = map;

  // Tiles come through fetch so that a pending tile can show its parent meanwhile.
  const SyntheticLayer = L.GridLayer.extend({
    createTile(coords, done) {
      const img = document.createElement("img");
      img.alt = "";
      img.className = "synthtiles-tile";
      const url = SynthTiles.tileUrl(this.options.template, coords.z, coords.x, coords.y);
      SynthTiles.load(url, img, (error) => done(error, img));
      return img;
    },
  });
  const imagery = new SyntheticLayer({
    template: tj.tiles[0], bounds, minZoom: tj.minzoom, maxZoom: tj.maxzoom,
    attribution: tj.attribution,
  });
  const layout = L.tileLayer(SynthTiles.layoutTemplate(tj), {
    bounds, minZoom: tj.minzoom, maxZoom: tj.maxzoom, opacity: 0.6,
    attribution: "layout: land-cover plan",
  });
  // The plan's roads, rivers, lakes and named places, fetched for the view.
  const plan = L.layerGroup();
  let latest = 0;
  async function refreshPlan() {
    if (!map.hasLayer(plan)) return;
    const ticket = ++latest;
    const b = map.getBounds();
    const data = await SynthTiles.features(tj, b.getWest(), b.getSouth(), b.getEast(), b.getNorth());
    if (ticket !== latest) return;
    plan.clearLayers();
    if (!data) return;
    L.geoJSON(data, {
      style: (f) => {
        const s = SynthTiles.featureStyle(f.properties);
        return { color: s.color, weight: s.width, opacity: 0.9 };
      },
      pointToLayer: (f, latlng) => {
        const big = ["city", "town"].includes(f.properties.kind);
        const marker = L.circleMarker(latlng, {
          radius: big ? 5 : 3, color: "#222", weight: 1, fillColor: "#fff", fillOpacity: 0.9,
        });
        const label = SynthTiles.featureLabel(f.properties);
        if (label) marker.bindTooltip(label, { permanent: big || f.properties.kind === "lake" });
        return marker;
      },
    }).addTo(plan);
  }

  // The vector tiles as Leaflet path styles (VectorGrid's vectorTileLayerStyles: one
  // function per MVT layer; an empty list hides a feature).
  const vectorLayers = (only) => {
    const styles = {};
    for (const layer of Object.keys(SynthTiles.VECTOR_STYLE)) {
      styles[layer] = (properties) => {
        if (!only.includes(layer)) return [];
        const s = SynthTiles.vectorStyle(layer, properties);
        return {
          stroke: Boolean(s.color), color: s.color, weight: s.width, opacity: 1,
          fill: Boolean(s.fill), fillColor: s.fill, fillOpacity: 1,
          dashArray: s.dash ? s.dash.join(" ") : null, radius: s.radius,
        };
      };
    }
    return styles;
  };
  const layers = await SynthTiles.planLayers(tj);
  const vectorGrid = (only, options) => L.vectorGrid.protobuf(
    layers.vector.tiles[layers.vector.tiles.length - 1],
    {
      rendererFactory: L.canvas.tile, vectorTileLayerStyles: vectorLayers(only),
      interactive: false, bounds, minZoom: tj.minzoom, maxZoom: tj.maxzoom,
      maxNativeZoom: layers.vector.maxzoom, ...options,
    },
  );
  const baseLayers = { "Synthetic imagery": imagery };
  const overlays = { "Layout (land cover)": layout, "Plan: roads, rivers, places": plan };
  let vectorMap = null;
  if (layers.vector && L.vectorGrid) {
    vectorMap = vectorGrid(["landcover", "water", "contour", "waterway", "road", "bridge", "place"],
      { className: "synthtiles-vector-map" });
    baseLayers.Map = vectorMap;
    overlays["Vector overlay"] = vectorGrid(SynthTiles.OVERLAY_LAYERS, {});
    if (flag("overlay")) overlays["Vector overlay"].addTo(map);
  }
  (vectorMap && params.get("base") === "map" ? vectorMap : imagery).addTo(map);

  // The MGRS grid of the view, recomputed when the view settles.
  const gridStyle = SynthGrid.STYLE;
  const grid = L.layerGroup();
  overlays["MGRS grid"] = grid;
  function refreshGrid() {
    grid.clearLayers();
    if (!map.hasLayer(grid)) return;
    const b = map.getBounds();
    const mpp = SynthGrid.metresPerPixel(map.getCenter().lat, map.getZoom());
    const data = SynthGrid.grid(
      { west: b.getWest(), south: b.getSouth(), east: b.getEast(), north: b.getNorth() }, mpp);
    const lineStyle = (f, halo) => ({
      color: halo ? gridStyle.halo : gridStyle.color, opacity: 1, interactive: false,
      weight: (f.properties.major ? gridStyle.majorWidth : gridStyle.width) + (halo ? 2 : 0),
    });
    const lines = data.features.filter((f) => f.geometry.type === "LineString");
    L.geoJSON(lines, { style: (f) => lineStyle(f, true) }).addTo(grid);
    L.geoJSON(lines, { style: (f) => lineStyle(f, false) }).addTo(grid);
    for (const f of data.features.filter((f) => f.properties.kind === "label")) {
      const [lon, lat] = f.geometry.coordinates;
      const icon = L.divIcon({ className: "synthtiles-grid-label", html: f.properties.label, iconSize: null });
      L.marker([lat, lon], { icon, interactive: false, keyboard: false }).addTo(grid);
    }
  }
  if (flag("grid")) grid.addTo(map);

  map.on("moveend overlayadd", () => { refreshPlan(); refreshGrid(); });
  L.control.layers(baseLayers, overlays).addTo(map);
  if (flag("features")) plan.addTo(map), refreshPlan();
  refreshGrid();
  L.control.scale({ metric: true, imperial: false }).addTo(map);
  map.attributionControl.setPrefix("synthetic imagery, not a real place · Leaflet");
  const coords = document.getElementById("coords");
  map.on("mousemove", (e) => {
    coords.textContent = SynthTiles.formatCoordinates(e.latlng.lng, e.latlng.lat, map.getZoom());
  });
  coords.textContent = SynthTiles.formatCoordinates(tj.center[0], tj.center[1], map.getZoom());
  window.synthtilesReady = true;
})();
