// supercluster on the same points and tiles as bench/cluster.py.
// Usage: node bench.mjs POINTS.f64 TILES.json RADIUS MAX_ZOOM REPS
// POINTS.f64: lon, lat pairs as little-endian float64. Prints one JSON object.
import fs from 'node:fs';
import Supercluster from 'supercluster';

const [pointsFile, tilesFile, radius, maxZoom, reps] = process.argv.slice(2);
const buf = fs.readFileSync(pointsFile);
const coords = new Float64Array(buf.buffer, buf.byteOffset, buf.length / 8);
const points = [];
for (let i = 0; i < coords.length; i += 2) {
    points.push({type: 'Feature', properties: null, geometry: {type: 'Point', coordinates: [coords[i], coords[i + 1]]}});
}

const t0 = performance.now();
const index = new Supercluster({radius: Number(radius), extent: 512, maxZoom: Number(maxZoom), minPoints: 2}).load(points);
const buildMs = performance.now() - t0;

const tiles = JSON.parse(fs.readFileSync(tilesFile, 'utf8'));
const out = [];
for (const [z, x, y] of tiles) {
    const times = [];
    let tile = null;
    for (let r = 0; r < Number(reps); r++) {
        const s = performance.now();
        tile = index.getTile(z, x, y);
        times.push(performance.now() - s);
    }
    // Count what lies in the tile proper (getTile adds a buffer).
    let features = 0, clusters = 0, counted = 0;
    for (const f of tile ? tile.features : []) {
        const [[px, py]] = f.geometry;
        if (px < 0 || py < 0 || px >= 512 || py >= 512) continue;
        features++;
        if (f.tags && f.tags.cluster) { clusters++; counted += f.tags.point_count; } else { counted++; }
    }
    out.push({z, x, y, times, features, clusters, counted});
}
console.log(JSON.stringify({points: points.length, build_ms: buildMs, max_rss_kb: process.resourceUsage().maxRSS, tiles: out}));
