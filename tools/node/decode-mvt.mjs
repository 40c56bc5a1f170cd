// Decodes Mapbox Vector Tiles with @mapbox/vector-tile + pbf (independent of the Python
// encoder) and prints them as JSON: {layer: {extent, version, features: [{type,
// properties, geometry: [[[x, y], ...], ...]}]}}, one line per tile file given.
import { readFileSync } from "node:fs";
import { PbfReader } from "pbf";
import { VectorTile } from "@mapbox/vector-tile";

const TYPES = ["Unknown", "Point", "LineString", "Polygon"];

for (const path of process.argv.slice(2)) {
  const tile = new VectorTile(new PbfReader(readFileSync(path)));
  const out = {};
  for (const [name, layer] of Object.entries(tile.layers)) {
    const features = [];
    for (let i = 0; i < layer.length; i++) {
      const feature = layer.feature(i);
      features.push({
        type: TYPES[feature.type],
        properties: feature.properties,
        geometry: feature.loadGeometry().map((ring) => ring.map((p) => [p.x, p.y])),
      });
    }
    out[name] = { extent: layer.extent, version: layer.version, features };
  }
  console.log(JSON.stringify(out));
}
