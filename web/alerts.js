// airlock dashboard: the Alerts panel. Shows what GET /api/v1/alerts says
// (docs/monitoring.md): every active alert, newest first, and the few most
// recently cleared ones, refreshed every 5 s once app.js has a session
// (window.airlockAlerts.start()). The panel stays hidden when the gateway
// runs without the OT monitor (503).
//
// Stable hooks for tests: the panel is <section id="alerts">; each alert is
// <li data-alert-id="ID" data-kind="KIND" data-subject="SUBJECT"> with class
// "alert-active" or "alert-cleared".
'use strict';

(function () {
  const INTERVAL_MS = 5000;
  const CLEARED_SHOWN = 5;
  const KIND_TITLES = {
    latency_deviation: 'Latency deviation',
    error_rate: 'Error rate',
    response_pattern: 'Response pattern',
    identity_changed: 'Identity changed',
    unknown_identity: 'New identity',
    write_refused: 'Write refused',
    auth_failures: 'Authentication failures',
  };

  const $ = (id) => document.getElementById(id);
  let timer = 0;

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function localTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
  }

  function item(a) {
    const li = el('li', `alert alert-${a.active ? 'active' : 'cleared'} sev-${a.severity}`);
    li.dataset.alertId = String(a.id);
    li.dataset.kind = a.kind;
    li.dataset.subject = a.subject;
    const head = el('div', 'alert-head');
    head.append(
      el('span', 'alert-sev', a.severity),
      el('span', 'alert-kind', KIND_TITLES[a.kind] || a.kind),
      el('span', 'alert-subject', a.subject),
    );
    if (a.count > 1) head.append(el('span', 'alert-count', `×${a.count}`));
    const when = a.active
      ? `since ${localTime(a.raised)}`
      : `cleared ${localTime(a.cleared)}`;
    head.append(el('span', 'alert-time', when));
    li.title = `raised ${a.raised} (UTC)\nlast ${a.last}` + (a.cleared ? `\ncleared ${a.cleared}` : '');
    li.append(head, el('div', 'alert-message', a.message));
    return li;
  }

  function render(body) {
    const list = Array.isArray(body.alerts) ? body.alerts : [];
    const active = list.filter((a) => a.active);
    const cleared = list.filter((a) => !a.active).slice(0, CLEARED_SHOWN);
    const pill = $('alerts-count');
    const critical = active.some((a) => a.severity === 'critical');
    pill.className = `pill pill-${active.length === 0 ? 'ok' : critical ? 'bad' : 'warn'}`;
    pill.textContent = active.length === 1 ? '1 active' : `${active.length} active`;
    const ul = $('alerts-list');
    ul.replaceChildren(...active.map(item), ...cleared.map(item));
    $('alerts-empty').hidden = list.length > 0;
    $('alerts').hidden = false;
  }

  async function poll() {
    try {
      const res = await fetch('/api/v1/alerts?limit=100', {
        cache: 'no-store',
        credentials: 'same-origin',
      });
      if (res.status === 401 && window.airlockCheckSession) {
        window.airlockCheckSession();
        return;
      }
      if (res.status === 503 || res.status === 404) {
        $('alerts').hidden = true; // no OT monitor in this gateway
        return;
      }
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      render(await res.json());
    } catch (err) {
      const pill = $('alerts-count');
      pill.className = 'pill pill-wait';
      pill.textContent = 'unavailable';
      pill.title = String(err);
    }
  }

  window.airlockAlerts = {
    start() {
      if (timer) return;
      poll();
      timer = window.setInterval(poll, INTERVAL_MS);
    },
  };
})();
