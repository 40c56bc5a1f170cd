// Shared by the viewers: TileJSON and layer lookup and a tile loader that shows the parent
// (upsampled) while a tile is still being generated, then swaps in the real tile.
"use strict";
window.SynthTiles = (function () {
  const PLACEHOLDER_HEADER = "X-Synthtiles-Placeholder";

  // A page opened with ?key=KEY passes it on (servers that require a key for tiles).
  const PAGE_KEY = new URLSearchParams(location.search).get("key");
  function withKey(url) {
    if (!PAGE_KEY) return url;
    return `${url}${url.includes("?") ? "&" : "?"}key=${encodeURIComponent(PAGE_KEY)}`;
  }

  // A page switch: ?overlay, ?overlay=1 or ?overlay=true turn it on; =0/false/off off.
  const PAGE_PARAMS = new URLSearchParams(location.search);
  function flag(name) {
    return PAGE_PARAMS.has(name) && !["0", "false", "off"].includes(PAGE_PARAMS.get(name));
  }

  // A URL template with its path rewritten, its query (?key=...) kept.
  function retemplate(template, pattern, replacement) {
    const [path, query] = template.split("?");
    return path.replace(pattern, replacement) + (query ? `?${query}` : "");
  }

  async function tilejson(url) {
    const response = await fetch(withKey(url));
    if (!response.ok) throw new Error(`TileJSON ${url}: HTTP ${response.status}`);
    return response.json();
  }

  function tileUrl(template, z, x, y) {
    return template.replace("{z}", z).replace("{x}", x).replace("{y}", y);
  }

  // Loads url into img. onFirstImage() runs once, when the first picture (placeholder or
  // final) is shown; onFinal() when the real tile is in place.
  async function load(url, img, onFirstImage, onFinal, attempt = 0) {
    let response;
    try {
      response = await fetch(url, { headers: { [PLACEHOLDER_HEADER]: "parent" } });
    } catch (error) {
      if (onFirstImage) onFirstImage(error);
      return;
    }
    if (!response.ok) {
      if (response.status === 503 && attempt < 60) {
        const wait = (Number(response.headers.get("Retry-After")) || 2) * 1000;
        setTimeout(() => load(url, img, onFirstImage, onFinal, attempt + 1), wait);
        return;
      }
      if (onFirstImage) onFirstImage(new Error(`HTTP ${response.status} for ${url}`));
      return;
    }
    const pending = response.headers.get("X-Synthtiles-Pending") === "true";
    const blob = await response.blob();
    const objectUrl = URL.createObjectURL(blob);
    img.onload = () => {
      URL.revokeObjectURL(objectUrl);
      img.dataset.pending = pending ? "true" : "false";
      if (onFirstImage) onFirstImage(null);
      if (!pending && onFinal) onFinal();
    };
    img.src = objectUrl;
    if (pending && attempt < 120) {
      const wait = (Number(response.headers.get("Retry-After")) || 1) * 1000;
      setTimeout(() => load(url, img, null, onFinal, attempt + 1), wait);
    }
  }

  // A URL beside the world's own tile template (the last entry), e.g. "/layers.json".
  function besideTiles(tj, path) {
    const worldTemplate = tj.tiles[tj.tiles.length - 1];
    return retemplate(worldTemplate, /\/\{z\}\/\{x\}\/\{y\}\.png$/, path);
  }

  // The world's layout layer sits beside its tiles.
  function layoutTemplate(tj) {
    return besideTiles(tj, "/layout/{z}/{x}/{y}.png");
  }

  // The world plan's vector features (roads, rivers, lakes, places) beside the tiles.
  function featuresTemplate(tj) {
    return besideTiles(tj, "/features.geojson");
  }

  // The plan layers this server offers for the world (layers.json): {terrain, vector} as
  // TileJSON documents, mapStyle as the URL of the MapLibre map style; null where absent.
  // Worlds without a plan offer none, so the page never asks for a layer that would 404.
  async function planLayers(tj) {
    const none = { terrain: null, vector: null, mapStyle: null };
    let offered;
    try {
      offered = (await tilejson(besideTiles(tj, "/layers.json"))).layers;
    } catch (error) {
      return none;
    }
    const open = async (url) => (url ? tilejson(url).catch(() => null) : null);
    const [terrain, vector] = await Promise.all([
      open(offered.terrain && offered.terrain.tilejson),
      open(offered.vector && offered.vector.tilejson),
    ]);
    return { terrain, vector, mapStyle: (vector && offered.vector.style) || null };
  }

  // Fetches the features of a view (west, south, east, north), clipped to the world;
  // null when the view is too large for one request or the world has no plan.
  const MAX_FEATURE_DEGREES = 2;
  async function features(tj, west, south, east, north) {
    const [w, s, e, n] = tj.bounds;
    const box = [Math.max(west, w), Math.max(south, s), Math.min(east, e), Math.min(north, n)];
    if (box[0] >= box[2] || box[1] >= box[3]) return null;
    if (box[2] - box[0] > MAX_FEATURE_DEGREES || box[3] - box[1] > MAX_FEATURE_DEGREES) {
      return null;
    }
    const bbox = box.map((v) => v.toFixed(6)).join(",");
    const base = featuresTemplate(tj);
    const response = await fetch(`${base}${base.includes("?") ? "&" : "?"}bbox=${bbox}`);
    return response.ok ? response.json() : null;
  }

  // One look for the plan overlay in both viewers.
  const FEATURE_STYLE = {
    main: { color: "#ffffff", width: 2.5 },
    minor: { color: "#f2d7a0", width: 1.5 },
    river: { color: "#3d8bff", width: 2.5 },
    stream: { color: "#6fa8ff", width: 1 },
  };
  function featureStyle(properties) {
    return FEATURE_STYLE[properties.class || properties.kind] || { color: "#ffffff", width: 1 };
  }
  function featureLabel(properties) {
    if (properties.name) return properties.name;
    return properties.kind === "bridge" ? "bridge" : "";
  }

  // Latitude/longitude and MGRS (mgrs-grid.js), as every viewer shows them.
  function formatCoordinates(lon, lat, zoom) {
    return window.SynthGrid
      ? SynthGrid.readout(lon, lat, zoom)
      : `${lat.toFixed(5)}°, ${lon.toFixed(5)}°  ·  z${zoom}`;
  }

  // One look for the vector tiles (vector.json layers) where the library draws them itself
  // (Leaflet, OpenLayers, and MapLibre's overlay on the imagery): by layer, then kind/class.
  const MAP_BACKGROUND = "#f1eee3";
  const VECTOR_STYLE = {
    landcover: {
      forest: { fill: "#b9d3a0" }, cropland: { fill: "#f1ecc6" }, grassland: { fill: "#e1ebc2" },
      bare: { fill: "#e6dcc6" }, urban: { fill: "#dad1cb" }, wetland: { fill: "#c9e1d6" },
      "*": { fill: "#e8e6d8" },
    },
    water: { "*": { fill: "#9ec9ec", color: "#6fa3d0", width: 0.8 } },
    contour: { "*": { color: "#b4895a", width: 0.6 }, index: { color: "#9a6d3c", width: 1.3 } },
    waterway: { river: { color: "#3f86d6", width: 2.4 }, "*": { color: "#6fa8e8", width: 1.1 } },
    road: {
      main: { color: "#e0503a", width: 3, casing: "#8c2a1c" },
      minor: { color: "#ffffff", width: 1.8, casing: "#777777" },
      track: { color: "#8a6b47", width: 1.1, dash: [4, 3] },
      "*": { color: "#ffffff", width: 1.2 },
    },
    bridge: { "*": { color: "#333333", width: 3.4 } },
    place: { "*": { fill: "#ffffff", color: "#222222", width: 1, radius: 3 } },
  };
  // The layers drawn over imagery (the map mode draws all of VECTOR_STYLE's).
  const OVERLAY_LAYERS = ["contour", "waterway", "road", "bridge", "place"];
  function vectorStyle(layer, properties) {
    const styles = VECTOR_STYLE[layer] || {};
    if (layer === "contour") return Number(properties.index) === 1 ? styles.index : styles["*"];
    if (layer === "place") {
      const big = ["city", "town"].includes(properties.kind);
      return { ...styles["*"], radius: big ? 5 : 3 };
    }
    return styles[properties.kind || properties.class] || styles["*"] || { color: "#fff", width: 1 };
  }

  // A panel of layer switches (OpenLayers, MapLibre; Leaflet has its own layers control):
  // entries {id, label, group?, checked?, onChange(checked)}; an entry with a group is a
  // radio button of that group. Returns the panel element.
  function layerPanel(entries) {
    const panel = document.createElement("div");
    panel.className = "synthtiles-layers";
    for (const entry of entries) {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = entry.group ? "radio" : "checkbox";
      if (entry.group) input.name = entry.group;
      input.id = entry.id;
      input.checked = Boolean(entry.checked);
      input.addEventListener("change", () => entry.onChange(input.checked));
      label.append(input, ` ${entry.label}`);
      panel.append(label);
    }
    document.body.append(panel);
    return panel;
  }

  return {
    flag, layerPanel, tilejson, tileUrl, load, layoutTemplate, features, featureStyle, featureLabel,
    formatCoordinates, planLayers, vectorStyle, VECTOR_STYLE, OVERLAY_LAYERS, MAP_BACKGROUND,
  };
})();
