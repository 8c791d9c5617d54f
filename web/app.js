// airlock dashboard: lists every tag of the plant, grouped by its Unified
// Namespace path (enterprise/site/area/line/cell), and keeps the values live
// from the server-sent event stream (/api/v1/stream). Device health comes
// from /api/v1/health every 5 s. Clicking a tag row opens its trend chart
// (trend.js). Plain DOM, no framework, no build step.
//
// Stable hooks for tests: each tag row is <tr data-path="FULL/PATH">, its
// value cell has class "value" (raw JSON value in data-value) and its quality
// cell class "quality" (OPC UA name in data-quality).
'use strict';

(function () {
  const HEALTH_INTERVAL_MS = 5000;
  const RECONNECT_MAX_MS = 30000;
  const LEVELS = ['Enterprise', 'Site', 'Area', 'Line', 'Cell', 'Group', 'Group'];
  const STORAGE_KEY = 'airlock.collapsedGroups';

  const $ = (id) => document.getElementById(id);
  const body = $('tag-body');
  const table = $('tags');
  const filterInput = $('filter');

  // path -> {tag, row, valueCell, qualityCell, tsCell, nameCell}
  const rows = new Map();
  let tree = null; // root group node
  let collapsed = loadCollapsed();
  let filterTerms = [];
  let summaryPending = false;

  // ---------- formatting ----------

  function decimalsFor(v) {
    const a = Math.abs(v);
    if (a >= 100) return 1;
    if (a >= 1 || a === 0) return 2;
    return 3;
  }

  const numberFormats = new Map();
  function numberFormat(decimals) {
    let f = numberFormats.get(decimals);
    if (!f) {
      f = new Intl.NumberFormat(undefined, {
        minimumFractionDigits: decimals,
        maximumFractionDigits: decimals,
      });
      numberFormats.set(decimals, f);
    }
    return f;
  }

  function formatValue(tag) {
    const v = tag.value;
    if (v === null || v === undefined) return '—';
    switch (typeof v) {
      case 'boolean':
        return v ? 'true' : 'false';
      case 'string':
        return v; // a uint64 above 2^63, or a string tag
      case 'number':
        if (tag.type === 'double') {
          const a = Math.abs(v);
          if (a !== 0 && (a < 0.001 || a >= 1e12)) return v.toExponential(3);
          return numberFormat(decimalsFor(v)).format(v);
        }
        return numberFormat(0).format(v);
      default:
        return String(v);
    }
  }

  function severity(code) {
    const top = (code >>> 30) & 3;
    if (top === 0) return 'good';
    if (top === 1) return 'uncertain';
    return 'bad';
  }

  const pad = (n, w = 2) => String(n).padStart(w, '0');

  function formatLocalTime(ms) {
    const d = new Date(ms);
    const now = new Date();
    const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
    const sameDay = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() &&
      d.getDate() === now.getDate();
    if (sameDay) return time;
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
  }

  // ---------- collapse state ----------

  function loadCollapsed() {
    try {
      const raw = window.localStorage.getItem(STORAGE_KEY);
      const list = raw ? JSON.parse(raw) : [];
      return new Set(Array.isArray(list) ? list : []);
    } catch (e) {
      return new Set();
    }
  }

  function saveCollapsed() {
    try {
      window.localStorage.setItem(STORAGE_KEY, JSON.stringify([...collapsed]));
    } catch (e) {
      // storage unavailable (private mode): collapse state is per page load
    }
  }

  // ---------- the group tree ----------

  function newGroup(key, name, depth) {
    return { key, name, depth, groups: new Map(), tags: [], row: null, countEl: null, issuesEl: null, toggle: null };
  }

  function buildTree(tags) {
    const root = newGroup('', '', -1);
    for (const tag of tags) {
      const segments = tag.path.split('/');
      let node = root;
      for (let i = 0; i < segments.length - 1; i++) {
        let child = node.groups.get(segments[i]);
        if (!child) {
          const key = segments.slice(0, i + 1).join('/');
          child = newGroup(key, segments[i], i);
          node.groups.set(segments[i], child);
        }
        node = child;
      }
      node.tags.push(tag);
    }
    return root;
  }

  const byName = (a, b) => a.localeCompare(b, undefined, { numeric: true });

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function groupRow(node) {
    const tr = el('tr', 'group');
    tr.dataset.group = node.key;
    tr.dataset.depth = String(node.depth);
    const td = el('td');
    td.colSpan = 5;
    const toggle = el('button', 'toggle');
    toggle.type = 'button';
    toggle.setAttribute('aria-label', `Collapse or expand ${node.key}`);
    toggle.addEventListener('click', () => toggleGroup(node));
    const name = el('span', 'gname', node.name);
    name.title = node.key;
    const level = el('span', 'glevel', LEVELS[node.depth] || 'Group');
    node.countEl = el('span', 'gcount');
    node.issuesEl = el('span', 'gissues');
    td.append(toggle, name, level, node.countEl, node.issuesEl);
    tr.appendChild(td);
    tr.addEventListener('dblclick', () => toggleGroup(node));
    node.row = tr;
    node.toggle = toggle;
    return tr;
  }

  function tagRow(tag, depth) {
    const tr = el('tr', 'tag');
    tr.dataset.path = tag.path;
    tr.dataset.depth = String(depth);
    const segments = tag.path.split('/');
    const nameCell = el('td', 'name', segments[segments.length - 1]);
    nameCell.title = tag.description ? `${tag.description}\n${tag.path}` : tag.path;
    const valueCell = el('td', 'value');
    const unitCell = el('td', 'unit', tag.unit || '');
    const qualityCell = el('td', 'quality');
    const tsCell = el('td', 'ts');
    tr.append(nameCell, valueCell, unitCell, qualityCell, tsCell);
    const entry = { tag, row: tr, nameCell, valueCell, qualityCell, tsCell };
    tr.title = 'Click for the trend chart';
    tr.addEventListener('click', () => {
      if (window.airlockTrend) window.airlockTrend.open(entry.tag);
    });
    fillCells(entry);
    rows.set(tag.path, entry);
    return tr;
  }

  function fillCells(entry) {
    const t = entry.tag;
    entry.valueCell.textContent = formatValue(t);
    entry.valueCell.dataset.value = JSON.stringify(t.value === undefined ? null : t.value);
    entry.valueCell.classList.toggle('null', t.value === null || t.value === undefined);
    const sev = severity(t.quality_code >>> 0);
    let badge = entry.qualityCell.firstElementChild;
    if (!badge) {
      badge = el('span');
      entry.qualityCell.appendChild(badge);
    }
    badge.className = `badge q-${sev}`;
    badge.textContent = t.quality;
    badge.title = `${t.quality} (0x${(t.quality_code >>> 0).toString(16).toUpperCase().padStart(8, '0')})`;
    entry.qualityCell.dataset.quality = t.quality;
    entry.row.classList.toggle('row-bad', sev === 'bad');
    if (typeof t.timestamp_ms === 'number') {
      entry.tsCell.textContent = formatLocalTime(t.timestamp_ms);
      entry.tsCell.title = `${t.timestamp} (UTC)`;
    } else {
      entry.tsCell.textContent = '—';
      entry.tsCell.title = 'No sample yet';
    }
  }

  function renderNode(node, frag) {
    if (node.depth >= 0) frag.appendChild(groupRow(node));
    node.tags.sort((a, b) => byName(a.path, b.path));
    for (const tag of node.tags) frag.appendChild(tagRow(tag, node.depth + 1));
    const children = [...node.groups.values()].sort((a, b) => byName(a.name, b.name));
    for (const child of children) renderNode(child, frag);
  }

  // ---------- visibility, filter, summaries ----------

  function matchesFilter(path) {
    if (filterTerms.length === 0) return true;
    const p = path.toLowerCase();
    return filterTerms.every((t) => p.includes(t));
  }

  // Sets row visibility below node; returns how many tags match the filter.
  function applyVisibility(node, hiddenByParent) {
    const filtering = filterTerms.length > 0;
    const isCollapsed = node.depth >= 0 && collapsed.has(node.key) && !filtering;
    const hideChildren = hiddenByParent || isCollapsed;
    let matching = 0;
    for (const tag of node.tags) {
      const entry = rows.get(tag.path);
      const match = matchesFilter(tag.path);
      if (match) matching++;
      entry.row.hidden = hideChildren || !match;
    }
    for (const child of node.groups.values()) matching += applyVisibility(child, hideChildren);
    if (node.row) {
      node.row.hidden = hiddenByParent || matching === 0;
      node.row.classList.toggle('collapsed', isCollapsed);
      node.toggle.setAttribute('aria-expanded', String(!isCollapsed));
    }
    return matching;
  }

  function refreshVisibility() {
    if (!tree) return;
    const shown = applyVisibility(tree, false);
    const total = rows.size;
    $('tag-count').textContent = filterTerms.length ? `${shown} of ${total} tags` : `${total} tags`;
    const empty = $('empty');
    empty.hidden = shown > 0;
    empty.textContent = total === 0 ? 'No tags configured.' : 'No tags match the filter.';
  }

  // Counts tags and quality issues under node, writes them on the group row.
  function summarize(node) {
    let count = node.tags.length;
    let bad = 0;
    let uncertain = 0;
    for (const tag of node.tags) {
      const sev = severity(tag.quality_code >>> 0);
      if (sev === 'bad') bad++;
      else if (sev === 'uncertain') uncertain++;
    }
    for (const child of node.groups.values()) {
      const s = summarize(child);
      count += s.count;
      bad += s.bad;
      uncertain += s.uncertain;
    }
    if (node.row) {
      node.countEl.textContent = `${count} ${count === 1 ? 'tag' : 'tags'}`;
      node.issuesEl.replaceChildren();
      if (bad) node.issuesEl.appendChild(el('span', 'issue q-bad', `${bad} bad`));
      if (uncertain) node.issuesEl.appendChild(el('span', 'issue q-uncertain', `${uncertain} uncertain`));
    }
    return { count, bad, uncertain };
  }

  function scheduleSummary() {
    if (summaryPending) return;
    summaryPending = true;
    window.requestAnimationFrame(() => {
      summaryPending = false;
      if (tree) summarize(tree);
    });
  }

  function toggleGroup(node) {
    if (collapsed.has(node.key)) collapsed.delete(node.key);
    else collapsed.add(node.key);
    saveCollapsed();
    refreshVisibility();
  }

  function setAllGroups(collapse) {
    collapsed = new Set();
    if (collapse && tree) {
      const walk = (node) => {
        if (node.depth >= 0) collapsed.add(node.key);
        for (const child of node.groups.values()) walk(child);
      };
      walk(tree);
    }
    saveCollapsed();
    refreshVisibility();
  }

  // ---------- applying stream events ----------

  function applySnapshot(data) {
    const tags = Array.isArray(data.tags) ? data.tags : [];
    rows.clear();
    tree = buildTree(tags);
    const frag = document.createDocumentFragment();
    renderNode(tree, frag);
    body.replaceChildren(frag);
    summarize(tree);
    refreshVisibility();
  }

  function flash(cell) {
    cell.classList.remove('changed');
    void cell.offsetWidth; // restart the animation
    cell.classList.add('changed');
  }

  function applyUpdates(list) {
    if (!Array.isArray(list)) return;
    for (const u of list) {
      const entry = rows.get(u.path);
      if (!entry) continue;
      const before = entry.valueCell.dataset.value;
      const beforeQuality = entry.tag.quality_code;
      Object.assign(entry.tag, u);
      fillCells(entry);
      if (entry.valueCell.dataset.value !== before || beforeQuality !== entry.tag.quality_code) {
        flash(entry.valueCell);
      }
    }
    scheduleSummary();
  }

  // ---------- the event stream ----------

  let reconnectDelayMs = 1000;
  let source = null;

  function setStreamStatus(kind, text, title) {
    const pill = $('stream-status');
    pill.className = `pill pill-${kind}`;
    pill.textContent = text;
    if (title) pill.title = title;
    table.classList.toggle('stale', kind !== 'ok');
  }

  function connectStream() {
    if (source) source.close();
    setStreamStatus('wait', 'Connecting…');
    source = new EventSource('/api/v1/stream');
    source.addEventListener('snapshot', (e) => {
      reconnectDelayMs = 1000;
      try {
        applySnapshot(JSON.parse(e.data));
        setStreamStatus('ok', 'Live', 'Receiving live values');
      } catch (err) {
        setStreamStatus('bad', 'Bad data', String(err));
      }
    });
    source.addEventListener('update', (e) => {
      try {
        applyUpdates(JSON.parse(e.data));
      } catch (err) {
        setStreamStatus('bad', 'Bad data', String(err));
      }
    });
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. the server refused the stream): retry ourselves.
        setStreamStatus('bad', 'Disconnected', `Retrying in ${Math.round(reconnectDelayMs / 1000)} s`);
        source.close();
        checkSessionAfterError();
        window.setTimeout(connectStream, reconnectDelayMs);
        reconnectDelayMs = Math.min(reconnectDelayMs * 2, RECONNECT_MAX_MS);
      } else {
        setStreamStatus('wait', 'Reconnecting…', 'The stream dropped; the browser is reconnecting');
      }
    });
  }

  // ---------- device health ----------

  function renderDevices(devices) {
    const strip = $('devices');
    const chips = devices.map((d) => {
      const ok = d.state === 'connected';
      const warn = d.state === 'degraded' || d.state === 'starting' || d.state === 'disabled';
      const chip = el('span', `device ${ok ? 'd-ok' : warn ? 'd-warn' : 'd-bad'}`);
      chip.append(el('span', 'dot'), el('span', 'dname', d.name), el('span', 'dstate', d.state));
      const lines = [`${d.name}: ${d.state}`];
      if (d.endpoint) lines.push(`${d.protocol || ''} ${d.endpoint}`.trim());
      if (d.last_success) lines.push(`last success: ${d.last_success}`);
      if (d.last_error) lines.push(`last error: ${d.last_error}${d.last_error_time ? ` (${d.last_error_time})` : ''}`);
      chip.title = lines.join('\n');
      return chip;
    });
    strip.replaceChildren(...chips);
  }

  async function pollHealth() {
    const summary = $('device-summary');
    try {
      const res = await fetch('/api/v1/health', { cache: 'no-store' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const h = await res.json();
      $('gateway-name').textContent = h.gateway;
      document.title = `${h.gateway} · airlock`;
      $('version').textContent = h.version;
      const devices = Array.isArray(h.devices) ? h.devices : [];
      const connected = devices.filter((d) => d.state === 'connected').length;
      const kind = h.status === 'ok' ? 'ok' : connected > 0 ? 'warn' : 'bad';
      summary.className = `pill pill-${kind}`;
      summary.textContent = devices.length
        ? `Devices: ${connected}/${devices.length} connected`
        : 'No devices';
      const b = h.boundary || {};
      summary.title = `Gateway ${h.status}; up ${Math.floor(h.uptime_s / 60)} min; ` +
        `samples sent ${b.samples_sent}, dropped ${b.samples_dropped}, queued ${b.queued}`;
      renderDevices(devices);
    } catch (err) {
      summary.className = 'pill pill-bad';
      summary.textContent = 'Gateway unreachable';
      summary.title = String(err);
    }
  }

  // ---------- wiring ----------

  let filterTimer = 0;
  filterInput.addEventListener('input', () => {
    window.clearTimeout(filterTimer);
    filterTimer = window.setTimeout(() => {
      filterTerms = filterInput.value.toLowerCase().split(/\s+/).filter(Boolean);
      refreshVisibility();
    }, 120);
  });
  filterInput.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      filterInput.value = '';
      filterTerms = [];
      refreshVisibility();
    }
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === '/' && document.activeElement !== filterInput) {
      e.preventDefault();
      filterInput.focus();
    }
  });
  $('expand-all').addEventListener('click', () => setAllGroups(false));
  $('collapse-all').addEventListener('click', () => setAllGroups(true));

  // ---------- signing in ----------

  // The session cookie is HttpOnly; what the page knows of the session is
  // GET /api/v1/session: the user, the role and the CSRF token that
  // state-changing requests (log out, writes) must send back.
  const session = { user: null, role: null, csrf: null };
  window.airlockSession = session;
  let started = false;

  function showUser() {
    const pill = $('user-pill');
    pill.textContent = `${session.user} · ${session.role}`;
    pill.hidden = false;
    $('logout').hidden = false;
  }

  function showLogin(message) {
    if (source) source.close();
    source = null;
    $('user-pill').hidden = true;
    $('logout').hidden = true;
    $('login-error').textContent = message || '';
    $('login').hidden = false;
    $('login-user').focus();
  }

  async function loadSession() {
    const res = await fetch('/api/v1/session', { cache: 'no-store', credentials: 'same-origin' });
    if (res.status !== 200) return false;
    Object.assign(session, await res.json());
    session.csrf = session.csrf_token;
    return true;
  }

  function startApp() {
    $('login').hidden = true;
    showUser();
    connectStream();
    if (window.airlockAlerts) window.airlockAlerts.start();
    if (!started) {
      started = true;
      pollHealth();
      window.setInterval(pollHealth, HEALTH_INTERVAL_MS);
    }
  }

  // A stream the browser gave up on may mean the session ended.
  async function checkSessionAfterError() {
    try {
      if (!(await loadSession())) showLogin('Your session has ended: log in again.');
    } catch (err) {
      // the gateway is unreachable: the stream's own retry handles it
    }
  }
  window.airlockCheckSession = checkSessionAfterError;

  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = $('login-submit');
    button.disabled = true;
    $('login-error').textContent = '';
    try {
      const res = await fetch('/api/v1/login', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ user: $('login-user').value, password: $('login-password').value }),
      });
      const body = await res.json().catch(() => ({}));
      if (res.status !== 200) {
        $('login-error').textContent = (body.error && body.error.message) || `Login failed (HTTP ${res.status})`;
        return;
      }
      $('login-password').value = '';
      session.user = body.user;
      session.role = body.role;
      session.csrf = body.csrf_token;
      startApp();
    } catch (err) {
      $('login-error').textContent = `Gateway unreachable: ${err}`;
    } finally {
      button.disabled = false;
    }
  });

  $('logout').addEventListener('click', async () => {
    try {
      await fetch('/api/v1/logout', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'X-CSRF-Token': session.csrf || '' },
      });
    } finally {
      showLogin('Logged out.');
    }
  });

  (async () => {
    try {
      if (await loadSession()) startApp();
      else showLogin();
    } catch (err) {
      showLogin(`Gateway unreachable: ${err}`);
    }
  })();
})();
