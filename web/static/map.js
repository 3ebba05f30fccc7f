// gridkit's map page: every layer is a vector tile source served by
// gridkit-server (TileJSON at /tiles/<layer>.json), styled here. Geometry
// only ever arrives as tiles; a click fetches one feature's attributes.
'use strict';

const ORIGIN = window.location.origin;
const TIER_COLORS = ['match', ['get', 'tier'],
  'critical', '#d7301f', 'elevated', '#fc8d59', 'moderate', '#fdcc8a', '#91bfdb'];
// Layers that carry iso_id and so follow the ISO selector.
const ISO_LAYERS = ['zones', 'transmission_lines', 'substations', 'pnodes', 'data_centers'];
const CLICKABLE = ['pnode-clusters', 'pnode-points', 'dc-clusters', 'dc-points', 'lines', 'substations', 'zones-fill'];

const status = (text) => { document.getElementById('status').textContent = text; };

const map = new maplibregl.Map({
  container: 'map',
  center: [-95, 38.5],
  zoom: 3.6,
  hash: true,
  attributionControl: false,
  style: {
    version: 8,
    sources: {},
    layers: [{ id: 'background', type: 'background', paint: { 'background-color': '#eef1f4' } }],
  },
});
map.addControl(new maplibregl.NavigationControl(), 'top-right');

function tileSource(layer) {
  return { type: 'vector', url: `${ORIGIN}/tiles/${layer}.json`, promoteId: undefined };
}

function addLayers(available) {
  const has = (l) => available.includes(l);
  for (const l of ['zones', 'isos', 'transmission_lines', 'substations', 'data_centers', 'pnodes']) {
    if (has(l)) map.addSource(l, tileSource(l));
  }
  if (has('zones')) {
    // Zones by congestion level: uncongested, moderate, congested.
    map.addLayer({ id: 'zones-fill', type: 'fill', source: 'zones', 'source-layer': 'zones', paint: {
      'fill-color': ['step', ['get', 'congestion_level'], '#c7e9c0', 0.2, '#fee391', 0.5, '#fc9272'],
      'fill-opacity': 0.45 } });
    map.addLayer({ id: 'zones-line', type: 'line', source: 'zones', 'source-layer': 'zones',
      paint: { 'line-color': '#999', 'line-width': 0.5 } });
  }
  if (has('isos')) {
    map.addLayer({ id: 'isos-line', type: 'line', source: 'isos', 'source-layer': 'isos',
      paint: { 'line-color': '#333', 'line-width': 1.5 } });
  }
  if (has('transmission_lines')) {
    map.addLayer({ id: 'lines', type: 'line', source: 'transmission_lines', 'source-layer': 'transmission_lines', paint: {
      'line-color': ['step', ['get', 'voltage_kv'], '#777', 230, '#1f78b4', 345, '#ff7f00', 500, '#e31a1c'],
      'line-width': ['interpolate', ['linear'], ['get', 'voltage_kv'], 69, 0.6, 230, 1.2, 345, 1.8, 765, 3] } });
  }
  if (has('substations')) {
    map.addLayer({ id: 'substations', type: 'circle', source: 'substations', 'source-layer': 'substations',
      paint: { 'circle-radius': 2.5, 'circle-color': '#444' } });
  }
  if (has('data_centers')) {
    map.addLayer({ id: 'dc-clusters', type: 'circle', source: 'data_centers', 'source-layer': 'data_centers',
      filter: ['has', 'point_count'], paint: {
        'circle-color': '#c2a5cf', 'circle-stroke-color': '#7b3294', 'circle-stroke-width': 1,
        'circle-radius': ['step', ['get', 'point_count'], 9, 10, 13, 50, 17, 200, 22] } });
    map.addLayer({ id: 'dc-points', type: 'circle', source: 'data_centers', 'source-layer': 'data_centers',
      filter: ['!', ['has', 'point_count']], paint: {
        'circle-color': '#7b3294', 'circle-opacity': 0.8,
        'circle-radius': ['interpolate', ['linear'], ['sqrt', ['get', 'capacity_mw']], 0, 2, 10, 5, 30, 11] } });
  }
  if (has('pnodes')) {
    map.addLayer({ id: 'pnode-clusters', type: 'circle', source: 'pnodes', 'source-layer': 'pnodes',
      filter: ['has', 'point_count'], paint: {
        'circle-color': TIER_COLORS, 'circle-opacity': 0.85, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1,
        'circle-radius': ['step', ['get', 'point_count'], 10, 10, 14, 50, 18, 200, 24] } });
    map.addLayer({ id: 'pnode-points', type: 'circle', source: 'pnodes', 'source-layer': 'pnodes',
      filter: ['!', ['has', 'point_count']], paint: {
        'circle-color': TIER_COLORS, 'circle-radius': 4, 'circle-stroke-color': '#fff', 'circle-stroke-width': 0.5 } });
  }
  // Cluster counts as images drawn on demand (no glyph server needed).
  for (const [id, source] of [['dc-counts', 'data_centers'], ['pnode-counts', 'pnodes']]) {
    if (!has(source)) continue;
    map.addLayer({ id, type: 'symbol', source, 'source-layer': source, filter: ['has', 'point_count'],
      layout: { 'icon-image': ['concat', 'count:', ['to-string', ['get', 'point_count']]],
                'icon-allow-overlap': true, 'icon-ignore-placement': true } });
  }
}

// Draws "count:123" images the first time the style asks for them.
map.on('styleimagemissing', (e) => {
  if (!e.id.startsWith('count:')) return;
  const text = e.id.slice(6);
  const ratio = 2;
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d');
  ctx.font = `bold ${11 * ratio}px system-ui, sans-serif`;
  const width = Math.ceil(ctx.measureText(text).width) + 2 * ratio;
  canvas.width = width;
  canvas.height = 14 * ratio;
  ctx.font = `bold ${11 * ratio}px system-ui, sans-serif`;
  ctx.fillStyle = '#111';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText(text, width / 2, canvas.height / 2);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height);
  map.addImage(e.id, { width: canvas.width, height: canvas.height, data: data.data }, { pixelRatio: ratio });
});

function setIso(iso) {
  for (const layer of ISO_LAYERS) {
    const source = map.getSource(layer);
    if (!source) continue;
    const query = iso ? `?iso_id=${encodeURIComponent(iso)}` : '';
    source.setTiles([`${ORIGIN}/tiles/${layer}/{z}/{x}/{y}.mvt${query}`]);
  }
  status(iso ? `showing ${iso}` : 'showing all ISOs');
}

function showFeature(layer, data) {
  document.getElementById('feature').hidden = false;
  document.getElementById('feature-title').textContent = `${layer} #${data.id}`;
  const table = document.getElementById('feature-attributes');
  table.replaceChildren();
  const rows = Object.entries(data.attributes || {});
  rows.push(['position', `${data.longitude.toFixed(4)}, ${data.latitude.toFixed(4)}`]);
  for (const [k, v] of rows) {
    const tr = table.insertRow();
    tr.insertCell().textContent = k;
    tr.insertCell().textContent = v === null ? '' : String(v);
  }
  window.gridkit.lastFeature = data;
}

map.on('click', async (e) => {
  const present = CLICKABLE.filter((id) => map.getLayer(id));
  const hit = map.queryRenderedFeatures(e.point, { layers: present })[0];
  if (!hit) return;
  if (hit.properties.point_count !== undefined) {
    map.easeTo({ center: hit.geometry.coordinates, zoom: hit.properties.expansion_zoom });
    return;
  }
  const response = await fetch(`/api/layers/${encodeURIComponent(hit.sourceLayer)}/features/${hit.id}`);
  if (!response.ok) {
    status(`feature ${hit.id}: ${(await response.json()).error}`);
    return;
  }
  showFeature(hit.sourceLayer, await response.json());
});

for (const id of CLICKABLE) {
  map.on('mouseenter', id, () => { map.getCanvas().style.cursor = 'pointer'; });
  map.on('mouseleave', id, () => { map.getCanvas().style.cursor = ''; });
}

window.gridkit = {
  map,
  lastFeature: null,
  ready: new Promise((resolve, reject) => {
    map.on('load', async () => {
      try {
        const layers = await (await fetch('/api/layers')).json();
        addLayers(layers.map((l) => l.name));
        if (layers.some((l) => l.name === 'isos')) {
          const isos = await (await fetch('/api/layers/isos/bbox?west=-180&south=-85&east=180&north=85&limit=100')).json();
          const select = document.getElementById('iso');
          for (const iso of isos.items) {
            const o = document.createElement('option');
            o.value = iso.attributes.iso_id;
            o.textContent = `${iso.attributes.iso_id} — ${iso.attributes.name}`;
            select.appendChild(o);
          }
          select.addEventListener('change', () => setIso(select.value));
        }
        status(`${layers.length} layers`);
        resolve();
      } catch (err) {
        status(`could not load layers: ${err}`);
        reject(err);
      }
    });
  }),
};
