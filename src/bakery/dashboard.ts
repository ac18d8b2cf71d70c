/**
 * The dashboard page served at `/`: one self-contained HTML document (no build step). It asks for a
 * static token once and keeps it in session storage, lists bakes in progress with a live progress bar
 * fed by each bake's event stream, the recent bakes with outcome and duration, and the stats.
 * EventSource cannot send an Authorization header, so the page reads the event stream with fetch.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ovenproof bakery</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1f2328; background: #fff; }
  h1 { font-size: 1.3rem; margin: 0 0 1rem; }
  h2 { font-size: 1rem; margin: 1.5rem 0 .5rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #d0d7de; vertical-align: middle; }
  th { font-weight: 600; background: #f6f8fa; }
  code { font-size: 12px; }
  .bar { width: 220px; height: 12px; background: #eaeef2; border-radius: 6px; overflow: hidden; display: inline-block; vertical-align: middle; }
  .bar > div { height: 100%; background: #1f883d; transition: width .3s; }
  .succeeded { color: #1a7f37; } .failed { color: #cf222e; } .cancelled { color: #9a6700; } .running, .queued { color: #0969da; }
  .stats { display: flex; gap: 2rem; flex-wrap: wrap; }
  .stat b { display: block; font-size: 1.4rem; }
  #login { display: none; margin-bottom: 1rem; }
  #error { color: #cf222e; }
</style>
</head>
<body>
<h1>ovenproof bakery</h1>
<form id="login"><label>Bakery token <input id="token" type="password" autocomplete="off" size="50"></label> <button>Use token</button></form>
<div id="error"></div>
<section class="stats" id="stats"></section>
<h2>In progress</h2>
<table id="active"><thead><tr><th>Bake</th><th>Requested by</th><th>Step</th><th>Progress</th></tr></thead><tbody></tbody></table>
<h2>Recent bakes</h2>
<table id="recent"><thead><tr><th>Bake</th><th>Outcome</th><th>Image</th><th>Requested by</th><th>Duration</th><th>Finished</th></tr></thead><tbody></tbody></table>
<h2>Bakeries</h2>
<table id="bakeries"><thead><tr><th>Bakery</th><th>Region</th><th>Provider</th><th>Address</th><th>Last heartbeat</th><th>Status</th></tr></thead><tbody></tbody></table>
<h2>Step timings (p50 / p95)</h2>
<table id="steps"><thead><tr><th>Step</th><th>p50</th><th>p95</th><th>Bakes</th></tr></thead><tbody></tbody></table>
<script>
(() => {
  const KEY = 'ovenproof-bakery-token';
  const streams = new Map();
  const $ = (sel) => document.querySelector(sel);
  const text = (value) => document.createTextNode(value == null ? '' : String(value));
  const cell = (row, value, cls) => { const td = row.insertCell(); if (cls) td.className = cls; td.append(value instanceof Node ? value : text(value)); return td; };
  const seconds = (ms) => ms == null ? '' : (ms / 1000).toFixed(1) + ' s';
  const token = () => sessionStorage.getItem(KEY);
  const showLogin = (message) => { $('#login').style.display = 'block'; $('#error').textContent = message || ''; };

  $('#login').addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $('#token').value.trim());
    $('#login').style.display = 'none';
    $('#error').textContent = '';
    refresh();
  });

  async function api(path) {
    const response = await fetch(path, { headers: { authorization: 'Bearer ' + token() } });
    if (response.status === 401 || response.status === 403) { sessionStorage.removeItem(KEY); throw Object.assign(new Error('token refused'), { auth: true }); }
    if (!response.ok) throw new Error(path + ': HTTP ' + response.status);
    return response.json();
  }

  function progressBar(id, fraction) {
    const outer = document.createElement('span'); outer.className = 'bar';
    const inner = document.createElement('div'); inner.style.width = Math.round(fraction * 100) + '%';
    inner.dataset.bake = id; outer.append(inner);
    const label = document.createElement('span'); label.className = 'pct'; label.dataset.bake = id;
    label.textContent = ' ' + Math.round(fraction * 100) + '%';
    const wrap = document.createElement('span'); wrap.append(outer, label); return wrap;
  }

  function applyProgress(id, step, fraction) {
    for (const el of document.querySelectorAll('.bar > div[data-bake="' + id + '"]')) el.style.width = Math.round(fraction * 100) + '%';
    for (const el of document.querySelectorAll('.pct[data-bake="' + id + '"]')) el.textContent = ' ' + Math.round(fraction * 100) + '%';
    for (const el of document.querySelectorAll('.step[data-bake="' + id + '"]')) el.textContent = step || '';
  }

  // Reads one bake's Server-Sent Events with fetch (to send the token) and moves its progress bar.
  async function follow(id) {
    if (streams.has(id)) return;
    const controller = new AbortController();
    streams.set(id, controller);
    try {
      const response = await fetch('/v1/bakes/' + id + '/events', { headers: { authorization: 'Bearer ' + token() }, signal: controller.signal });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf('\\n\\n')) >= 0) {
          const frame = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
          let type = 'message'; let data = '';
          for (const line of frame.split('\\n')) {
            if (line.startsWith('event: ')) type = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (!data) continue;
          const payload = JSON.parse(data);
          if (type === 'progress' || type === 'step') applyProgress(id, payload.step, payload.progress);
          if (type === 'done') { streams.delete(id); refresh(); return; }
        }
      }
    } catch (error) {
      // A dropped stream is picked up again by the next refresh.
    }
    streams.delete(id);
  }

  function render(bakes, stats) {
    const active = $('#active tbody'); active.replaceChildren();
    const recent = $('#recent tbody'); recent.replaceChildren();
    for (const bake of bakes) {
      if (bake.state === 'queued' || bake.state === 'running') {
        const row = active.insertRow(); row.dataset.bake = bake.id; row.className = 'bake-active';
        cell(row, bake.id); cell(row, bake.requestedBy);
        const step = document.createElement('span'); step.className = 'step'; step.dataset.bake = bake.id; step.textContent = bake.step || bake.state;
        cell(row, step); cell(row, progressBar(bake.id, bake.progress));
        follow(bake.id);
      } else {
        const row = recent.insertRow(); row.dataset.bake = bake.id; row.className = 'bake-done';
        cell(row, bake.id);
        cell(row, bake.state + (bake.cacheHit ? ' (cache hit)' : ''), bake.state);
        cell(row, bake.image ? bake.image.id : (bake.error ? bake.error.message : ''));
        cell(row, bake.requestedBy);
        cell(row, bake.startedAt && bake.finishedAt ? seconds(Date.parse(bake.finishedAt) - Date.parse(bake.startedAt)) : '');
        cell(row, bake.finishedAt ? new Date(bake.finishedAt).toLocaleTimeString() : '');
      }
    }
    const box = $('#stats'); box.replaceChildren();
    const stat = (label, value) => { const div = document.createElement('div'); div.className = 'stat'; const b = document.createElement('b'); b.textContent = value; div.append(b, text(label)); box.append(div); };
    stat('running', stats.countsByState.running); stat('queued', stats.queueDepth);
    stat('succeeded', stats.countsByState.succeeded); stat('failed', stats.countsByState.failed);
    stat('cache-hit rate', stats.cacheHitRate == null ? 'n/a' : Math.round(stats.cacheHitRate * 100) + '%');
    const steps = $('#steps tbody'); steps.replaceChildren();
    for (const [name, t] of Object.entries(stats.stepDurationsMs)) {
      const row = steps.insertRow(); cell(row, name); cell(row, seconds(t.p50)); cell(row, seconds(t.p95)); cell(row, t.count);
    }
  }

  // Every bakery sharing this one's job store (a fleet), or just this one.
  function renderBakeries(bakeries) {
    const body = $('#bakeries tbody'); body.replaceChildren();
    for (const b of bakeries) {
      const row = body.insertRow(); row.className = 'bakery'; row.dataset.bakery = b.id;
      cell(row, b.id); cell(row, b.region || 'local'); cell(row, b.provider); cell(row, b.url);
      cell(row, new Date(b.heartbeatAt).toLocaleTimeString()); cell(row, b.live ? 'live' : 'gone', b.live ? 'succeeded' : 'failed');
    }
  }

  async function refresh() {
    if (!token()) return showLogin();
    try {
      const [list, stats, fleet] = await Promise.all([api('/v1/bakes?limit=30'), api('/v1/stats'), api('/v1/bakeries')]);
      render(list.bakes, stats);
      renderBakeries(fleet.bakeries);
    } catch (error) {
      if (error.auth) showLogin('The bakery refused this token.'); else $('#error').textContent = error.message;
    }
  }

  // New bakes appear within two seconds; a running one then moves with its own event stream.
  refresh();
  setInterval(refresh, 2000);
})();
</script>
</body>
</html>
`;
