"use strict";
(async function () {
  const params = new URLSearchParams(location.search);
  const world = params.get("world");
  const tj = await SynthTiles.tilejson(world ? `worlds/${world}/tilejson.json` : "tilejson.json");
  const extent = ol.proj.transformExtent(tj.bounds, "EPSG:4326", "EPSG:3857");

  const imagerySource = new ol.source.XYZ({
    url: tj.tiles[0], minZoom: tj.minzoom, maxZoom: tj.maxzoom,
    attributions: tj.attribution,
    tileLoadFunction(tile, src) {
      const img = tile.getImage();
      // Pending tiles show their parent; re-render once the real tile is swapped in.
      SynthTiles.load(src, img, (error) => { if (error) tile.setState(3); },
        () => imagery.changed());
    },
  });
  const imagery = new ol.layer.Tile({ source: imagerySource, extent });
  const layout = new ol.layer.Tile({
    source: new ol.source.XYZ({
      url: SynthTiles.layoutTemplate(tj),
      minZoom: tj.minzoom, maxZoom: tj.maxzoom,
    }),
    extent, opacity: 0.6, visible: false,
  });
  // The plan's roads, rivers, lakes and named places, fetched for the view.
  const planSource = new ol.source.Vector();
  const geojson = new ol.format.GeoJSON({ featureProjection: "EPSG:3857" });
  const plan = new ol.layer.Vector({
    source: planSource,
    visible: false,
    style: (feature) => {
      const props = feature.getProperties();
      if (feature.getGeometry().getType() === "Point") {
        const big = ["city", "town", "lake"].includes(props.kind);
        return new ol.style.Style({
          image: new ol.style.Circle({
            radius: big ? 5 : 3,
            fill: new ol.style.Fill({ color: "#fff" }),
            stroke: new ol.style.Stroke({ color: "#222", width: 1 }),
          }),
          text: big ? new ol.style.Text({
            text: SynthTiles.featureLabel(props), offsetY: -12, font: "12px system-ui",
            fill: new ol.style.Fill({ color: "#111" }),
            stroke: new ol.style.Stroke({ color: "#fff", width: 3 }),
          }) : undefined,
        });
      }
      const s = SynthTiles.featureStyle(props);
      return new ol.style.Style({ stroke: new ol.style.Stroke({ color: s.color, width: s.width }) });
    },
  });
  let latest = 0;
  async function refreshPlan() {
    if (!plan.getVisible()) return;
    const ticket = ++latest;
    const [west, south, east, north] = ol.proj.transformExtent(
      map.getView().calculateExtent(map.getSize()), "EPSG:3857", "EPSG:4326");
    const data = await SynthTiles.features(tj, west, south, east, north);
    if (ticket !== latest) return;
    planSource.clear();
    if (data) planSource.addFeatures(geojson.readFeatures(data));
  }
  const map = new ol.Map({
    target: "map",
    layers: [imagery, layout, plan],
    controls: ol.control.defaults.defaults({ attributionOptions: { collapsible: false } })
      .extend([new ol.control.ScaleLine()]),
    view: new ol.View({
      center: ol.proj.fromLonLat([tj.center[0], tj.center[1]]),
      zoom: Number(params.get("zoom")) || tj.center[2],
      minZoom: tj.minzoom, maxZoom: tj.maxzoom, extent, constrainOnlyCenter: true,
    }),
  });
  window.synthtilesMap = map;
  document.getElementById("layout-toggle").addEventListener("change", (e) => {
    layout.setVisible(e.target.checked);
  });
  const planToggle = document.getElementById("plan-toggle");
  planToggle.addEventListener("change", (e) => {
    plan.setVisible(e.target.checked);
    refreshPlan();
  });
  map.on("moveend", refreshPlan);
  if (params.get("features")) {
    planToggle.checked = true;
    plan.setVisible(true);
  }
  const coords = document.getElementById("coords");
  map.on("pointermove", (e) => {
    const [lon, lat] = ol.proj.toLonLat(e.coordinate);
    coords.textContent = SynthTiles.formatCoordinates(lon, lat, Math.round(map.getView().getZoom()));
  });
  coords.textContent = SynthTiles.formatCoordinates(tj.center[0], tj.center[1], tj.center[2]);
})();
