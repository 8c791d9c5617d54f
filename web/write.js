// Writing a tag from the dashboard: shown under the trend chart of a tag
// that the gateway's write gate could allow (GET /api/v1/tags/{path} gives
// its `write` policy) when the signed-in user's role is high enough. Two
// steps: "Write…" then "Confirm"; the reason is required. The request is
// POST /api/v1/tags/{path}/write with the session's CSRF token; the gate
// decides and every attempt is in the audit trail. No inline script (CSP).
(function () {
  'use strict';

  const RANK = { viewer: 1, operator: 2, engineer: 3, admin: 4 };
  const $ = (id) => document.getElementById(id);
  const form = $('write-form');
  const note = $('write-note');
  const valueEl = $('write-value');
  const reasonEl = $('write-reason');
  const submit = $('write-submit');
  const cancel = $('write-cancel');
  const result = $('write-result');
  let current = null; // {tag, policy, pending: value or null}

  function tagUrl(path) {
    return '/api/v1/tags/' + path.split('/').map(encodeURIComponent).join('/');
  }

  function hide() {
    current = null;
    form.hidden = true;
    note.hidden = true;
  }

  function reset() {
    if (!current) return;
    current.pending = null;
    submit.textContent = 'Write…';
    cancel.hidden = true;
    valueEl.disabled = false;
  }

  function limitsText(p, unit) {
    const u = unit ? ` ${unit}` : '';
    const parts = [];
    if (p.min !== undefined && p.max !== undefined) parts.push(`${p.min} to ${p.max}${u}`);
    else if (p.min !== undefined) parts.push(`at least ${p.min}${u}`);
    else if (p.max !== undefined) parts.push(`at most ${p.max}${u}`);
    if (p.max_step !== undefined) parts.push(`steps of at most ${p.max_step}${u}`);
    if (p.min_interval_ms !== undefined) parts.push(`at most once every ${p.min_interval_ms / 1000} s`);
    parts.push(`role ${p.role} or above`);
    return parts.join('; ');
  }

  // The typed value of the input for the tag's type, or an error text.
  function parseValue(tag, text) {
    const t = text.trim();
    if (tag.type === 'bool') {
      if (/^(true|1|on)$/i.test(t)) return { value: true };
      if (/^(false|0|off)$/i.test(t)) return { value: false };
      return { error: 'enter true or false' };
    }
    if (t === '' || !Number.isFinite(Number(t))) return { error: 'enter a number' };
    const n = Number(t);
    if ((tag.type === 'int64' || tag.type === 'uint64') && !Number.isInteger(n)) {
      return { error: 'this tag holds whole numbers' };
    }
    return { value: n };
  }

  async function show(tag) {
    hide();
    if (!tag || tag.type === 'string') return;
    const session = window.airlockSession || {};
    let body;
    try {
      const res = await fetch(tagUrl(tag.path), { cache: 'no-store', credentials: 'same-origin' });
      if (!res.ok) return;
      body = await res.json();
    } catch (err) {
      return;
    }
    const policy = body.write;
    if (!policy) return; // not writable: nothing to offer
    if ((RANK[session.role] || 0) < (RANK[policy.role] || 9)) {
      note.textContent = `This tag can be written by the role ${policy.role} or above; you are ${session.role || 'not signed in'}.`;
      note.hidden = false;
      return;
    }
    current = { tag, policy, pending: null };
    valueEl.value = '';
    valueEl.placeholder = tag.type === 'bool' ? 'true or false' : 'value';
    reasonEl.value = '';
    $('write-unit').textContent = tag.unit || '';
    $('write-limits').textContent = limitsText(policy, tag.unit);
    result.textContent = '';
    result.className = 'write-result';
    reset();
    form.hidden = false;
  }

  async function send(value) {
    const session = window.airlockSession || {};
    submit.disabled = true;
    result.className = 'write-result';
    result.textContent = 'Writing…';
    try {
      const res = await fetch(tagUrl(current.tag.path) + '/write', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': session.csrf || '' },
        body: JSON.stringify({ value, reason: reasonEl.value }),
      });
      const body = await res.json().catch(() => ({}));
      if (res.ok) {
        const back = body.read_back === null || body.read_back === undefined ? 'not read back' : `read back ${body.read_back}`;
        result.className = `write-result ${body.outcome === 'ok' ? 'write-ok' : 'write-warn'}`;
        result.textContent = `${body.outcome === 'ok' ? 'Written' : body.outcome}: ${back} (${body.read_back_quality}).`;
        reasonEl.value = '';
      } else {
        result.className = 'write-result write-bad';
        result.textContent = `Refused (${body.verdict || res.status}): ${(body.error && body.error.message) || `HTTP ${res.status}`}`;
        if (res.status === 401 && window.airlockCheckSession) window.airlockCheckSession();
      }
    } catch (err) {
      result.className = 'write-result write-bad';
      result.textContent = `Gateway unreachable: ${err}`;
    } finally {
      submit.disabled = false;
      reset();
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!current) return;
    if (current.pending !== null) {
      send(current.pending);
      return;
    }
    const parsed = parseValue(current.tag, valueEl.value);
    if (parsed.error) {
      result.className = 'write-result write-bad';
      result.textContent = parsed.error;
      return;
    }
    if (!reasonEl.value.trim()) {
      result.className = 'write-result write-bad';
      result.textContent = 'a reason is required';
      return;
    }
    current.pending = parsed.value;
    valueEl.disabled = true;
    submit.textContent = `Confirm: write ${parsed.value}${current.tag.unit ? ` ${current.tag.unit}` : ''}`;
    cancel.hidden = false;
    result.className = 'write-result';
    result.textContent = `This sends ${parsed.value} to the device. Confirm, or cancel.`;
  });
  cancel.addEventListener('click', () => {
    reset();
    result.textContent = '';
  });

  window.airlockWrite = { show, hide };
})();
