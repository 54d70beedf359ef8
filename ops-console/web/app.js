// anpi staff console. Plain ES2020, no dependencies, no HTML built from data:
// every text from the server goes through textContent.
'use strict';

(() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  // ---- labels (Japanese first, English beside) ----
  const L = {
    alertStatus: {
      pending_approval: '承認待ち Pending approval', queued: '待機中 Queued', dispatching: '配信中 Dispatching',
      completed: '完了 Completed', cancelled: '取消 Cancelled', failed: '失敗 Failed',
    },
    safety: {
      safe: '無事 Safe', injured: '負傷 Injured', needs_help: '要救助 Needs help', evacuated: '避難済 Evacuated',
      stranded: '帰宅困難 Stranded', unclear: '不明確 Unclear', no_reply: '未回答 No reply',
    },
    area: {
      shiba: '芝 Shiba', azabu: '麻布 Azabu', akasaka: '赤坂 Akasaka', takanawa: '高輪 Takanawa',
      'shibaura-konan': '芝浦港南 Shibaura-Konan',
    },
    facility: {
      closed: '閉鎖 Closed', checking: '確認中 Checking', open: '開設 Open', full: '満員 Full', unsafe: '危険 Unsafe',
    },
    channel: { line: 'LINE', sms: 'SMS', voice: '音声 Voice', signage: 'サイネージ Signage' },
    triageState: { open: '未対応 Open', acked: '対応中 Acked', resolved: '解決 Resolved' },
    conn: {
      live: '● 接続中 Live', connecting: '接続中… Connecting', reconnecting: '再接続中… Reconnecting',
      offline: '未接続 Offline',
    },
  };
  const SAFETY_KEYS = ['needs_help', 'injured', 'stranded', 'unclear', 'evacuated', 'safe', 'no_reply'];
  const AREAS = ['shiba', 'azabu', 'akasaka', 'takanawa', 'shibaura-konan'];
  const FACILITY_STATUSES = ['open', 'checking', 'full', 'closed', 'unsafe'];
  const TRIAGE_RANK = { needs_help: 0, injured: 1, unclear: 2 };
  const CANCELLABLE = new Set(['pending_approval', 'queued', 'dispatching']);
  const APPROVERS = new Set(['approver', 'admin']);
  const MAX_ROWS = 200;
  const label = (table, key) => (table[key] || String(key ?? ''));

  // ---- DOM builder: text children become text nodes ----
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const fmtTime = (s) => {
    if (!s) return '';
    const d = new Date(s);
    return isNaN(d) ? String(s) : d.toLocaleString('ja-JP', { hour12: false });
  };
  const i18n = (o) => {
    if (!o) return '';
    if (typeof o === 'string') return o;
    return [o.ja, o.en].filter(Boolean).join(' / ') || Object.values(o).find(Boolean) || '';
  };
  const num = (v) => (Number.isFinite(Number(v)) ? Number(v) : 0);
  // fill replaces el's children, skipping absent (null/false) parts.
  const fill = (el, ...kids) => el.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
  const showMsg = (el, msg) => { if (!el) return; el.textContent = msg || ''; el.hidden = !msg; };

  // ---- auth and API ----
  const auth = { token: sessionStorage.getItem('anpi.token') || '', csrf: '', me: null };

  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
    toString() { return `${this.message} (${this.code || this.status})`; }
  }

  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
    else if (method !== 'GET' && auth.csrf) headers['X-CSRF-Token'] = auth.csrf;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, {
        method, headers, credentials: 'same-origin',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, 'network', `通信エラー Network error: ${e.message}`);
    }
    let data = null;
    const text = await res.text();
    if (text) { try { data = JSON.parse(text); } catch (_) { data = null; } }
    if (!res.ok) {
      const err = (data && data.error) || {};
      const e = new ApiError(res.status, err.code || `http_${res.status}`, err.message || res.statusText || 'error');
      if (res.status === 401 && path !== '/api/v1/auth/login') onUnauthorized();
      throw e;
    }
    return data;
  }

  function onUnauthorized() {
    if (auth.token) { auth.token = ''; sessionStorage.removeItem('anpi.token'); }
    auth.me = null;
    showLogin();
  }

  function showLogin() {
    stopSocket();
    document.body.dataset.view = 'login';
    $('#login').hidden = false;
    $('#app').hidden = true;
    $('#user').hidden = true;
    $('#logout').hidden = true;
    setConn('offline');
  }

  function showApp(me) {
    auth.me = me;
    if (me.csrf_token) auth.csrf = me.csrf_token;
    document.body.dataset.view = 'app';
    document.body.dataset.role = me.role || '';
    $('#login').hidden = true;
    $('#app').hidden = false;
    const user = $('#user');
    user.textContent = `${me.name || ''} (${me.role || ''})`;
    user.hidden = false;
    $('#logout').hidden = false;
    renderAll();
    startSocket();
  }

  async function boot() {
    try {
      showApp(await api('GET', '/api/v1/auth/me'));
    } catch (e) {
      if (e.status !== 401) showGlobalError(e);
      showLogin();
    }
  }

  function showGlobalError(e) { showMsg($('#global-error'), e ? String(e) : ''); }

  // ---- live state from the hub ----
  const TOPICS = ['alerts', 'safety', 'triage', 'facilities', 'feed'];
  const state = Object.fromEntries(TOPICS.map((t) => [t, new Map()]));
  const dirty = new Set();
  let renderQueued = false;
  let ws = null;
  let wsWanted = false;
  let backoff = 500;
  let reconnectTimer = 0;
  let lastSeq = 0;

  function setConn(s) {
    const el = $('#conn-status');
    el.dataset.state = s;
    el.textContent = label(L.conn, s);
  }

  function startSocket() {
    wsWanted = true;
    if (!ws) connect();
  }

  function stopSocket() {
    wsWanted = false;
    clearTimeout(reconnectTimer);
    if (ws) { const w = ws; ws = null; w.close(1000, 'logout'); }
  }

  function connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let url = `${proto}//${location.host}/console/ws`;
    if (auth.token) url += `?access_token=${encodeURIComponent(auth.token)}`;
    setConn(backoff > 500 ? 'reconnecting' : 'connecting');
    let opened = false;
    const sock = new WebSocket(url);
    ws = sock;
    sock.onopen = () => { opened = true; };
    sock.onmessage = (ev) => {
      if (ws !== sock) return;
      let f;
      try { f = JSON.parse(ev.data); } catch (_) { return; }
      applyFrame(f);
    };
    sock.onclose = () => {
      if (ws !== sock) return;
      ws = null;
      if (!wsWanted) return;
      setConn('reconnecting');
      const delay = Math.min(backoff, 15000) * (0.75 + Math.random() * 0.5);
      backoff = Math.min(backoff * 2, 15000);
      reconnectTimer = setTimeout(async () => {
        if (!opened) {
          // The handshake failed: find out whether the session ended.
          try { await api('GET', '/api/v1/auth/me'); } catch (_) { /* 401 shows the login form */ }
        }
        if (wsWanted && !ws) connect();
      }, delay);
    };
  }

  // Progress updates of an alert come from many workers and may arrive after
  // the update that finished it: a finished alert never goes back.
  const FINISHED = new Set(['completed', 'cancelled', 'failed']);
  function staleAlert(topic, cur, next) {
    return topic === 'alerts' && cur && next && FINISHED.has(cur.status) && !FINISHED.has(next.status);
  }

  function applyFrame(f) {
    if (!f || typeof f !== 'object' || !f.data || typeof f.data !== 'object') return;
    if (f.type === 'snapshot') {
      for (const [topic, values] of Object.entries(f.data)) {
        state[topic] = new Map(Object.entries(values || {}).filter(([, v]) => v !== null));
        dirty.add(topic);
      }
      backoff = 500;
      setConn('live');
    } else if (f.type === 'delta' && f.topic) {
      const m = state[f.topic] || (state[f.topic] = new Map());
      for (const [k, v] of Object.entries(f.data)) {
        if (v === null) m.delete(k);
        else if (!staleAlert(f.topic, m.get(k), v)) m.set(k, v);
      }
      dirty.add(f.topic);
    } else {
      return;
    }
    lastSeq = f.seq || lastSeq;
    document.body.dataset.seq = String(lastSeq);
    scheduleRender();
  }

  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    const run = () => { renderQueued = false; render(); };
    if (document.hidden) setTimeout(run, 250); else requestAnimationFrame(run);
  }

  function renderAll() { TOPICS.forEach((t) => dirty.add(t)); scheduleRender(); }

  function render() {
    const topics = Array.from(dirty);
    dirty.clear();
    for (const t of topics) {
      const fn = RENDER[t];
      if (fn) fn();
      const empty = $(`[data-empty-for="${t}"]`);
      if (empty) empty.hidden = (state[t] && state[t].size > 0);
    }
  }

  // reconcile keeps one element per id, updates it in place (so inputs keep
  // focus and typed text) and moves rows only when the order changed.
  function reconcile(container, items, idOf, create, update) {
    const rows = container.anpiRows || (container.anpiRows = new Map());
    const seen = new Set();
    let prev = null;
    for (const item of items) {
      const id = String(idOf(item));
      seen.add(id);
      let row = rows.get(id);
      if (!row) {
        row = create(item);
        row.dataset.id = id;
        rows.set(id, row);
      }
      update(row, item);
      const want = prev ? prev.nextSibling : container.firstChild;
      if (want !== row) container.insertBefore(row, want);
      prev = row;
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) { row.remove(); rows.delete(id); }
    }
  }

  const byNewest = (a, b) => String(b[1].created_at || '').localeCompare(String(a[1].created_at || ''));
  const values = (topic) => Array.from(state[topic] || new Map()).map(([k, v]) => [k, v || {}]);

  function drillBanner(drill) {
    return drill
      ? h('div', { class: 'banner banner-drill', 'data-banner': 'drill' }, '訓練 DRILL')
      : h('div', { class: 'banner banner-live', 'data-banner': 'live' }, '本番 LIVE');
  }

  // ---- alerts ----
  function renderAlerts() {
    const items = values('alerts').sort(byNewest).slice(0, MAX_ROWS);
    reconcile($('#alerts'), items, ([k, v]) => v.id || k, createAlertRow, updateAlertRow);
  }

  function createAlertRow() {
    const row = h('article', { class: 'row alert-row' },
      h('div', { class: 'row-banner' }),
      h('div', { class: 'row-head' }),
      h('div', { class: 'row-meta' }),
      h('div', { class: 'progress' }),
      h('div', { class: 'actions' },
        h('button', { type: 'button', 'data-action': 'approve', class: 'approve' }, '承認 Approve'),
        h('button', { type: 'button', 'data-action': 'cancel', class: 'danger' }, '取消 Cancel')),
      h('form', { class: 'cancel-form', 'data-role': 'cancel-form', hidden: true },
        h('label', {}, '取消理由 Reason ', h('input', { name: 'reason', required: true, maxlength: 500 })),
        h('label', {}, '訂正文（住民へ） Correction to people reached ', h('input', { name: 'correction', maxlength: 500 })),
        h('button', { type: 'submit', 'data-action': 'confirm-cancel', class: 'danger' }, '取消を確定 Confirm cancel')),
      h('p', { class: 'error', 'data-error': true, hidden: true }));
    return row;
  }

  function updateAlertRow(row, [, a]) {
    const drill = !!a.drill;
    row.dataset.status = a.status || '';
    row.dataset.drill = String(drill);
    row.classList.toggle('drill', drill);
    row.classList.toggle('live', !drill);
    fill($('.row-banner', row), drillBanner(drill));
    fill($('.row-head', row),
      h('span', { class: 'status', 'data-status': a.status }, label(L.alertStatus, a.status)),
      h('strong', { class: 'title' }, i18n(a.title) || a.id || ''),
      a.severity ? h('span', { class: 'severity', 'data-severity': a.severity }, a.severity) : null,
      a.kind ? h('span', { class: 'kind' }, a.kind) : null);
    fill($('.row-meta', row),
      h('span', {}, `対象 Audience: ${num(a.audience).toLocaleString()}`),
      h('span', {}, `作成 By: ${a.created_by || '-'}`),
      h('span', {}, `承認 Approved: ${a.approved_by || '-'}`),
      h('span', {}, `作成日時 Created: ${fmtTime(a.created_at)}`),
      a.completed_at ? h('span', {}, `完了 Done: ${fmtTime(a.completed_at)}`) : null,
      a.correction_id ? h('span', { 'data-correction': a.correction_id }, `訂正 Correction: ${a.correction_id}`) : null,
      a.correction_note ? h('span', {}, `訂正 Correction: ${a.correction_note}`) : null,
      a.corrects ? h('span', {}, `訂正対象 Corrects: ${a.corrects}`) : null);
    fill($('.progress', row), ...Object.entries(a.counts || {}).map(([ch, c]) => progressBar(ch, c || {})));

    const me = auth.me || {};
    const approve = $('[data-action="approve"]', row);
    approve.hidden = a.status !== 'pending_approval';
    const own = a.created_by && a.created_by === me.name;
    const canApprove = APPROVERS.has(me.role) && !own;
    approve.disabled = !canApprove || row.dataset.busy === 'true';
    approve.title = own ? '作成者は承認できません (二人承認) — creator cannot approve (two-person rule)'
      : (canApprove ? '' : '承認権限がありません — approver role required');
    const cancel = $('[data-action="cancel"]', row);
    cancel.hidden = !CANCELLABLE.has(a.status);
    if (cancel.hidden) $('[data-role="cancel-form"]', row).hidden = true;
  }

  function progressBar(ch, c) {
    const planned = Math.max(num(c.planned), 1);
    const pct = (n) => `${Math.min(100, (num(n) / planned) * 100).toFixed(1)}%`;
    const seg = (cls, n) => { const s = h('span', { class: `seg ${cls}` }); s.style.width = pct(n); return s; };
    const done = num(c.sent) + num(c.delivered);
    return h('div', { class: 'channel', 'data-channel': ch },
      h('span', { class: 'ch-name' }, label(L.channel, ch)),
      h('span', { class: 'bar', role: 'img', 'aria-label': `${ch} ${done}/${num(c.planned)}` },
        seg('delivered', c.delivered), seg('sent', c.sent), seg('failed', c.failed), seg('queued', c.queued)),
      h('span', { class: 'ch-nums' },
        `${done.toLocaleString()} / ${num(c.planned).toLocaleString()} `,
        h('span', { class: 'delivered-n' }, `着 ${num(c.delivered).toLocaleString()}`), ' ',
        h('span', { class: num(c.failed) ? 'failed-n' : '' }, `失敗 Failed ${num(c.failed).toLocaleString()}`)));
  }

  // ---- safety ----
  function renderSafety() {
    const items = values('safety').sort(byNewest).slice(0, MAX_ROWS);
    reconcile($('#safety'), items, ([k, v]) => v.id || k, () => h('article', { class: 'row safety-row' }), updateSafetyRow);
  }

  function updateSafetyRow(row, [, s]) {
    const drill = !!s.drill;
    row.dataset.drill = String(drill);
    row.dataset.status = s.status || '';
    row.classList.toggle('drill', drill);
    row.classList.toggle('live', !drill);
    const sent = num(s.sent);
    const responded = num(s.responded);
    const rate = sent ? Math.round((responded / sent) * 1000) / 10 : 0;
    const bs = s.by_status || {};
    const areaRows = Object.entries(s.by_area || {}).sort(([a], [b]) => AREAS.indexOf(a) - AREAS.indexOf(b));
    fill(row,
      drillBanner(drill),
      h('div', { class: 'row-head' },
        s.status ? h('span', { class: 'status', 'data-status': s.status }, s.status) : null,
        h('strong', { class: 'title' }, i18n(s.question) || s.id || ''),
        h('span', { class: 'meta' }, fmtTime(s.created_at))),
      h('div', { class: 'rate' },
        h('span', { 'data-field': 'sent' }, `送信 Sent ${sent.toLocaleString()}`), ' ',
        h('span', { 'data-field': 'responded' }, `回答 Responded ${responded.toLocaleString()}`), ' ',
        h('strong', { 'data-field': 'rate' }, `回答率 Rate ${rate}%`)),
      h('div', { class: 'chips' }, SAFETY_KEYS.map((k) =>
        h('span', { class: `chip st-${k}`, 'data-status': k }, `${label(L.safety, k)} `, h('b', {}, num(bs[k]).toLocaleString())))),
      areaRows.length ? h('table', { class: 'by-area' },
        h('thead', {}, h('tr', {}, h('th', {}, '地区 Area'), SAFETY_KEYS.map((k) => h('th', { class: `st-${k}` }, label(L.safety, k))))),
        h('tbody', {}, areaRows.map(([area, counts]) => h('tr', { 'data-area': area },
          h('th', {}, label(L.area, area)),
          SAFETY_KEYS.map((k) => h('td', { class: num((counts || {})[k]) && (k === 'needs_help' || k === 'injured') ? `st-${k}` : '' },
            num((counts || {})[k]).toLocaleString())))))) : null);
  }

  // ---- triage ----
  function renderTriage() {
    const all = values('triage').filter(([, t]) => t.state !== 'resolved');
    all.sort(([, a], [, b]) =>
      ((TRIAGE_RANK[a.label] ?? 3) - (TRIAGE_RANK[b.label] ?? 3))
      || ((a.state === 'open' ? 0 : 1) - (b.state === 'open' ? 0 : 1))
      || String(a.created_at || '').localeCompare(String(b.created_at || '')));
    $('#triage-count').textContent = String(all.filter(([, t]) => t.state === 'open').length);
    reconcile($('#triage'), all.slice(0, MAX_ROWS), ([k, v]) => v.id || k, createTriageRow, updateTriageRow);
  }

  function createTriageRow() {
    return h('article', { class: 'row triage-row' },
      h('div', { class: 'row-head' }),
      h('blockquote', { class: 'reply-text' }),
      h('div', { class: 'row-meta' }),
      h('div', { class: 'actions' },
        h('button', { type: 'button', 'data-action': 'ack' }, '確認 Ack'),
        h('input', { name: 'note', 'data-role': 'note', placeholder: '対応メモ Note', maxlength: 1000 }),
        h('button', { type: 'button', 'data-action': 'resolve' }, '解決 Resolve')),
      h('p', { class: 'error', 'data-error': true, hidden: true }));
  }

  function updateTriageRow(row, [, t]) {
    row.dataset.label = t.label || '';
    row.dataset.state = t.state || '';
    fill($('.row-head', row),
      h('span', { class: `chip st-${t.label}`, 'data-status': t.label }, label(L.safety, t.label)),
      h('span', { class: 'state' }, label(L.triageState, t.state)),
      h('strong', {}, t.resident_name || t.resident_id || ''),
      t.area ? h('span', { class: 'area' }, label(L.area, t.area)) : null,
      h('span', { class: 'meta' }, fmtTime(t.created_at)));
    $('.reply-text', row).textContent = t.text || '';
    fill($('.row-meta', row),
      t.confidence !== undefined ? h('span', {}, `確信度 Confidence ${Math.round(num(t.confidence) * 100)}%`) : null,
      Array.isArray(t.needs) && t.needs.length ? h('span', { class: 'needs' }, `必要 Needs: ${t.needs.join(', ')}`) : null,
      t.note ? h('span', {}, `メモ Note: ${t.note}`) : null);
    $('[data-action="ack"]', row).hidden = t.state !== 'open';
  }

  // ---- facilities ----
  const freeOf = (f) => num(f.capacity) - num(f.occupancy) - num(f.held);

  function renderFacilities() {
    const items = values('facilities');
    items.sort(([, a], [, b]) => (freeOf(b) - freeOf(a)) || String(a.name || '').localeCompare(String(b.name || ''), 'ja'));
    reconcile($('#facilities'), items, ([k, v]) => v.id || k, createFacilityRow, updateFacilityRow);
  }

  function createFacilityRow() {
    const select = h('select', { 'data-action': 'status', 'aria-label': '状態 Status' },
      FACILITY_STATUSES.map((s) => h('option', { value: s }, label(L.facility, s))));
    return h('tr', { class: 'facility-row' },
      h('td', { 'data-field': 'name' }), h('td', { 'data-field': 'kind' }),
      h('td', {}, select),
      h('td', { 'data-field': 'free' }),
      h('td', {},
        h('input', { type: 'number', min: 0, step: 1, 'data-action': 'occupancy', 'aria-label': '収容 Occupancy' }),
        ' / ', h('span', { 'data-field': 'capacity' }),
        h('button', { type: 'button', 'data-action': 'save-occupancy' }, '更新 Save'),
        h('span', { class: 'error', 'data-error': true, hidden: true })),
      h('td', { 'data-field': 'held' }));
  }

  function updateFacilityRow(row, [, f]) {
    row.dataset.status = f.status || '';
    $('[data-field="name"]', row).textContent = f.name || f.id || '';
    $('[data-field="kind"]', row).textContent = f.kind || '';
    const free = freeOf(f);
    const freeCell = $('[data-field="free"]', row);
    freeCell.textContent = free.toLocaleString();
    freeCell.classList.toggle('none', free <= 0);
    $('[data-field="capacity"]', row).textContent = num(f.capacity).toLocaleString();
    $('[data-field="held"]', row).textContent = num(f.held).toLocaleString();
    const select = $('select[data-action="status"]', row);
    if (document.activeElement !== select) select.value = f.status || '';
    const occ = $('input[data-action="occupancy"]', row);
    if (document.activeElement !== occ && occ.dataset.dirty !== 'true') occ.value = String(num(f.occupancy));
  }

  // ---- feed ----
  function renderFeed() {
    const items = values('feed')
      .sort(([, a], [, b]) => String(b.at || b.created_at || '').localeCompare(String(a.at || a.created_at || '')))
      .slice(0, 50);
    reconcile($('#feed'), items, ([k]) => k, () => h('li', { class: 'feed-item' }), (li, [k, v]) => {
      const text = typeof v === 'string' ? v : (v.text || i18n(v.title) || v.message || k);
      fill(li, h('time', {}, fmtTime(v.at || v.created_at)), ' ', text);
    });
  }

  const RENDER = { alerts: renderAlerts, safety: renderSafety, triage: renderTriage, facilities: renderFacilities, feed: renderFeed };

  // ---- actions (delegated) ----
  async function act(row, button, fn) {
    const err = $('[data-error]', row);
    showMsg(err, '');
    row.dataset.busy = 'true';
    if (button) button.disabled = true;
    try {
      await fn();
    } catch (e) {
      showMsg(err, String(e));
    } finally {
      delete row.dataset.busy;
      if (button) button.disabled = false;
    }
  }

  const idPath = (id) => encodeURIComponent(id);

  function onAlertsClick(ev) {
    const btn = ev.target.closest('button[data-action]');
    const row = ev.target.closest('[data-id]');
    if (!btn || !row) return;
    const id = row.dataset.id;
    if (btn.dataset.action === 'approve') {
      act(row, btn, () => api('POST', `/api/v1/alerts/${idPath(id)}/approve`));
    } else if (btn.dataset.action === 'cancel') {
      const f = $('[data-role="cancel-form"]', row);
      f.hidden = !f.hidden;
      if (!f.hidden) $('input[name="reason"]', f).focus();
    }
  }

  function onAlertsSubmit(ev) {
    const form = ev.target.closest('[data-role="cancel-form"]');
    const row = ev.target.closest('[data-id]');
    if (!form || !row) return;
    ev.preventDefault();
    const reason = form.elements.reason.value.trim();
    if (!reason) { showMsg($('[data-error]', row), '取消理由を入力してください — reason required'); return; }
    act(row, $('button', form), async () => {
      const text = form.elements.correction.value.trim();
      await api('POST', `/api/v1/alerts/${idPath(row.dataset.id)}/cancel`, text ? { reason, correction: { ja: text } } : { reason });
      form.hidden = true;
      form.reset();
    });
  }

  function onTriageClick(ev) {
    const btn = ev.target.closest('button[data-action]');
    const row = ev.target.closest('[data-id]');
    if (!btn || !row) return;
    const id = idPath(row.dataset.id);
    if (btn.dataset.action === 'ack') {
      act(row, btn, () => api('POST', `/api/v1/triage/${id}/ack`));
    } else if (btn.dataset.action === 'resolve') {
      const note = $('[data-role="note"]', row);
      act(row, btn, async () => {
        await api('POST', `/api/v1/triage/${id}/resolve`, { note: note.value.trim() });
        note.value = '';
      });
    }
  }

  function onFacilitiesEvent(ev) {
    const el = ev.target.closest('[data-action]');
    const row = ev.target.closest('[data-id]');
    if (!el || !row) return;
    const id = idPath(row.dataset.id);
    const occ = $('input[data-action="occupancy"]', row);
    if (ev.type === 'change' && el.dataset.action === 'status') {
      act(row, null, () => api('PATCH', `/api/v1/facilities/${id}`, { status: el.value }));
    } else if (ev.type === 'input' && el.dataset.action === 'occupancy') {
      occ.dataset.dirty = 'true';
    } else if ((ev.type === 'click' && el.dataset.action === 'save-occupancy')
      || (ev.type === 'keydown' && ev.key === 'Enter' && el.dataset.action === 'occupancy')) {
      const n = Number(occ.value);
      if (!Number.isInteger(n) || n < 0) { showMsg($('[data-error]', row), '0以上の整数 — whole number ≥ 0'); return; }
      act(row, el.tagName === 'BUTTON' ? el : null, async () => {
        await api('PATCH', `/api/v1/facilities/${id}`, { occupancy: n });
        delete occ.dataset.dirty;
      });
    }
  }

  // ---- forms ----
  const checked = (form, name) => $$(`input[name="${name}"]:checked`, form).map((i) => i.value);

  // wireDrill makes the drill/live choice unmistakable: unchecking "drill"
  // turns the form red, reveals a confirmation box and relabels the button.
  function wireDrill(form, drillBox, confirmBox, button) {
    const update = () => {
      const drill = drillBox.checked;
      form.dataset.drill = String(drill);
      const conf = confirmBox.closest('.live-confirm');
      conf.hidden = drill;
      if (drill) confirmBox.checked = false;
      button.textContent = drill ? '訓練として送信 Send as DRILL' : '本番送信 Send LIVE';
      button.classList.toggle('danger', !drill);
    };
    drillBox.addEventListener('change', update);
    form.addEventListener('reset', () => setTimeout(update));
    update();
  }

  async function submitForm(form, build, send) {
    const err = $('[data-error]', form);
    const ok = $('[data-result]', form);
    showMsg(err, '');
    showMsg(ok, '');
    let body;
    try { body = build(); } catch (e) { showMsg(err, e.message); return; }
    const btn = $('button[type="submit"]', form);
    btn.disabled = true;
    try {
      const res = await send(body);
      showMsg(ok, `送信しました Sent: ${(res && res.id) || ''} ${(res && res.status) || ''}`.trim());
      form.reset();
    } catch (e) {
      showMsg(err, String(e));
    } finally {
      btn.disabled = false;
    }
  }

  function buildAlert(form, forPreview) {
    const e = form.elements;
    const drill = e.drill.checked;
    if (!forPreview && !drill && !$('#alert-live-confirm').checked) throw new Error('本番送信の確認が必要です — confirm the LIVE alert first');
    const channels = checked(form, 'channel');
    if (!channels.length) throw new Error('配信手段を選んでください — choose at least one channel');
    const title = { ja: e.title_ja.value.trim() };
    const body = { ja: e.body_ja.value.trim() };
    if (!title.ja || !body.ja) throw new Error('日本語の件名と本文は必須です — Japanese title and body required');
    if (e.title_en.value.trim()) title.en = e.title_en.value.trim();
    if (e.body_en.value.trim()) body.en = e.body_en.value.trim();
    let target = { all: true };
    if (form.querySelector('input[name="target"]:checked').value === 'areas') {
      const areas = checked(form, 'area');
      if (!areas.length) throw new Error('地区を選んでください — choose at least one area');
      target = { areas };
    }
    return { kind: 'manual', severity: e.severity.value, title, body, target, channels, drill };
  }

  // ---- alert preview (issue 3) begin ----
  // Shows, before sending, the audience per channel and language and the
  // exact text each channel sends (drill marker included), with SMS
  // segments and warnings. Nothing is stored by a preview.
  async function previewAlert(form) {
    const out = $('#alert-preview');
    const err = $('[data-error]', form);
    showMsg(err, '');
    let body;
    try { body = buildAlert(form, true); } catch (e) { showMsg(err, e.message); return; }
    try {
      const p = await api('POST', '/api/v1/alerts/preview', body);
      fill(out, renderPreview(p));
      out.hidden = false;
    } catch (e) {
      out.hidden = true;
      showMsg(err, String(e));
    }
  }

  function renderPreview(p) {
    const au = p.audience || {};
    const byCh = Object.entries(au.by_channel || {}).map(([ch, n]) => `${label(L.channel, ch)} ${num(n).toLocaleString()}`).join(' / ');
    const rows = (p.texts || []).filter((t) => t.recipients > 0 || t.language === 'ja').map((t) => h('tr', { 'data-channel': t.channel, 'data-language': t.language },
      h('td', {}, label(L.channel, t.channel)), h('td', {}, t.language), h('td', {}, num(t.recipients).toLocaleString()),
      h('td', {}, h('pre', { class: 'preview-text' }, t.text)),
      h('td', {}, `${t.chars}` + (t.sms_segments ? ` / ${t.sms_segments} seg ${t.encoding}` : '')),
      h('td', { class: 'warn' }, (t.warnings || []).join('; '))));
    return [
      drillBanner(!!p.drill),
      h('p', { 'data-preview': 'audience' }, `対象 Audience: ${num(au.total).toLocaleString()}  (${byCh})`),
      ...(p.warnings || []).map((w) => h('p', { class: 'warn' }, w)),
      h('table', { class: 'preview-table' },
        h('thead', {}, h('tr', {}, ...['経路 Channel', '言語 Lang', '人数 People', '本文 Text', '文字 Chars', '注意 Warnings'].map((c) => h('th', {}, c)))),
        h('tbody', {}, ...rows)),
    ];
  }
  // ---- alert preview (issue 3) end ----

  function buildSafety(form) {
    const e = form.elements;
    const drill = e.drill.checked;
    if (!drill && !$('#safety-live-confirm').checked) throw new Error('本番送信の確認が必要です — confirm the LIVE check first');
    const channels = checked(form, 'channel');
    if (!channels.length) throw new Error('配信手段を選んでください — choose at least one channel');
    const question = { ja: e.question_ja.value.trim() };
    if (!question.ja) throw new Error('日本語の質問は必須です — Japanese question required');
    if (e.question_en.value.trim()) question.en = e.question_en.value.trim();
    return { target: { all: true }, question, channels, drill };
  }

  // ---- wiring ----
  function init() {
    $('#login-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const f = ev.target;
      const err = $('[data-error]', f);
      showMsg(err, '');
      try {
        auth.token = '';
        sessionStorage.removeItem('anpi.token');
        const me = await api('POST', '/api/v1/auth/login', { name: f.elements.name.value, password: f.elements.password.value });
        f.reset();
        showGlobalError(null);
        showApp(me);
      } catch (e) {
        showMsg(err, e.status === 401 ? 'ログインできません — wrong name or password' : String(e));
      }
    });
    $('#token-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const f = ev.target;
      const err = $('[data-error]', f);
      showMsg(err, '');
      auth.token = f.elements.token.value.trim();
      try {
        const me = await api('GET', '/api/v1/auth/me');
        sessionStorage.setItem('anpi.token', auth.token);
        f.reset();
        showGlobalError(null);
        showApp(me);
      } catch (e) {
        showMsg(err, e.status === 401 ? 'トークンが無効です — invalid token' : String(e));
      }
    });
    $('#logout').addEventListener('click', async () => {
      if (!auth.token) { try { await api('POST', '/api/v1/auth/logout'); } catch (_) { /* logged out anyway */ } }
      auth.token = '';
      auth.csrf = '';
      sessionStorage.removeItem('anpi.token');
      for (const t of TOPICS) state[t] = new Map();
      renderAll();
      showLogin();
    });

    const alerts = $('#alerts');
    alerts.addEventListener('click', onAlertsClick);
    alerts.addEventListener('submit', onAlertsSubmit);
    $('#triage').addEventListener('click', onTriageClick);
    const fac = $('#facilities');
    for (const t of ['change', 'input', 'click', 'keydown']) fac.addEventListener(t, onFacilitiesEvent);

    const af = $('#alert-form');
    wireDrill(af, $('#alert-drill'), $('#alert-live-confirm'), $('#alert-submit'));
    af.addEventListener('submit', (ev) => {
      ev.preventDefault();
      submitForm(af, () => buildAlert(af), (b) => api('POST', '/api/v1/alerts', b));
    });
    $('#alert-preview-btn').addEventListener('click', () => previewAlert(af));
    const sf = $('#safety-form');
    wireDrill(sf, $('#safety-drill'), $('#safety-live-confirm'), $('#safety-submit'));
    sf.addEventListener('submit', (ev) => {
      ev.preventDefault();
      submitForm(sf, () => buildSafety(sf), (b) => api('POST', '/api/v1/safety-checks', b));
    });

    document.addEventListener('visibilitychange', () => { if (!document.hidden && dirty.size) scheduleRender(); });
    boot();
  }

  // ==== BEGIN stranded commuters panel (HQ planning view) ====
  // Polls GET /api/v1/commuters every 10 s while the console is shown (the
  // plan is not on the WebSocket), lists stations by overflow, and sends staff
  // count reports (POST /api/v1/commuters/reports, audited server-side).
  const COMMUTERS_POLL_MS = 10000;
  const commuters = { timer: 0, busy: false, stationsLoaded: false };

  function commutersVisible() { return document.body.dataset.view === 'app' && !$('#app').hidden; }

  async function refreshCommuters() {
    if (commuters.busy || !commutersVisible()) return;
    commuters.busy = true;
    const errEl = $('#commuters-error');
    try {
      const v = await api('GET', '/api/v1/commuters');
      showMsg(errEl, '');
      $('#commuters-empty').hidden = true;
      renderCommuters(v || {});
    } catch (e) {
      if (e.status === 404) $('#commuters-empty').hidden = false;
      else if (e.status !== 401) showMsg(errEl, String(e));
    } finally {
      commuters.busy = false;
    }
  }

  function renderCommuters(v) {
    const stations = Array.isArray(v.stations) ? v.stations.slice() : [];
    stations.sort((a, b) => (num(b.overflow) - num(a.overflow)) || (num(b.stranded) - num(a.stranded))
      || String(a.code || '').localeCompare(String(b.code || '')));
    const t = v.totals || {};
    fill($('#commuters-totals'),
      `滞留 Stranded ${num(t.stranded).toLocaleString()} · 割当 Assigned ${num(t.assigned).toLocaleString()} · `,
      h('span', { class: num(t.overflow) ? 'overflow' : '', 'data-field': 'total-overflow' }, `超過 Overflow ${num(t.overflow).toLocaleString()}`),
      ` · 空き Free places ${num(t.free_places).toLocaleString()} (${num(t.facilities)} 施設 facilities, ≤ ${(num(v.max_walk_m) / 1000).toFixed(1)} km)`);
    reconcile($('#commuters'), stations, (s) => s.code, createCommuterRow, updateCommuterRow);
    $('#commuters-updated').textContent = v.computed_at ? `計算 Computed: ${fmtTime(v.computed_at)}` : '';
    if (!commuters.stationsLoaded && stations.length) {
      const byName = stations.slice().sort((a, b) => String(a.name || '').localeCompare(String(b.name || ''), 'ja'));
      fill($('#commuter-station'), byName.map((s) => h('option', { value: s.code }, s.name || s.code)));
      commuters.stationsLoaded = true;
    }
  }

  function createCommuterRow() {
    const cell = (field, cls) => h('td', { 'data-field': field, class: cls });
    return h('tr', { class: 'commuter-row' },
      cell('name'), cell('stranded', 'n'), cell('staff', 'n'), cell('self', 'n'),
      cell('assigned', 'n'), cell('overflow', 'n'), cell('dest'));
  }

  function updateCommuterRow(row, s) {
    const assigned = (Array.isArray(s.assigned) ? s.assigned : []);
    const sum = assigned.reduce((n, a) => n + num(a.count), 0);
    row.dataset.overflow = String(num(s.overflow) > 0);
    row.dataset.stranded = String(num(s.stranded) > 0);
    $('[data-field="name"]', row).textContent = s.name || s.code || '';
    $('[data-field="stranded"]', row).textContent = num(s.stranded).toLocaleString();
    const staff = $('[data-field="staff"]', row);
    staff.textContent = s.staff_at ? num(s.staff_count).toLocaleString() : '-';
    staff.title = s.staff_at ? `${s.staff_by || ''} ${fmtTime(s.staff_at)}` : '';
    $('[data-field="self"]', row).textContent = num(s.self_count).toLocaleString();
    $('[data-field="assigned"]', row).textContent = sum.toLocaleString();
    $('[data-field="overflow"]', row).textContent = num(s.overflow).toLocaleString();
    const top = assigned.slice(0, 3).map((a) => `${a.name || a.facility_id} ${num(a.count).toLocaleString()}人 (${Math.round(num(a.distance_m))} m)`);
    if (assigned.length > 3) top.push(`他 +${assigned.length - 3}`);
    $('[data-field="dest"]', row).textContent = top.join(' · ');
  }

  function initCommuters() {
    const form = $('#commuter-form');
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const err = $('[data-error]', form);
      const ok = $('[data-result]', form);
      showMsg(err, '');
      showMsg(ok, '');
      const station = form.elements.station.value;
      const count = Number(form.elements.count.value);
      if (!station) { showMsg(err, '駅を選んでください — choose a station'); return; }
      if (!Number.isInteger(count) || count < 0 || count > 100000) { showMsg(err, '0〜100000の整数 — whole number 0 to 100000'); return; }
      const btn = $('button[type="submit"]', form);
      btn.disabled = true;
      try {
        const res = await api('POST', '/api/v1/commuters/reports', { station, count });
        showMsg(ok, `報告しました Reported: ${(res && res.name) || station} ${num(res && res.count).toLocaleString()}`);
        form.elements.count.value = '';
        await refreshCommuters();
      } catch (e) {
        showMsg(err, String(e));
      } finally {
        btn.disabled = false;
      }
    });
    // Refresh at once when the console appears, then every 10 s.
    new MutationObserver(() => { if (commutersVisible()) refreshCommuters(); })
      .observe(document.body, { attributes: true, attributeFilter: ['data-view'] });
    commuters.timer = setInterval(() => { if (!document.hidden) refreshCommuters(); }, COMMUTERS_POLL_MS);
    document.addEventListener('visibilitychange', () => { if (!document.hidden) refreshCommuters(); });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', initCommuters); else initCommuters();
  // ==== END stranded commuters panel ====

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
})();
