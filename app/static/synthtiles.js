// Shared by both viewers: TileJSON lookup and a tile loader that shows the parent
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

  // The world's own tile template is the last entry; its layout layer sits beside it.
  function layoutTemplate(tj) {
    const worldTemplate = tj.tiles[tj.tiles.length - 1];
    return retemplate(worldTemplate, /\/\{z\}\/\{x\}\/\{y\}\.png$/, "/layout/{z}/{x}/{y}.png");
  }

  // The world plan's vector features (roads, rivers, lakes, places) beside the tiles.
  function featuresTemplate(tj) {
    const worldTemplate = tj.tiles[tj.tiles.length - 1];
    return retemplate(worldTemplate, /\/\{z\}\/\{x\}\/\{y\}\.png$/, "/features.geojson");
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

  function formatCoordinates(lon, lat, zoom) {
    return `${lat.toFixed(5)}°, ${lon.toFixed(5)}°  ·  z${zoom}`;
  }

  return {
    tilejson, tileUrl, load, layoutTemplate, features, featureStyle, featureLabel,
    formatCoordinates,
  };
})();
