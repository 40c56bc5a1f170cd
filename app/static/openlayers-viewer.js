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
  const map = new ol.Map({
    target: "map",
    layers: [imagery, layout],
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
  const coords = document.getElementById("coords");
  map.on("pointermove", (e) => {
    const [lon, lat] = ol.proj.toLonLat(e.coordinate);
    coords.textContent = SynthTiles.formatCoordinates(lon, lat, Math.round(map.getView().getZoom()));
  });
  coords.textContent = SynthTiles.formatCoordinates(tj.center[0], tj.center[1], tj.center[2]);
})();
