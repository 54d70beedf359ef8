// Signage page: shows the screen's current alert, rotating through the
// screen's languages, fed live by Server-Sent Events. The last known state
// is kept in memory and localStorage, so a dropped link leaves it on screen
// (with a "connection lost since" indicator) until it expires.
(function () {
  'use strict';
  var parts = location.pathname.split('/');
  var screenID = decodeURIComponent(parts[2] || '');
  var KEY = 'anpi-signage:' + screenID;
  var TZ = 'Asia/Tokyo';

  var TEXT = {
    idle: { ja: '現在、発表中の警報・注意報はありません', en: 'No alerts in effect', zh: '目前没有发布中的警报', ko: '현재 발령 중인 경보가 없습니다', 'ja-easy': 'いま、けいほう は でて いません' },
    drill: { ja: 'これは訓練です', en: 'This is a drill', zh: '这是演习', ko: '이것은 훈련입니다', 'ja-easy': 'これは くんれん です' },
    until: { ja: '{t} まで有効', en: 'Valid until {t}', zh: '有效至 {t}', ko: '{t}까지 유효', 'ja-easy': '{t} まで' },
    issued: { ja: '発表 {t}', en: 'Issued {t}', zh: '发布 {t}', ko: '발표 {t}', 'ja-easy': '{t} に でました' },
    more: { ja: 'ほかの情報', en: 'Also in effect', zh: '其他信息', ko: '기타 정보', 'ja-easy': 'ほかの じょうほう' }
  };
  var SEVERITY = {
    extreme: { ja: '緊急', en: 'Extreme', zh: '紧急', ko: '긴급', 'ja-easy': 'とても きけん' },
    severe: { ja: '重大', en: 'Severe', zh: '严重', ko: '심각', 'ja-easy': 'きけん' },
    moderate: { ja: '注意', en: 'Moderate', zh: '注意', ko: '주의', 'ja-easy': 'ちゅうい' },
    minor: { ja: '情報', en: 'Minor', zh: '信息', ko: '정보', 'ja-easy': 'おしらせ' }
  };
  var LANG_NAMES = { ja: '日本語', en: 'English', zh: '中文', ko: '한국어', 'ja-easy': 'やさしい日本語' };

  var state = null;      // last "state" payload
  var lastSeen = 0;      // ms, last event from the server
  var lostSince = null;  // Date the link was lost, or null
  var tick = 0;          // language rotation counter
  var es = null;
  var lastAttempt = 0;
  var notice = null;     // {text, until}

  function $(id) { return document.getElementById(id); }
  function localized(m, lang) { return m[lang] || m.en || m.ja || ''; }
  function fmt(s, t) { return s.replace('{t}', t); }
  function hhmm(d) { return d.toLocaleTimeString('ja-JP', { timeZone: TZ, hour: '2-digit', minute: '2-digit', hour12: false }); }
  function hhmmss(d) { return d.toLocaleTimeString('ja-JP', { timeZone: TZ, hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }); }
  function dateText(d) { return d.toLocaleDateString('ja-JP', { timeZone: TZ, year: 'numeric', month: 'long', day: 'numeric', weekday: 'short' }); }

  // pick returns the text of m for lang, falling back like the server does.
  function pick(m, lang) {
    if (!m) { return ''; }
    if (m[lang]) { return m[lang]; }
    if (lang === 'ja-easy' && m.ja) { return m.ja; }
    if (m.en) { return m.en; }
    if (m.ja) { return m.ja; }
    for (var k in m) { if (m[k]) { return m[k]; } }
    return '';
  }

  function screenLangs() {
    var l = state && state.screen && state.screen.languages;
    return l && l.length ? l : ['ja', 'en'];
  }
  function rotateMs() { return ((state && state.screen && state.screen.rotate_seconds) || 8) * 1000; }
  function heartbeatMs() { return ((state && state.screen && state.screen.heartbeat_seconds) || 15) * 1000; }

  function active() {
    if (!state || !state.alerts) { return []; }
    var now = Date.now();
    return state.alerts.filter(function (a) { return Date.parse(a.expires_at) > now; });
  }

  // alertLangs are the screen's languages the alert has text in.
  function alertLangs(a) {
    var ls = screenLangs().filter(function (l) { return a.title && a.title[l]; });
    if (ls.length) { return ls; }
    for (var k in a.title) { return [k]; }
    return ['ja'];
  }

  function save() {
    try { localStorage.setItem(KEY, JSON.stringify({ state: state, saved_at: Date.now() })); } catch (e) { /* storage full or disabled */ }
  }
  function load() {
    try {
      var v = JSON.parse(localStorage.getItem(KEY) || 'null');
      if (v && v.state) { state = v.state; }
    } catch (e) { /* ignore a broken entry */ }
  }

  function render() {
    var now = new Date();
    $('clock').textContent = hhmm(now);
    if (state && state.screen) { $('screen-name').textContent = state.screen.name; }
    var list = active();
    var body = document.body;
    var langs;
    if (list.length === 0) {
      langs = screenLangs();
      var lang = langs[tick % langs.length];
      body.dataset.mode = 'idle';
      body.dataset.drill = 'false';
      body.dataset.severity = '';
      $('idle').hidden = false;
      $('alert').hidden = true;
      $('alert').dataset.id = '';
      $('more').hidden = true;
      $('idle-clock').textContent = hhmm(now);
      $('idle-date').textContent = dateText(now);
      $('idle-msg').textContent = localized(TEXT.idle, lang);
      $('idle-msg').lang = lang;
      setDrill(false, lang);
      renderLangs(langs, lang);
    } else {
      var a = list[0];
      langs = alertLangs(a);
      var l = langs[tick % langs.length];
      body.dataset.mode = 'alert';
      body.dataset.drill = a.drill ? 'true' : 'false';
      body.dataset.severity = a.severity;
      $('idle').hidden = true;
      var box = $('alert');
      box.hidden = false;
      box.dataset.id = a.alert_id;
      box.lang = l;
      $('alert-severity').textContent = localized(SEVERITY[a.severity] || SEVERITY.severe, l);
      $('alert-drill').hidden = !a.drill;
      $('alert-issued').textContent = fmt(localized(TEXT.issued, l), hhmm(new Date(a.issued_at)));
      $('alert-title').textContent = pick(a.title, l);
      $('alert-body').textContent = pick(a.body, l);
      $('alert-expires').textContent = fmt(localized(TEXT.until, l), hhmm(new Date(a.expires_at)));
      var more = $('more');
      more.textContent = '';
      list.slice(1, 4).forEach(function (o) {
        var li = document.createElement('li');
        if (o.drill) {
          var chip = document.createElement('span');
          chip.className = 'drill-chip';
          chip.textContent = '訓練 / DRILL';
          li.appendChild(chip);
        }
        li.appendChild(document.createTextNode(pick(o.title, l)));
        more.appendChild(li);
      });
      more.hidden = list.length < 2;
      setDrill(a.drill, l);
      renderLangs(langs, l);
    }
    var n = $('notice');
    if (notice && notice.until > Date.now()) {
      n.textContent = notice.text;
      n.hidden = false;
    } else {
      n.hidden = true;
    }
    renderConn();
  }

  function setDrill(on, lang) {
    ['drill-top', 'drill-bottom'].forEach(function (id) { $(id).hidden = !on; });
    if (on) {
      var t = localized(TEXT.drill, lang);
      if (lang !== 'en') { t += ' ・ ' + TEXT.drill.en; }
      document.querySelectorAll('[data-drill-text]').forEach(function (e) { e.textContent = t; });
    }
  }

  function renderLangs(langs, cur) {
    var el = $('langs');
    el.textContent = '';
    langs.forEach(function (l) {
      var s = document.createElement('span');
      s.textContent = LANG_NAMES[l] || l;
      if (l === cur) { s.className = 'current'; }
      el.appendChild(s);
    });
  }

  function renderConn() {
    var c = $('conn');
    if (lostSince) {
      c.dataset.state = 'lost';
      var t = hhmm(lostSince);
      c.textContent = '接続が切れています ' + t + ' から ・ Connection lost since ' + t;
    } else if (lastSeen) {
      c.dataset.state = 'live';
      c.textContent = '受信中 ・ Live ' + hhmmss(new Date(lastSeen));
    } else {
      c.dataset.state = 'connecting';
      c.textContent = '接続中… ・ Connecting…';
    }
  }

  function seen() {
    lastSeen = Date.now();
    lostSince = null;
  }
  function lost() {
    if (!lostSince) { lostSince = new Date(); }
    renderConn();
  }

  function connect() {
    lastAttempt = Date.now();
    es = new EventSource('/signage/' + encodeURIComponent(screenID) + '/events');
    es.addEventListener('state', function (e) {
      try { state = JSON.parse(e.data); } catch (err) { return; }
      seen();
      save();
      render();
    });
    es.addEventListener('cleared', function (e) {
      var c;
      try { c = JSON.parse(e.data); } catch (err) { return; }
      if (state && state.alerts) {
        state.alerts = state.alerts.filter(function (a) { return a.alert_id !== c.alert_id; });
      }
      notice = { text: '前の情報は取り消されました ・ The previous alert was cancelled', until: Date.now() + 120000 };
      seen();
      save();
      render();
    });
    es.addEventListener('ping', function () { seen(); renderConn(); });
    es.onerror = function () {
      if (es.readyState !== EventSource.OPEN) { lost(); }
    };
  }

  // The watchdog notices a silent link (no ping for 2.5 heartbeats) and
  // restarts a stream the browser gave up on (a non-200 answer).
  function watchdog() {
    var now = Date.now();
    var quiet = lastSeen && now - lastSeen > 2.5 * heartbeatMs();
    if (quiet) { lost(); }
    var closed = !es || es.readyState === EventSource.CLOSED;
    if ((quiet || closed) && now - lastAttempt > 5000) {
      if (es) { es.close(); }
      connect();
    }
  }

  load();
  render();
  connect();
  setInterval(function () { watchdog(); render(); }, 1000);
  (function rotate() {
    setTimeout(function () { tick++; render(); rotate(); }, rotateMs());
  })();
})();
