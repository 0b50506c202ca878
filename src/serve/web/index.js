// The job list page (/): submit a scene from the server's input roots and watch the jobs run.
// Only same-origin requests (the page's Content-Security-Policy allows nothing else).
'use strict';

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

async function getJson(url) {
  const r = await fetch(url, { headers: { Accept: 'application/json' } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((body.error && body.error.message) || ('HTTP ' + r.status));
  return body;
}

function option(value, text) {
  const o = el('option', text);
  o.value = value;
  return o;
}

async function loadInputs() {
  try {
    const inputs = await getJson('/v1/inputs');
    for (const f of inputs.files) {
      const label = f.name + '  (' + (f.bytes / 1048576).toFixed(1) + ' MiB)';
      $('image').appendChild(option(f.uri, label));
      $('before').appendChild(option(f.uri, label));
      $('dem').appendChild(option(f.uri, label));
    }
    if (inputs.files.length === 0) $('inputs-note').textContent = 'No GeoTIFF under the server\'s --input-root folders yet.';
    else if (inputs.truncated) $('inputs-note').textContent = 'Showing the first ' + inputs.files.length + ' files only.';
  } catch (e) {
    $('inputs-note').textContent = 'Cannot list the input files: ' + e.message;
  }
  try {
    const models = await getJson('/v1/models');
    for (const m of models.models) $('model').appendChild(option(m.name, m.name + ' (' + m.bands.join('+') + ')'));
  } catch (e) { /* the default choice still works */ }
}

function requestBody() {
  const options = { tile: Number($('tile').value), overlap: Number($('overlap').value) };
  if ($('threshold').value !== '') options.threshold = Number($('threshold').value);
  if ($('model').value !== '') options.model = $('model').value;
  if ($('before').value !== '') options.before_uri = $('before').value;
  if ($('dem').value !== '') options.dem_uri = $('dem').value;
  return { domain: 'flood_sar', image_uri: $('image').value, options };
}

async function submit(ev) {
  ev.preventDefault();
  const status = $('submit-status');
  status.className = 'status';
  status.textContent = 'Submitting…';
  try {
    const r = await fetch('/v1/jobs', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(requestBody()) });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error((body.error && body.error.message) || ('HTTP ' + r.status));
    status.textContent = 'Queued as job ' + body.id + '.';
    refreshJobs();
  } catch (e) {
    status.className = 'status error';
    status.textContent = 'Not submitted: ' + e.message;
  }
}

function sceneName(uri) {
  return (uri || '').split('/').pop();
}

function progressCell(job) {
  const td = el('td');
  const p = job.progress || {};
  if (job.status === 'running') {
    const pct = Math.round(100 * (p.fraction || 0));
    td.appendChild(el('div', (p.stage === 'model' ? 'model: tiles ' : (p.stage || 'starting') + ' ') + pct + '%'));
    const bar = el('div', null, 'bar');
    const fill = el('div');
    fill.style.width = pct + '%';
    bar.appendChild(fill);
    td.appendChild(bar);
  } else if (job.status === 'done' && job.summary) {
    td.textContent = job.summary.tiles + ' tiles';
  } else if (job.status === 'queued') {
    td.textContent = 'waiting';
  }
  return td;
}

function resultCell(job) {
  const td = el('td');
  if (job.status === 'done') {
    const a = el('a', 'open map');
    a.href = '/map/' + encodeURIComponent(job.id);
    td.appendChild(a);
    const km2 = job.summary && job.summary.flood_km2;
    if (typeof km2 === 'number') td.appendChild(el('div', km2.toFixed(2) + ' km² flooded', 'note'));
  } else if (job.status === 'failed' && job.error) {
    td.appendChild(el('div', job.error.message, 'st-failed'));
  }
  return td;
}

function jobRow(job) {
  const tr = el('tr');
  tr.appendChild(el('td', (job.created_at || '').replace('T', ' ').replace(/\.\d+Z?$|Z$/, '')));
  const scene = el('td', sceneName(job.image_uri));
  scene.title = job.image_uri || '';
  tr.appendChild(scene);
  tr.appendChild(el('td', job.status, 'st-' + job.status));
  tr.appendChild(progressCell(job));
  tr.appendChild(resultCell(job));
  return tr;
}

async function refreshJobs() {
  try {
    const list = await getJson('/v1/jobs?limit=50');
    const body = document.querySelector('#jobs tbody');
    body.replaceChildren(...list.jobs.map(jobRow));
    if (list.jobs.length === 0) {
      const tr = el('tr');
      const td = el('td', 'No jobs yet.', 'note');
      td.colSpan = 5;
      tr.appendChild(td);
      body.appendChild(tr);
    }
  } catch (e) { /* the next poll tries again */ }
}

$('submit').addEventListener('submit', submit);
loadInputs();
refreshJobs();
setInterval(refreshJobs, 2000);
