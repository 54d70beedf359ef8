// The check-in page of one facility: self check-in with a hold number
// (the hold is the only thing it can turn into a check-in), and for signed-in
// staff the staff check-in of the ops console API. Plain JS, no framework.
(function () {
  'use strict';
  var T = JSON.parse(document.getElementById('i18n').textContent);
  var fid = document.body.dataset.facility;
  var POLL_MS = 15000;
  var HOLD_RE = /^h_[0-9a-z]{1,13}_[0-9a-z]{16,64}$/;
  var csrf = '';

  function $(id) { return document.getElementById(id); }
  function tr(k, vars) {
    var s = T[k] || T.err_generic || k;
    if (vars) { for (var v in vars) { s = s.split('{' + v + '}').join(vars[v]); } }
    return s;
  }
  function say(id, msg) { var e = $(id); e.textContent = msg || ''; e.hidden = !msg; }
  function errorText(res) {
    if (!res) { return tr('err_network'); }
    var code = res.body && res.body.error && res.body.error.code;
    if (res.status === 429) { return tr('err_client_rate_limited', { s: res.retry || '10' }); }
    if (code && T['err_' + code]) { return tr('err_' + code); }
    if (res.status === 400) { return tr('err_bad_request'); }
    return tr('err_generic');
  }
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
  function show(f) {
    var free = Math.max(0, f.capacity - f.occupancy - f.held);
    $('fac-free').textContent = String(free);
    $('fac-capacity').textContent = String(f.capacity);
    var st = $('fac-status');
    st.dataset.status = f.status;
    st.textContent = T['status_' + f.status] || f.status;
  }
  function poll() {
    if (document.hidden) { return; }
    call('/api/v1/facilities/' + encodeURIComponent(fid)).then(function (res) {
      if (res && res.ok) { show(res.body); }
    });
  }
  function forgetLocalHold(id) {
    try {
      var h = JSON.parse(localStorage.getItem('anpi.hold'));
      if (h && h.id === id) { localStorage.removeItem('anpi.hold'); }
    } catch (e) { /* private mode */ }
  }

  // Self check-in: POST /api/v1/holds/{id}/checkin.
  $('self-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    say('error', ''); say('result', '');
    var id = $('self-hold').value.trim().toLowerCase();
    if (!HOLD_RE.test(id)) { say('error', tr('err_hold_format')); return; }
    var body = { facility_id: fid };
    var cs = $('self-count').value.trim();
    if (cs !== '') {
      var n = Number(cs);
      if (!(n >= 1 && n <= 20 && Math.floor(n) === n)) { say('error', tr('err_count')); return; }
      body.count = n;
    }
    var btn = $('self-submit');
    btn.disabled = true;
    call('/api/v1/holds/' + encodeURIComponent(id) + '/checkin', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body)
    }).then(function (res) {
      btn.disabled = false;
      if (!res || !res.ok) { say('error', errorText(res)); return; }
      show(res.body.facility);
      say('result', tr('checked_in', { n: res.body.count }));
      forgetLocalHold(id);
      $('self-hold').value = '';
    });
  });

  // Staff check-in, only for a signed-in operator (console session cookie).
  call('/api/v1/auth/me').then(function (res) {
    if (!res || !res.ok || !res.body || res.body.role === 'viewer') { return; }
    csrf = res.body.csrf_token || '';
    $('staff').hidden = false;
  });
  $('staff-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    say('error', ''); say('result', '');
    var n = Number($('staff-count').value);
    if (!(n >= 1 && Math.floor(n) === n)) { say('error', tr('err_bad_request')); return; }
    var body = { count: n };
    var hid = $('staff-hold').value.trim().toLowerCase();
    if (hid) { body.hold_id = hid; }
    call('/api/v1/facilities/' + encodeURIComponent(fid) + '/checkins', {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: JSON.stringify(body)
    }).then(function (res) {
      if (!res || !res.ok) { say('error', errorText(res)); return; }
      show(res.body);
      say('result', tr('checked_in', { n: n }));
      $('staff-count').value = ''; $('staff-hold').value = '';
    });
  });

  setInterval(poll, POLL_MS);
  document.addEventListener('visibilitychange', poll);
})();
