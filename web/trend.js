// airlock dashboard: the trend chart of one tag. Opened by clicking a tag
// row (app.js calls window.airlockTrend.open(tag)); drawn as inline SVG
// from the aggregate history query (avg line, min/max band, one bucket per
// ~1/600 of the range), so a year draws as fast as an hour. Times on the
// axis are local; the tooltip adds UTC. Empty buckets leave gaps. Short
// ranges refresh themselves. No libraries, nothing from the network but
// /api/v1/history.
//
// Stable hooks for tests: #trend (hidden when closed), .trend-range buttons
// (aria-pressed), svg.trend-svg, path.trend-line (data-points: buckets with
// a value), path.trend-band.
'use strict';

(function () {
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const TARGET_POINTS = 600;
  const HEIGHT = 280;
  const MARGIN = { left: 64, right: 16, top: 14, bottom: 30 };
  const MIN = 60 * 1000;
  const HOUR = 60 * MIN;
  const DAY = 24 * HOUR;
  const RANGES = [
    { label: '15 min', ms: 15 * MIN, refreshMs: 2000 },
    { label: '1 h', ms: HOUR, refreshMs: 5000 },
    { label: '8 h', ms: 8 * HOUR, refreshMs: 30000 },
    { label: '24 h', ms: DAY, refreshMs: 0 },
    { label: '7 d', ms: 7 * DAY, refreshMs: 0 },
    { label: '30 d', ms: 30 * DAY, refreshMs: 0 },
    { label: '1 y', ms: 365 * DAY, refreshMs: 0 },
  ];
  // Bucket lengths the chart uses: the first at least range / TARGET_POINTS.
  const STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
    21600, 43200, 86400, 172800, 604800];

  const $ = (id) => document.getElementById(id);
  const panel = $('trend');
  if (!panel) return;
  const svg = panel.querySelector('svg.trend-svg');
  const tooltip = $('trend-tooltip');
  const statusEl = $('trend-status');
  let current = null; // {tag, range, data, timer, request}

  const pad = (n, w = 2) => String(n).padStart(w, '0');

  function stepFor(rangeMs) {
    const wanted = rangeMs / TARGET_POINTS / 1000;
    return (STEPS_S.find((s) => s >= wanted) || STEPS_S[STEPS_S.length - 1]) * 1000;
  }

  function localLabel(ms, rangeMs) {
    const d = new Date(ms);
    const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    if (rangeMs <= HOUR) return `${hm}:${pad(d.getSeconds())}`;
    if (rangeMs <= DAY) return hm;
    if (rangeMs <= 7 * DAY) return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}`;
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  }

  function localFull(ms) {
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function formatNumber(v) {
    if (v === null || v === undefined || !Number.isFinite(v)) return '—';
    const a = Math.abs(v);
    if (a !== 0 && (a < 0.001 || a >= 1e9)) return v.toExponential(3);
    return v.toLocaleString(undefined, { maximumFractionDigits: a >= 100 ? 1 : 3 });
  }

  // Round tick values for [lo, hi]: about count of them.
  function niceTicks(lo, hi, count) {
    const span = hi - lo || Math.abs(hi) || 1;
    const raw = span / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
    const ticks = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
      ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v); // no "-0"
    }
    return ticks;
  }

  function svgEl(name, attrs, text) {
    const e = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  async function fetchBuckets(tag, agg, from, to, every) {
    const q = new URLSearchParams({ tag, agg, from: String(from), to: String(to), every: `${every / 1000}s` });
    const res = await fetch(`/api/v1/history?${q}`, { cache: 'no-store' });
    const body = await res.json();
    if (res.status === 401 && window.airlockCheckSession) window.airlockCheckSession();
    if (!res.ok) throw new Error(body && body.error ? body.error.message : `HTTP ${res.status}`);
    return body;
  }

  // The three aggregates merged per bucket: {t, avg, min, max, count, quality}.
  async function load(tag, range) {
    const every = stepFor(range.ms);
    const to = Math.ceil(Date.now() / every) * every;
    const from = to - Math.ceil(range.ms / every) * every;
    const [avg, min, max] = await Promise.all(['avg', 'min', 'max'].map((k) =>
      fetchBuckets(tag.path, k, from, to, every)));
    const points = avg.buckets.map((b, i) => ({
      t: from + i * every,
      iso: b.t,
      avg: b.v,
      min: min.buckets[i] ? min.buckets[i].v : null,
      max: max.buckets[i] ? max.buckets[i].v : null,
      count: b.count,
      quality: b.quality,
    }));
    return { from, to, every, points, unit: avg.unit || tag.unit || '' };
  }

  // Paths of the avg line and the min/max band, broken where buckets are empty.
  function paths(points, x, y) {
    let line = '';
    let band = '';
    let segment = [];
    const flush = () => {
      if (segment.length) {
        const top = segment.map((p) => `${x(p.t).toFixed(1)},${y(p.max).toFixed(1)}`);
        const bottom = segment.slice().reverse().map((p) => `${x(p.t).toFixed(1)},${y(p.min).toFixed(1)}`);
        band += `M${top.join('L')}L${bottom.join('L')}Z`;
      }
      segment = [];
    };
    let drawing = false;
    for (const p of points) {
      if (p.avg === null || p.min === null || p.max === null) {
        flush();
        drawing = false;
        continue;
      }
      line += `${drawing ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.avg).toFixed(1)}`;
      if (!drawing) line += `h0.01`; // a lone bucket still shows (round caps)
      drawing = true;
      segment.push(p);
    }
    flush();
    return { line, band };
  }

  function draw() {
    if (!current || !current.data) return;
    const { data, range } = current;
    const width = Math.max(320, svg.parentElement.clientWidth || 800);
    svg.setAttribute('viewBox', `0 0 ${width} ${HEIGHT}`);
    svg.setAttribute('width', String(width));
    svg.setAttribute('height', String(HEIGHT));
    svg.replaceChildren();
    const valued = data.points.filter((p) => p.avg !== null);
    let lo = Math.min(...valued.map((p) => (p.min === null ? p.avg : p.min)));
    let hi = Math.max(...valued.map((p) => (p.max === null ? p.avg : p.max)));
    if (!valued.length) {
      lo = 0;
      hi = 1;
    } else if (lo === hi) {
      lo -= Math.abs(lo) * 0.05 || 1;
      hi += Math.abs(hi) * 0.05 || 1;
    }
    const padY = (hi - lo) * 0.06;
    lo -= padY;
    hi += padY;
    const plotW = width - MARGIN.left - MARGIN.right;
    const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
    const x = (t) => MARGIN.left + ((t - data.from) / (data.to - data.from)) * plotW;
    const y = (v) => MARGIN.top + (1 - (v - lo) / (hi - lo)) * plotH;

    const grid = svgEl('g', { class: 'trend-grid' });
    for (const v of niceTicks(lo, hi, 5)) {
      grid.appendChild(svgEl('line', { x1: MARGIN.left, x2: width - MARGIN.right, y1: y(v), y2: y(v) }));
      grid.appendChild(svgEl('text', { x: MARGIN.left - 6, y: y(v) + 4, class: 'trend-ylabel' }, formatNumber(v)));
    }
    const timeStep = stepFor(range.ms) * Math.max(1, Math.round(TARGET_POINTS / 6));
    for (let t = Math.ceil(data.from / timeStep) * timeStep; t <= data.to; t += timeStep) {
      grid.appendChild(svgEl('line', { x1: x(t), x2: x(t), y1: MARGIN.top, y2: HEIGHT - MARGIN.bottom }));
      grid.appendChild(svgEl('text', { x: x(t), y: HEIGHT - 10, class: 'trend-xlabel' }, localLabel(t, range.ms)));
    }
    const unitLabel = svgEl('text', { x: 8, y: MARGIN.top + 4, class: 'trend-unit' }, data.unit);
    const { line, band } = paths(data.points, x, y);
    const bandPath = svgEl('path', { d: band || 'M0,0', class: 'trend-band' });
    const linePath = svgEl('path', { d: line || 'M0,0', class: 'trend-line', 'data-points': valued.length });
    const cursor = svgEl('line', { class: 'trend-cursor', y1: MARGIN.top, y2: HEIGHT - MARGIN.bottom, x1: -10, x2: -10 });
    svg.append(grid, unitLabel, bandPath, linePath, cursor);
    svg.onmousemove = (e) => hover(e, x, cursor);
    svg.onmouseleave = () => {
      tooltip.hidden = true;
      cursor.setAttribute('x1', '-10');
      cursor.setAttribute('x2', '-10');
    };
    statusEl.textContent = valued.length
      ? `${valued.length} of ${data.points.length} buckets of ${formatEvery(data.every)} have data` +
        (range.refreshMs ? ' · live' : '')
      : 'No history in this range yet.';
  }

  function formatEvery(ms) {
    if (ms % DAY === 0) return `${ms / DAY} d`;
    if (ms % HOUR === 0) return `${ms / HOUR} h`;
    if (ms % MIN === 0) return `${ms / MIN} min`;
    return `${ms / 1000} s`;
  }

  function hover(e, x, cursor) {
    const { data } = current;
    const box = svg.getBoundingClientRect();
    const px = ((e.clientX - box.left) / box.width) * Number(svg.getAttribute('width'));
    let best = null;
    for (const p of data.points) {
      const mid = x(p.t + data.every / 2);
      if (!best || Math.abs(mid - px) < Math.abs(best.mid - px)) best = { p, mid };
    }
    if (!best) return;
    const p = best.p;
    cursor.setAttribute('x1', String(best.mid));
    cursor.setAttribute('x2', String(best.mid));
    const unit = data.unit ? ` ${data.unit}` : '';
    tooltip.replaceChildren();
    const lines = [
      `${localFull(p.t)} (local)`,
      `${p.iso} (UTC)`,
      p.avg === null ? 'no data' : `avg ${formatNumber(p.avg)}${unit}`,
    ];
    if (p.avg !== null) lines.push(`min ${formatNumber(p.min)} · max ${formatNumber(p.max)}`);
    lines.push(`${p.count} samples · ${p.quality}`);
    for (const l of lines) {
      const div = document.createElement('div');
      div.textContent = l;
      tooltip.appendChild(div);
    }
    tooltip.hidden = false;
    const left = Math.min(e.clientX - box.left + 12, box.width - 220);
    tooltip.style.left = `${Math.max(0, left)}px`;
    tooltip.style.top = `${e.clientY - box.top + 12}px`;
  }

  async function refresh() {
    if (!current) return;
    const mine = current;
    const request = (mine.request || 0) + 1;
    mine.request = request;
    try {
      const data = await load(mine.tag, mine.range);
      if (current !== mine || mine.request !== request) return; // superseded
      mine.data = data;
      draw();
    } catch (err) {
      if (current === mine) statusEl.textContent = `Cannot load the history: ${err.message}`;
    }
  }

  function schedule() {
    window.clearInterval(current.timer);
    current.timer = current.range.refreshMs ? window.setInterval(refresh, current.range.refreshMs) : 0;
  }

  function selectRange(range) {
    if (!current) return;
    current.range = range;
    current.data = null;
    for (const b of panel.querySelectorAll('.trend-range')) {
      b.setAttribute('aria-pressed', String(b.dataset.range === range.label));
    }
    statusEl.textContent = 'Loading…';
    schedule();
    refresh();
  }

  function close() {
    if (current) window.clearInterval(current.timer);
    current = null;
    panel.hidden = true;
    tooltip.hidden = true;
    if (window.airlockWrite) window.airlockWrite.hide();
  }

  function open(tag) {
    if (current) window.clearInterval(current.timer);
    current = { tag, range: current ? current.range : RANGES[1], data: null, timer: 0, request: 0 };
    $('trend-title').textContent = tag.path;
    $('trend-unit').textContent = tag.unit ? `(${tag.unit})` : '';
    panel.hidden = false;
    svg.replaceChildren();
    if (window.airlockWrite) window.airlockWrite.show(tag);
    if (tag.type === 'string') {
      statusEl.textContent = 'A string tag has no chart; see its values with GET /api/v1/history.';
      return;
    }
    selectRange(current.range);
    panel.scrollIntoView({ block: 'nearest' });
  }

  const buttons = $('trend-ranges');
  for (const r of RANGES) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'trend-range';
    b.dataset.range = r.label;
    b.textContent = r.label;
    b.setAttribute('aria-pressed', 'false');
    b.addEventListener('click', () => selectRange(r));
    buttons.appendChild(b);
  }
  $('trend-close').addEventListener('click', close);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && current) close();
  });
  window.addEventListener('resize', () => draw());

  window.airlockTrend = { open, close };
})();
