// OpenLayers viewer: imagery or the map (the world's vector tiles, drawn by OpenLayers' own
// MVT reader), the vector tiles as an overlay, the layout and plan features, and the MGRS
// grid. Page parameters: world, zoom, base=imagery|map, overlay=1, grid=1, features=1.
"use strict";
(async function () {
  const params = new URLSearchParams(location.search);
  const world = params.get("world");
  const flag = SynthTiles.flag;
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
  const placeText = (props) => new ol.style.Text({
    text: SynthTiles.featureLabel(props), offsetY: -12, font: "12px system-ui",
    fill: new ol.style.Fill({ color: "#111" }),
    stroke: new ol.style.Stroke({ color: "#fff", width: 3 }),
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
          text: big ? placeText(props) : undefined,
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

  // Vector tiles: one VectorTile source, drawn as the whole map or as an overlay.
  const layers = await SynthTiles.planLayers(tj);
  const olStyle = (s, props, layer) => {
    if (layer === "place") {
      const big = ["city", "town"].includes(props.kind);
      return new ol.style.Style({
        image: new ol.style.Circle({
          radius: s.radius,
          fill: new ol.style.Fill({ color: s.fill }),
          stroke: new ol.style.Stroke({ color: s.color, width: s.width }),
        }),
        text: big && props.name ? placeText(props) : undefined,
      });
    }
    return new ol.style.Style({
      fill: s.fill ? new ol.style.Fill({ color: s.fill }) : undefined,
      stroke: s.color
        ? new ol.style.Stroke({ color: s.color, width: s.width, lineDash: s.dash })
        : undefined,
    });
  };
  const vectorStyle = (only) => (feature) => {
    const layer = feature.get("layer");
    if (only && !only.includes(layer)) return null;
    return olStyle(SynthTiles.vectorStyle(layer, feature.getProperties()), feature.getProperties(), layer);
  };
  let vectorMap = null;
  let overlay = null;
  if (layers.vector) {
    const vectorSource = new ol.source.VectorTile({
      format: new ol.format.MVT(),
      url: layers.vector.tiles[layers.vector.tiles.length - 1],
      minZoom: layers.vector.minzoom, maxZoom: layers.vector.maxzoom,
    });
    vectorMap = new ol.layer.VectorTile({
      source: vectorSource, extent, visible: params.get("base") === "map",
      background: SynthTiles.MAP_BACKGROUND,
      style: vectorStyle(["landcover", "water", "contour", "waterway", "road", "bridge", "place"]),
      declutter: true,
    });
    overlay = new ol.layer.VectorTile({
      source: vectorSource, extent, visible: flag("overlay"),
      style: vectorStyle(SynthTiles.OVERLAY_LAYERS),
    });
  }

  // The MGRS grid of the view, recomputed when the view settles.
  const gridSource = new ol.source.Vector();
  const gridStyle = SynthGrid.STYLE;
  const grid = new ol.layer.Vector({
    source: gridSource,
    visible: flag("grid"),
    style: (feature) => {
      if (feature.get("kind") === "label") {
        return new ol.style.Style({
          text: new ol.style.Text({
            text: feature.get("label"), font: gridStyle.font,
            fill: new ol.style.Fill({ color: gridStyle.color }),
            stroke: new ol.style.Stroke({ color: gridStyle.halo, width: 3 }),
          }),
        });
      }
      const width = feature.get("major") ? gridStyle.majorWidth : gridStyle.width;
      return [
        new ol.style.Style({ stroke: new ol.style.Stroke({ color: gridStyle.halo, width: width + 2 }) }),
        new ol.style.Style({ stroke: new ol.style.Stroke({ color: gridStyle.color, width }) }),
      ];
    },
  });
  function refreshGrid() {
    gridSource.clear();
    if (!grid.getVisible()) return;
    const view = map.getView();
    const [west, south, east, north] = ol.proj.transformExtent(
      view.calculateExtent(map.getSize()), "EPSG:3857", "EPSG:4326");
    const lat = ol.proj.toLonLat(view.getCenter())[1];
    // The view's resolution is in projected metres: ground metres shrink with cos(lat).
    const mpp = view.getResolution() * Math.cos((lat * Math.PI) / 180);
    gridSource.addFeatures(geojson.readFeatures(SynthGrid.grid({ west, south, east, north }, mpp)));
  }

  // The plan overlay stays the third layer (tests and scripts look it up there).
  const extra = [vectorMap, overlay].filter(Boolean);
  const map = new ol.Map({
    target: "map",
    layers: [imagery, layout, plan, ...extra, grid],
    controls: ol.control.defaults.defaults({ attributionOptions: { collapsible: false } })
      .extend([new ol.control.ScaleLine()]),
    view: new ol.View({
      center: ol.proj.fromLonLat([tj.center[0], tj.center[1]]),
      zoom: Number(params.get("zoom")) || tj.center[2],
      minZoom: tj.minzoom, maxZoom: tj.maxzoom, extent, constrainOnlyCenter: true,
    }),
  });
  window.synthtilesMap = map;
  if (vectorMap) imagery.setVisible(params.get("base") !== "map");

  const entries = [];
  if (vectorMap) {
    entries.push(
      { id: "base-imagery", label: "Imagery", group: "base", checked: params.get("base") !== "map",
        onChange: (on) => { imagery.setVisible(on); vectorMap.setVisible(!on); } },
      { id: "base-map", label: "Map", group: "base", checked: params.get("base") === "map",
        onChange: (on) => { imagery.setVisible(!on); vectorMap.setVisible(on); } },
      { id: "overlay-toggle", label: "Vector overlay", checked: flag("overlay"),
        onChange: (on) => overlay.setVisible(on) },
    );
  }
  entries.push(
    { id: "layout-toggle", label: "Layout (land cover)", onChange: (on) => layout.setVisible(on) },
    { id: "plan-toggle", label: "Plan: roads, rivers, places", checked: flag("features"),
      onChange: (on) => { plan.setVisible(on); refreshPlan(); } },
    { id: "grid-toggle", label: "MGRS grid", checked: flag("grid"),
      onChange: (on) => { grid.setVisible(on); refreshGrid(); } },
  );
  SynthTiles.layerPanel(entries);
  if (flag("features")) plan.setVisible(true);
  map.on("moveend", () => { refreshPlan(); refreshGrid(); });

  const coords = document.getElementById("coords");
  map.on("pointermove", (e) => {
    const [lon, lat] = ol.proj.toLonLat(e.coordinate);
    coords.textContent = SynthTiles.formatCoordinates(lon, lat, Math.round(map.getView().getZoom()));
  });
  coords.textContent = SynthTiles.formatCoordinates(tj.center[0], tj.center[1], tj.center[2]);
  window.synthtilesReady = true;
})();
