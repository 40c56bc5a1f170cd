"use strict";
(async function () {
  const params = new URLSearchParams(location.search);
  const world = params.get("world");
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
  }).addTo(map);
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
  map.on("moveend overlayadd", refreshPlan);
  L.control.layers({ "Synthetic imagery": imagery }, {
    "Layout (land cover)": layout, "Plan: roads, rivers, places": plan,
  }).addTo(map);
  if (params.get("features")) plan.addTo(map), refreshPlan();
  L.control.scale({ metric: true, imperial: false }).addTo(map);
  map.attributionControl.setPrefix("synthetic imagery, not a real place · Leaflet");
  const coords = document.getElementById("coords");
  map.on("mousemove", (e) => {
    coords.textContent = SynthTiles.formatCoordinates(e.latlng.lng, e.latlng.lat, map.getZoom());
  });
  coords.textContent = SynthTiles.formatCoordinates(tj.center[0], tj.center[1], map.getZoom());
})();
