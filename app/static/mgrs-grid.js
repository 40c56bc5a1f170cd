// Grid references for exercise planners, shared by every viewer: a readout of a position in
// latitude/longitude and MGRS, and the MGRS grid of a view (100 km / 10 km / 1 km squares) as
// GeoJSON that each map library draws itself. MGRS strings come from the vendored `mgrs`
// package (proj4js); the grid's lines are drawn in UTM of each zone the view touches and
// converted to lat/lon here, because that package does not export its UTM functions.
"use strict";
window.SynthGrid = (function () {
  // WGS84, UTM scale factor: the same constants and series (Snyder) as the mgrs package, so
  // a grid line and the readout of a point on it agree to well under a metre.
  const A = 6378137.0;
  const E2 = 0.00669438;
  const EP2 = E2 / (1 - E2);
  const K0 = 0.9996;
  const FALSE_EASTING = 500000;
  const SOUTH_FALSE_NORTHING = 10000000;
  const EARTH_CIRCUMFERENCE = 40075016.686;
  const RAD = Math.PI / 180;
  // MGRS is defined between 80°S and 84°N (UPS covers the poles: not drawn here).
  const MIN_LAT = -80;
  const MAX_LAT = 84;
  const SPACINGS = [1000, 10000, 100000];
  const MIN_LINE_PX = 24; // closer lines than this are clutter
  const MIN_LABEL_PX = 90; // a label needs a square about this wide
  const MAX_LINES = 150; // per direction and zone, for a far-pitched 3D view
  const SEGMENTS = 32; // vertices along a line: UTM lines are curves in lat/lon

  function zoneOf(lon) {
    return Math.min(60, Math.max(1, Math.floor((lon + 180) / 6) + 1));
  }
  function centralMeridian(zone) {
    return (zone - 1) * 6 - 180 + 3;
  }

  // lon/lat → [easting, signed northing] in a given zone (northing < 0 south of the equator).
  function toUtm(lon, lat, zone) {
    const phi = lat * RAD;
    const sin = Math.sin(phi);
    const cos = Math.cos(phi);
    const tan = Math.tan(phi);
    const n = A / Math.sqrt(1 - E2 * sin * sin);
    const t = tan * tan;
    const c = EP2 * cos * cos;
    const a = cos * (lon - centralMeridian(zone)) * RAD;
    const m = A * ((1 - E2 / 4 - (3 * E2 * E2) / 64 - (5 * E2 * E2 * E2) / 256) * phi -
      ((3 * E2) / 8 + (3 * E2 * E2) / 32 + (45 * E2 * E2 * E2) / 1024) * Math.sin(2 * phi) +
      ((15 * E2 * E2) / 256 + (45 * E2 * E2 * E2) / 1024) * Math.sin(4 * phi) -
      ((35 * E2 * E2 * E2) / 3072) * Math.sin(6 * phi));
    const easting = K0 * n * (a + ((1 - t + c) * a ** 3) / 6 +
      ((5 - 18 * t + t * t + 72 * c - 58 * EP2) * a ** 5) / 120) + FALSE_EASTING;
    const northing = K0 * (m + n * tan * ((a * a) / 2 +
      ((5 - t + 9 * c + 4 * c * c) * a ** 4) / 24 +
      ((61 - 58 * t + t * t + 600 * c - 330 * EP2) * a ** 6) / 720));
    return [easting, northing];
  }

  // [easting, signed northing] in a zone → [lon, lat].
  function fromUtm(easting, northing, zone) {
    const e1 = (1 - Math.sqrt(1 - E2)) / (1 + Math.sqrt(1 - E2));
    const x = easting - FALSE_EASTING;
    const mu = northing / K0 / (A * (1 - E2 / 4 - (3 * E2 * E2) / 64 - (5 * E2 * E2 * E2) / 256));
    const phi1 = mu + ((3 * e1) / 2 - (27 * e1 ** 3) / 32) * Math.sin(2 * mu) +
      ((21 * e1 * e1) / 16 - (55 * e1 ** 4) / 32) * Math.sin(4 * mu) +
      ((151 * e1 ** 3) / 96) * Math.sin(6 * mu);
    const sin = Math.sin(phi1);
    const cos = Math.cos(phi1);
    const tan = Math.tan(phi1);
    const n1 = A / Math.sqrt(1 - E2 * sin * sin);
    const t1 = tan * tan;
    const c1 = EP2 * cos * cos;
    const r1 = (A * (1 - E2)) / Math.pow(1 - E2 * sin * sin, 1.5);
    const d = x / (n1 * K0);
    const lat = phi1 - ((n1 * tan) / r1) * ((d * d) / 2 -
      ((5 + 3 * t1 + 10 * c1 - 4 * c1 * c1 - 9 * EP2) * d ** 4) / 24 +
      ((61 + 90 * t1 + 298 * c1 + 45 * t1 * t1 - 252 * EP2 - 3 * c1 * c1) * d ** 6) / 720);
    const lon = (d - ((1 + 2 * t1 + c1) * d ** 3) / 6 +
      ((5 - 2 * c1 + 28 * t1 - 3 * c1 * c1 + 8 * EP2 + 24 * t1 * t1) * d ** 5) / 120) / cos;
    return [centralMeridian(zone) + lon / RAD, lat / RAD];
  }

  // "26M NT 00000 26251" (1 m), or null where MGRS is not defined (polar caps).
  function mgrsOf(lon, lat, digits = 5) {
    if (!window.mgrs || !(lat >= MIN_LAT && lat < MAX_LAT)) return null;
    const text = window.mgrs.forward([lon, lat], digits);
    const match = /^(\d{1,2}[A-Z])([A-Z]{2})(\d*)$/.exec(text);
    if (!match) return text;
    const half = match[3].length / 2;
    const numbers = half ? ` ${match[3].slice(0, half)} ${match[3].slice(half)}` : "";
    return `${match[1]} ${match[2]}${numbers}`;
  }

  // The one readout line of all viewers: position in degrees and as a grid reference.
  function readout(lon, lat, zoom) {
    const reference = mgrsOf(lon, lat);
    const where = `${lat.toFixed(5)}°, ${lon.toFixed(5)}°`;
    return `${where}${reference ? `  ·  MGRS ${reference}` : ""}  ·  z${zoom}`;
  }

  // Ground metres per screen pixel at a latitude, for a library whose zoom 0 is one tile of
  // tileSize pixels (256: Leaflet, OpenLayers; 512: MapLibre).
  function metresPerPixel(lat, zoom, tileSize = 256) {
    return (EARTH_CIRCUMFERENCE * Math.cos(lat * RAD)) / (tileSize * 2 ** zoom);
  }

  // Cuts a lat/lon polyline to the zone's longitudes, interpolating where it leaves them.
  function clipToZone(points, west, east) {
    const parts = [];
    let part = [];
    const inside = (p) => p[0] >= west && p[0] <= east;
    const crossing = (p, q) => {
      const bound = (inside(p) ? q[0] : p[0]) < west ? west : east;
      const t = (bound - p[0]) / (q[0] - p[0]);
      return [bound, p[1] + t * (q[1] - p[1])];
    };
    points.forEach((p, i) => {
      const previous = points[i - 1];
      if (inside(p)) {
        if (previous && !inside(previous)) part.push(crossing(previous, p));
        part.push(p);
      } else if (previous && inside(previous)) {
        part.push(crossing(previous, p));
        parts.push(part);
        part = [];
      }
    });
    if (part.length > 1) parts.push(part);
    return parts.filter((p) => p.length > 1);
  }

  // The grid of one zone over a view: lines every `spacing` metres (those on a 10× coarser
  // line marked major) and, with labelSpacing, one label per square of that size.
  function zoneGrid(zone, view, spacing, labelSpacing, features) {
    const cm = centralMeridian(zone);
    const west = Math.max(view.west, cm - 3);
    const east = Math.min(view.east, cm + 3);
    const south = Math.max(view.south, MIN_LAT);
    const north = Math.min(view.north, MAX_LAT);
    if (west >= east || south >= north) return;
    // The view's extent in this zone's UTM, from points along its edges and inside.
    let [minE, minN, maxE, maxN] = [Infinity, Infinity, -Infinity, -Infinity];
    for (let i = 0; i <= 8; i++) {
      for (let j = 0; j <= 8; j++) {
        const [e, n] = toUtm(west + ((east - west) * i) / 8, south + ((north - south) * j) / 8, zone);
        minE = Math.min(minE, e); maxE = Math.max(maxE, e);
        minN = Math.min(minN, n); maxN = Math.max(maxN, n);
      }
    }
    while ((maxE - minE) / spacing > MAX_LINES || (maxN - minN) / spacing > MAX_LINES) {
      spacing *= 10;
    }
    const e0 = Math.floor(minE / spacing) * spacing;
    const n0 = Math.floor(minN / spacing) * spacing;
    const e1 = Math.ceil(maxE / spacing) * spacing;
    const n1 = Math.ceil(maxN / spacing) * spacing;
    const line = (fixed, along, from, to) => {
      const points = [];
      for (let k = 0; k <= SEGMENTS; k++) {
        const v = from + ((to - from) * k) / SEGMENTS;
        points.push(along === "n" ? fromUtm(fixed, v, zone) : fromUtm(v, fixed, zone));
      }
      return points;
    };
    const add = (points, value) => {
      const major = Math.round(value / (spacing * 10)) * spacing * 10 === Math.round(value);
      for (const part of clipToZone(points, cm - 3, cm + 3)) {
        features.push({
          type: "Feature",
          properties: { kind: "line", zone, spacing, major },
          geometry: { type: "LineString", coordinates: part },
        });
      }
    };
    for (let e = e0; e <= e1; e += spacing) add(line(e, "n", n0, n1), e);
    for (let n = n0; n <= n1; n += spacing) add(line(n, "e", e0, e1), n);
    if (!labelSpacing || labelSpacing < spacing) return;
    const digits = Math.round(Math.log10(100000 / labelSpacing));
    for (let e = Math.floor(minE / labelSpacing) * labelSpacing; e < maxE; e += labelSpacing) {
      for (let n = Math.floor(minN / labelSpacing) * labelSpacing; n < maxN; n += labelSpacing) {
        const [lon, lat] = fromUtm(e + labelSpacing / 2, n + labelSpacing / 2, zone);
        if (lon < west || lon > east || lat < south || lat > north) continue;
        const reference = mgrsOf(lon, lat, digits);
        if (!reference) continue;
        features.push({
          type: "Feature",
          // The square's letters and digits, without the zone and band ("NT 01 26").
          properties: { kind: "label", label: reference.replace(/^\d+[A-Z] /, "") },
          geometry: { type: "Point", coordinates: [lon, lat] },
        });
      }
    }
  }

  // The MGRS grid over a view {west, south, east, north} (degrees) at a ground resolution of
  // metresPerPx: the finest of 1 km / 10 km / 100 km squares that stays readable, or an
  // empty collection when even 100 km squares would be too close together.
  function grid(view, metresPerPx) {
    const features = [];
    const spacing = SPACINGS.find((s) => s / metresPerPx >= MIN_LINE_PX);
    if (spacing) {
      const labelSpacing = SPACINGS.find((s) => s >= spacing && s / metresPerPx >= MIN_LABEL_PX);
      const first = zoneOf(Math.max(view.west, -180));
      const last = zoneOf(Math.min(view.east, 180 - 1e-9));
      if (last - first <= 3) {
        for (let zone = first; zone <= last; zone++) {
          zoneGrid(zone, view, spacing, labelSpacing, features);
        }
      }
    }
    return { type: "FeatureCollection", features };
  }

  // One look for the grid in every library.
  const STYLE = {
    color: "#ffe14d",
    halo: "rgba(0, 0, 0, 0.55)",
    width: 1,
    majorWidth: 2,
    font: "bold 11px system-ui, sans-serif",
  };

  return { mgrs: mgrsOf, readout, metresPerPixel, grid, toUtm, fromUtm, zoneOf, STYLE };
})();
