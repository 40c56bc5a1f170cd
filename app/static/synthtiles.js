// Shared by both viewers: TileJSON lookup and a tile loader that shows the parent
// (upsampled) while a tile is still being generated, then swaps in the real tile.
"use strict";
window.SynthTiles = (function () {
  const PLACEHOLDER_HEADER = "X-Synthtiles-Placeholder";

  async function tilejson(url) {
    const response = await fetch(url);
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
    return worldTemplate.replace(/\/\{z\}\/\{x\}\/\{y\}\.png$/, "/layout/{z}/{x}/{y}.png");
  }

  function formatCoordinates(lon, lat, zoom) {
    return `${lat.toFixed(5)}°, ${lon.toFixed(5)}°  ·  z${zoom}`;
  }

  return { tilejson, tileUrl, load, layoutTemplate, formatCoordinates };
})();
