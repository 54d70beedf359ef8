// The public commuter page: find nearby facilities with free places, hold
// places, show the hold with its QR code. Plain JS, no framework, no
// third-party host: it must work on a weak phone on a congested network.
(function () {
  'use strict';
  var T = JSON.parse(document.getElementById('i18n').textContent);
  var lang = document.documentElement.lang;
  var POLL_MS = 15000; // live updates: conditional GET (ETag) every 15 s
  var LIMIT = 5;
  var KEY_POS = 'anpi.pos', KEY_HOLD = 'anpi.hold', KEY_LAST = 'anpi.last';
  var state = { lat: null, lng: null, timer: null, countdown: null, busy: false };

  function $(id) { return document.getElementById(id); }
  function tr(k, vars) {
    var s = T[k] || T.err_generic || k;
    if (vars) { for (var v in vars) { s = s.split('{' + v + '}').join(vars[v]); } }
    return s;
  }
  function load(key) { try { return JSON.parse(localStorage.getItem(key)); } catch (e) { return null; } }
  function save(key, v) { try { if (v == null) { localStorage.removeItem(key); } else { localStorage.setItem(key, JSON.stringify(v)); } } catch (e) { /* private mode */ } }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text != null) { e.textContent = text; }
    return e;
  }
  function clock(d) { return d.toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' }); }
  function status(msg) { $('status').textContent = msg || ''; }
  function showError(msg) { var e = $('error'); e.textContent = msg || ''; e.hidden = !msg; }

  // errorText turns an API error answer (or a network failure) into a
  // message in the page's language.
  function errorText(res) {
    if (!res) { return tr('err_network'); }
    var code = res.body && res.body.error && res.body.error.code;
    if (res.status === 429) { return tr('err_client_rate_limited', { s: res.retry || '10' }); }
    if (code && T['err_' + code]) { return tr('err_' + code); }
    if (res.status === 400) { return tr('err_bad_request'); }
    return tr('err_generic');
  }

  // call fetches url and resolves to {status, body, retry}; a network
  // failure resolves to null.
  function call(url, opts) {
    opts = opts || {};
    opts.credentials = 'same-origin';
    return fetch(url, opts).then(function (r) {
      var retry = r.headers.get('Retry-After');
      return r.text().then(function (t) {
        var body = null;
        try { body = t ? JSON.parse(t) : null; } catch (e) { body = null; }
        return { status: r.status, ok: r.ok, body: body, retry: retry };
      });
    }, function () { return null; });
  }

  function party() {
    var n = Number($('party').value);
    if (!(n >= 1 && n <= 20 && Math.floor(n) === n)) { return 0; }
    return n;
  }

  function dist(m) { return m < 1000 ? Math.round(m) + ' m' : (m / 1000).toFixed(1) + ' km'; }
  function name(f) { return (lang !== 'ja' && f.name_en) ? f.name_en + ' (' + f.name + ')' : f.name; }

  // Map: the server drew the ward and every facility; the page adds the
  // results and "you are here" with the same projection.
  var svg = document.querySelector('svg.map');
  function project(lat, lng) {
    var d = svg.dataset;
    return [(lng - Number(d.lng0)) * Number(d.sx), (Number(d.lat0) - lat) * Number(d.sy)];
  }
  function mark(parent, lat, lng, r, cls, label) {
    var ns = 'http://www.w3.org/2000/svg';
    var p = project(lat, lng);
    var c = document.createElementNS(ns, 'circle');
    c.setAttribute('cx', p[0].toFixed(1)); c.setAttribute('cy', p[1].toFixed(1));
    c.setAttribute('r', r); c.setAttribute('class', cls);
    parent.appendChild(c);
    if (label) {
      var t = document.createElementNS(ns, 'text');
      t.setAttribute('x', p[0].toFixed(1)); t.setAttribute('y', p[1].toFixed(1));
      t.setAttribute('class', 'hit-label'); t.textContent = label;
      parent.appendChild(t);
    }
  }
  function drawMap(items) {
    if (!svg) { return; }
    var g = svg.querySelector('#marks');
    while (g.firstChild) { g.removeChild(g.firstChild); }
    for (var i = items.length - 1; i >= 0; i--) { mark(g, items[i].lat, items[i].lng, 14, 'hit', String(i + 1)); }
    if (state.lat != null) { mark(g, state.lat, state.lng, 10, 'me'); }
    svg.querySelector('title').textContent = T.map + (state.lat != null ? ' – ' + T.you_are_here : '');
  }

  function render(data, stale) {
    var list = $('list');
    while (list.firstChild) { list.removeChild(list.firstChild); }
    var items = data.items || [];
    if (!items.length) { list.appendChild(el('li', 'muted', tr('none'))); }
    items.forEach(function (f, i) {
      var li = el('li');
      li.dataset.id = f.id;
      var h = el('h3');
      h.appendChild(el('span', 'num', String(i + 1)));
      h.appendChild(document.createTextNode(name(f)));
      li.appendChild(h);
      li.appendChild(el('p', 'free', tr('free_places', { n: f.free })));
      li.appendChild(el('p', null, tr('walk', { min: f.walk_minutes, dist: dist(f.distance_m) })));
      var tags = el('p', 'tags');
      tags.appendChild(el('span', null, T['kind_' + f.kind] || f.kind));
      if (f.accessible) { tags.appendChild(el('span', null, T.accessible)); }
      if (f.pets) { tags.appendChild(el('span', null, T.pets)); }
      li.appendChild(tags);
      var act = el('div', 'actions');
      var b = el('button', 'hold-btn', tr('hold', { n: party() || 1 }));
      b.type = 'button';
      b.addEventListener('click', function () { hold(f, b); });
      act.appendChild(b);
      var a = el('a', null, T.checkin_page);
      a.href = '/shelters/checkin/' + encodeURIComponent(f.id) + '?lang=' + lang;
      act.appendChild(a);
      li.appendChild(act);
      list.appendChild(li);
    });
    drawMap(items);
    var at = new Date(data.at || Date.now());
    $('updated').textContent = stale ? tr('offline', { time: clock(at) }) : tr('updated', { time: clock(at) });
  }

  function refresh() {
    if (state.lat == null || state.busy) { return; }
    var n = party();
    if (!n) { showError(tr('err_party')); return; }
    state.busy = true;
    var url = '/shelters/nearest?lat=' + state.lat.toFixed(6) + '&lng=' + state.lng.toFixed(6) + '&party=' + n + '&limit=' + LIMIT;
    // Default cache mode: the browser revalidates with If-None-Match and
    // the server answers 304 when nothing changed.
    call(url).then(function (res) {
      state.busy = false;
      status('');
      if (res && res.ok) {
        showError('');
        var data = { items: res.body, at: Date.now() };
        save(KEY_LAST, { q: url, data: data });
        render(data, false);
        return;
      }
      showError(errorText(res));
      var last = load(KEY_LAST);
      if (!res && last && last.q === url) { render(last.data, true); }
      if (res && res.status === 400) { clearList(); }
    });
  }
  function clearList() {
    var list = $('list');
    while (list.firstChild) { list.removeChild(list.firstChild); }
    drawMap([]);
  }

  function setPos(lat, lng) {
    state.lat = lat; state.lng = lng;
    save(KEY_POS, { lat: lat, lng: lng, station: $('station').value });
    status(T.loading);
    refresh();
    if (state.timer) { clearInterval(state.timer); }
    state.timer = setInterval(function () { if (!document.hidden) { refresh(); } }, POLL_MS);
  }

  $('locate').addEventListener('click', function () {
    showError('');
    if (!navigator.geolocation) { showError(tr('err_geo_unsupported')); return; }
    status(T.locating);
    navigator.geolocation.getCurrentPosition(function (p) {
      $('station').value = '';
      setPos(p.coords.latitude, p.coords.longitude);
    }, function (err) {
      status('');
      showError(tr(err && err.code === 1 ? 'err_geo_denied' : 'err_geo_failed'));
    }, { enableHighAccuracy: false, timeout: 20000, maximumAge: 60000 });
  });
  $('station').addEventListener('change', function () {
    var o = this.options[this.selectedIndex];
    if (!o || !o.value) { return; }
    showError('');
    setPos(Number(o.dataset.lat), Number(o.dataset.lng));
  });
  $('party').addEventListener('change', function () {
    if (!party()) { showError(tr('err_party')); return; }
    showError('');
    refresh();
  });
  document.addEventListener('visibilitychange', function () { if (!document.hidden) { refresh(); } });

  // Holds.
  function hold(f, btn) {
    var n = party();
    if (!n) { showError(tr('err_party')); return; }
    btn.disabled = true;
    showError('');
    call('/api/v1/holds', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ facility_id: f.id, party: n })
    }).then(function (res) {
      btn.disabled = false;
      if (!res || res.status !== 201) { showError(errorText(res)); refresh(); return; }
      var h = res.body;
      h.name = name(f);
      save(KEY_HOLD, h);
      showHold(h);
      refresh();
    });
  }

  function showHold(h) {
    var box = $('hold');
    if (state.countdown) { clearInterval(state.countdown); state.countdown = null; }
    if (!h) { box.hidden = true; return; }
    $('hold-at').textContent = tr('hold_at', { name: h.name });
    $('hold-party').textContent = tr('hold_party', { n: h.party });
    $('hold-id').textContent = h.id;
    var q = '?hold=' + encodeURIComponent(h.id);
    $('hold-qr').src = '/shelters/qr/' + encodeURIComponent(h.facility_id) + '.svg' + q;
    $('hold-link').href = '/shelters/checkin/' + encodeURIComponent(h.facility_id) + q + '&lang=' + lang;
    var exp = new Date(h.expires_at).getTime();
    function tick() {
      var s = Math.max(0, Math.round((exp - Date.now()) / 1000));
      if (s === 0) {
        $('hold-expires').textContent = T.hold_expired;
        $('hold-qr').hidden = true; $('hold-link').hidden = true;
        clearInterval(state.countdown); state.countdown = null;
        save(KEY_HOLD, null);
        return;
      }
      var mm = Math.floor(s / 60), ss = s % 60;
      $('hold-expires').textContent = tr('hold_expires', { time: mm + ':' + (ss < 10 ? '0' : '') + ss });
    }
    $('hold-qr').hidden = false; $('hold-link').hidden = false;
    tick();
    state.countdown = setInterval(tick, 1000);
    box.hidden = false;
  }
  $('hold-forget').addEventListener('click', function () { save(KEY_HOLD, null); showHold(null); });

  // Start: the last hold and position survive a reload (weak networks).
  var h0 = load(KEY_HOLD);
  if (h0 && new Date(h0.expires_at).getTime() > Date.now()) { showHold(h0); } else { save(KEY_HOLD, null); }
  var p0 = load(KEY_POS);
  if (p0 && typeof p0.lat === 'number') {
    if (p0.station) { $('station').value = p0.station; }
    setPos(p0.lat, p0.lng);
  }
})();
