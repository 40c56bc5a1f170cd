// Offline viewer for a PMTiles package: no tile server, only this page and the file.
// The package is read (1) from ?url= or the package named beside the page, with HTTP range
// requests, or whole when the static server ignores ranges; or (2) from a file the user
// picks or drops, which works even from file:// with no server at all.
"use strict";
(function () {
  const protocol = new pmtiles.Protocol();
  maplibregl.addProtocol("pmtiles", protocol.tile);
  const panel = document.getElementById("open");
  const message = document.getElementById("open-message");
  let map = null;

  // The whole package in memory, for servers without byte ranges (python -m http.server).
  class BufferSource {
    constructor(key, buffer) { this.key = key; this.buffer = buffer; }
    getKey() { return this.key; }
    async getBytes(offset, length) {
      return { data: this.buffer.slice(offset, offset + length) };
    }
  }

  async function fromUrl(url) {
    const ranged = new pmtiles.PMTiles(url);
    try {
      await ranged.getHeader();
      return ranged;
    } catch (rangeError) {
      const response = await fetch(url);
      if (!response.ok) throw new Error(`HTTP ${response.status} for ${url}`);
      return new pmtiles.PMTiles(new BufferSource(url, await response.arrayBuffer()));
    }
  }

  async function show(archive) {
    const header = await archive.getHeader();
    const metadata = (await archive.getMetadata()) || {};
    protocol.add(archive);
    const key = archive.source.getKey();
    const bounds = [header.minLon, header.minLat, header.maxLon, header.maxLat];
    const style = {
      version: 8,
      sources: {
        imagery: {
          type: "raster",
          tiles: [`pmtiles://${key}/{z}/{x}/{y}`],
          tileSize: (metadata.synthtiles && metadata.synthtiles.tile_size) || 256,
          minzoom: header.minZoom,
          maxzoom: header.maxZoom,
          bounds,
          attribution: metadata.attribution || "Synthetic imagery: not a real place",
        },
      },
      layers: [
        { id: "background", type: "background", paint: { "background-color": "#0b1d2a" } },
        { id: "imagery", type: "raster", source: "imagery" },
      ],
    };
    if (map) map.remove();
    map = new maplibregl.Map({
      container: "map",
      style,
      center: [header.centerLon, header.centerLat],
      zoom: header.centerZoom,
      minZoom: Math.max(0, header.minZoom - 1),
      maxZoom: header.maxZoom + 1,
      attributionControl: { compact: false },
    });
    map.fitBounds([[bounds[0], bounds[1]], [bounds[2], bounds[3]]], { animate: false });
    map.addControl(new maplibregl.NavigationControl());
    map.addControl(new maplibregl.ScaleControl());
    const coords = document.getElementById("coords");
    map.on("mousemove", (e) => {
      const zoom = map.getZoom().toFixed(1);
      // MGRS too where the page has mgrs-grid.js (served by the app; bundles lack it so far).
      coords.textContent = window.SynthGrid
        ? SynthGrid.readout(e.lngLat.lng, e.lngLat.lat, zoom)
        : `${e.lngLat.lat.toFixed(5)}, ${e.lngLat.lng.toFixed(5)} · z${zoom}`;
    });
    if (metadata.name) document.title = `${metadata.name} · synthtiles offline`;
    panel.hidden = true;
    window.synthtilesMap = map;
  }

  function askForFile(text) {
    if (text) message.textContent = text;
    panel.hidden = false;
  }

  function openFile(file) {
    show(new pmtiles.PMTiles(new pmtiles.FileSource(file))).catch((error) => {
      askForFile(`${file.name} is not a readable PMTiles package (${error.message}).`);
    });
  }

  document.getElementById("package-file").addEventListener("change", (event) => {
    if (event.target.files.length) openFile(event.target.files[0]);
  });
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) openFile(event.dataTransfer.files[0]);
  });

  const named = document.querySelector('meta[name="synthtiles-package"]').content;
  const url = new URLSearchParams(location.search).get("url") || named;
  if (!url) {
    askForFile();
  } else if (location.protocol === "file:") {
    // Browsers do not let a page opened from disk read other files by itself.
    askForFile(`Choose ${url} (next to this page) to open it.`);
  } else {
    fromUrl(url).then(show).catch((error) => {
      askForFile(`Could not load ${url} (${error.message}); choose the file instead.`);
    });
  }
})();
