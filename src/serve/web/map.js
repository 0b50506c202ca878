// The map page of one job (/map/{id}): its outputs as Leaflet layers over the scene itself (no
// basemap, nothing from outside this server), with toggles, opacity, legend, areas, downloads.
'use strict';

const $ = (id) => document.getElementById(id);
const jobId = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() || '');

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function setStatus(text, isError) {
  $('status').textContent = text;
  $('status').className = isError ? 'status error' : 'status';
}

async function getJson(url) {
  const r = await fetch(url, { headers: { Accept: 'application/json' } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((body.error && body.error.message) || ('HTTP ' + r.status));
  return body;
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

function km2(v) {
  return (typeof v === 'number') ? v.toFixed(v < 10 ? 3 : 1) + ' km²' : '–';
}

function bytes(n) {
  if (typeof n !== 'number') return '';
  return n < 1048576 ? (n / 1024).toFixed(0) + ' KiB' : (n / 1048576).toFixed(1) + ' MiB';
}

// Waits for the job to finish (it may still be queued or running when the page opens).
async function finishedJob() {
  for (;;) {
    const job = await getJson('/v1/jobs/' + encodeURIComponent(jobId));
    if (job.status === 'done') return job;
    if (job.status === 'failed') throw new Error('the job failed: ' + (job.error ? job.error.message : 'unknown error'));
    const p = job.progress || {};
    setStatus('Job ' + job.status + (p.stage ? ' (' + p.stage + ' ' + Math.round(100 * (p.fraction || 0)) + '%)' : '') + '…');
    await sleep(2000);
  }
}

function addAreas(info) {
  const a = info.areas || {};
  const rules = a.rules || {};
  const t = $('areas');
  const row = (label, value) => {
    const tr = el('tr');
    tr.appendChild(el('td', label));
    tr.appendChild(el('td', value, 'v'));
    t.appendChild(tr);
  };
  if (a.flood_km2 !== undefined) {
    row('flooded (p ≥ ' + info.threshold.toFixed(2) + ')', km2(a.flood_km2));
    row('band: likely (p ≥ ' + (rules.likely_p || 0.8).toFixed(2) + ')', km2(a.likely_km2));
    row('band: possible (p ≥ ' + (rules.possible_p || 0.2).toFixed(2) + ')', km2(a.possible_km2));
  }
  if (a.flood_water_km2 !== undefined) row('flood water (new)', km2(a.flood_water_km2));
  if (a.permanent_water_km2 !== undefined) row('permanent water', km2(a.permanent_water_km2));
  if (a.confidence) row('confidence', a.confidence);
}

function addLegend(info) {
  for (const r of info.legend) {
    const li = el('li');
    const sw = el('span', null, r.gradient ? 'swatch ramp' : 'swatch');
    const fill = el('span');
    if (r.gradient) fill.style.background = 'linear-gradient(to right, ' + r.gradient.join(', ') + ')';
    else { fill.style.background = r.color; fill.style.opacity = r.alpha; }
    sw.appendChild(fill);
    li.appendChild(sw);
    li.appendChild(el('span', r.label));
    $('legend').appendChild(li);
  }
}

function addDownloads(info) {
  for (const d of info.downloads) {
    const li = el('li');
    const a = el('a', d.label);
    a.href = d.url;
    a.download = d.file;
    li.appendChild(a);
    li.appendChild(el('span', ' ' + d.file + (d.bytes ? ' · ' + bytes(d.bytes) : ''), 'size'));
    $('downloads').appendChild(li);
  }
}

// A row with a checkbox and an opacity slider for one map layer.
function addLayerControl(map, title, layer, on, setOpacity) {
  const row = el('div', null, 'layer');
  const label = el('label');
  const box = el('input');
  box.type = 'checkbox';
  box.checked = on;
  label.appendChild(box);
  label.appendChild(document.createTextNode(' ' + title));
  const range = el('input');
  range.type = 'range';
  range.min = 0; range.max = 100; range.value = 100;
  range.title = 'opacity';
  box.addEventListener('change', () => (box.checked ? layer.addTo(map) : map.removeLayer(layer)));
  range.addEventListener('input', () => setOpacity(range.value / 100));
  row.appendChild(label);
  row.appendChild(range);
  $('layers').appendChild(row);
  if (on) layer.addTo(map);
}

function popupFor(props) {
  const box = el('div');
  box.appendChild(el('strong', 'Flood polygon ' + (props.id !== undefined ? '#' + props.id : '')));
  const m2 = props.area_m2;
  box.appendChild(el('div', 'area: ' + (typeof m2 === 'number' ? (m2 / 1e6).toFixed(4) + ' km² (' + Math.round(m2) + ' m²)' : '–')));
  box.appendChild(el('div', 'mean probability: ' + (typeof props.mean_proba === 'number' ? props.mean_proba.toFixed(2) : '–')));
  box.appendChild(el('div', 'class: ' + (props.class ? props.class.replace('_', ' ') : 'flood')));
  return box;
}

async function addPolygons(map, info) {
  if (!info.polygons_url) return;
  const data = await getJson(info.polygons_url);
  const colours = info.polygon_colors;
  let opacity = 1;
  const style = (f) => ({
    color: colours[(f && f.properties && f.properties.class) || 'flood'] || colours.flood,
    weight: 1.5, opacity: opacity, fillOpacity: 0.08 * opacity,
  });
  const layer = L.geoJSON(data, { style, onEachFeature: (f, l) => l.bindPopup(() => popupFor(f.properties || {})) });
  addLayerControl(map, 'Flood polygons (click one)', layer, true, (o) => { opacity = o; layer.setStyle(style); });
}

// A tile the server refused while busy (503) is asked for again, at most 3 times, later each
// time; a tile off the scene (204) fails the same way and costs the server no render.
function retryFailedTiles(layer) {
  layer.on('tileerror', (e) => {
    const tile = e.tile;
    const n = Number(tile.dataset.retries || 0);
    if (n >= 3) return;
    tile.dataset.retries = String(n + 1);
    setTimeout(() => { tile.src = layer.getTileUrl(e.coords) + '?retry=' + (n + 1); }, 1000 * (n + 1));
  });
}

function buildMap(info) {
  const map = L.map('map', { maxZoom: 19, minZoom: 2, attributionControl: false, zoomSnap: 0.5 });
  const b = info.bounds;
  const bounds = b ? L.latLngBounds([b[1], b[0]], [b[3], b[2]]) : null;
  if (bounds) map.fitBounds(bounds); else map.setView([0, 0], 2);
  L.control.scale({ imperial: false }).addTo(map);
  info.layers.forEach((l, i) => {
    const layer = L.tileLayer(l.url, { tileSize: 256, maxZoom: 19, bounds: bounds || undefined, zIndex: i + 1, opacity: l.opacity });
    retryFailedTiles(layer);
    addLayerControl(map, l.title, layer, l.default_on, (o) => layer.setOpacity(o));
  });
  return map;
}

async function start() {
  if (typeof L === 'undefined') {
    setStatus('The map library (Leaflet) is not installed on this server: install the Debian package ' +
              'libjs-leaflet (scripts/install_deps.sh) or start drshym serve with --leaflet-dir.', true);
    return;
  }
  try {
    await finishedJob();
    const info = await getJson('/v1/jobs/' + encodeURIComponent(jobId) + '/map');
    $('caption').textContent = info.caption;
    const name = (info.image_uri || '').split('/').pop();
    setStatus(name ? 'Scene ' + name : '');
    addAreas(info);
    addLegend(info);
    addDownloads(info);
    const map = buildMap(info);
    await addPolygons(map, info);
  } catch (e) {
    setStatus('Cannot show this job: ' + e.message, true);
  }
}

start();
