// Remora mesh dashboard front-end: plain browser JavaScript, no build step. It receives the
// dashboard state (see mesh-dashboard.ts DashboardState) from Server-Sent Events on
// /dashboard/events, falling back to polling /dashboard/api/state while the stream is down, and
// renders the service graph (SVG), golden signals, call edges, sync status and certificate expiry.
// All text is inserted with textContent (NACK messages and names are untrusted).
'use strict';
(function () {
  var SVG_NS = 'http://www.w3.org/2000/svg';
  var TYPES = ['cds', 'eds', 'lds', 'rds', 'sds'];
  var pollTimer = null;
  var latest = null;

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) if (attrs[k] !== null && attrs[k] !== undefined) {
      if (k === 'text') e.textContent = attrs[k]; else if (k === 'className') e.className = attrs[k]; else e.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }

  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG_NS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function td(text, className) { return el('td', { text: text, className: className || null }); }

  function rate(v) { return v === 0 ? '0' : v < 0.01 ? '<0.01' : v < 10 ? v.toFixed(2) : v.toFixed(1); }
  function pct(v) { return v === null ? '-' : (v * 100).toFixed(v === 1 ? 0 : 1) + '%'; }
  function ms(v) { return v === null ? '-' : v < 10 ? v.toFixed(2) + ' ms' : v.toFixed(0) + ' ms'; }

  function until(iso, now) {
    var d = (Date.parse(iso) - now) / 1000;
    var sign = d < 0 ? '-' : '';
    d = Math.abs(d);
    var s = d >= 86400 ? (d / 86400).toFixed(1) + ' d' : d >= 3600 ? (d / 3600).toFixed(1) + ' h' : d >= 60 ? (d / 60).toFixed(0) + ' min' : d.toFixed(0) + ' s';
    return sign + s;
  }

  function fill(tbody, rows) {
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    rows.forEach(function (r) { tbody.appendChild(r); });
  }

  function badge(text, kind) { return el('span', { className: 'badge badge-' + kind, text: text }); }

  function nodeLabel(id, nodes) {
    for (var i = 0; i < nodes.length; i++) if (nodes[i].id === id) return nodes[i].kind === 'service' ? nodes[i].name + '.' + nodes[i].namespace : nodes[i].namespace + '/' + nodes[i].name;
    return id;
  }

  function renderServices(st) {
    fill($('services').tBodies[0], st.services.map(function (s) {
      var tr = el('tr', { 'data-service': s.service, 'data-rps': String(s.rps) });
      tr.appendChild(td(s.name === 'unknown' ? s.service : s.name));
      tr.appendChild(td(s.namespace));
      tr.appendChild(td(rate(s.rps), 'num rps'));
      var ok = el('td', { className: 'num' }, [badge(pct(s.successRate), s.successRate === null ? 'off' : s.successRate >= 0.99 ? 'ok' : s.successRate >= 0.9 ? 'warn' : 'bad')]);
      tr.appendChild(ok);
      tr.appendChild(td(ms(s.p50Ms), 'num'));
      tr.appendChild(td(ms(s.p99Ms), 'num'));
      tr.appendChild(td(s.reporter, 'muted'));
      return tr;
    }));
  }

  function renderEdges(st) {
    fill($('edges').tBodies[0], st.edges.map(function (e) {
      var tr = el('tr', { 'data-edge': e.source + ' -> ' + e.target, 'data-kind': e.kind, 'data-rps': String(e.rps) });
      tr.appendChild(td(nodeLabel(e.source, st.nodes)));
      tr.appendChild(td((e.kind === 'serves' ? 'served by ' : '') + nodeLabel(e.target, st.nodes)));
      tr.appendChild(td(rate(e.rps), 'num rps'));
      tr.appendChild(td(pct(e.successRate), 'num'));
      tr.appendChild(td(e.reporter, 'muted'));
      return tr;
    }));
  }

  function renderGraph(st) {
    var g = $('graph');
    while (g.firstChild) g.removeChild(g.firstChild);
    $('graph-empty').style.display = st.nodes.length === 0 ? '' : 'none';
    g.style.display = st.nodes.length === 0 ? 'none' : '';
    if (st.nodes.length === 0) return;
    // Columns: callers | services | workloads serving them.
    var served = {}, calls = {};
    st.edges.forEach(function (e) { if (e.kind === 'serves') served[e.target] = true; else calls[e.source] = true; });
    var cols = [[], [], []];
    st.nodes.forEach(function (n) {
      if (n.kind === 'service') cols[1].push(n); else if (served[n.id]) cols[2].push(n); else cols[0].push(n);
    });
    var W = 960, NW = 210, NH = 40, GAP = 26, TOP = 30;
    var rows = Math.max(cols[0].length, cols[1].length, cols[2].length, 1);
    var H = TOP + rows * (NH + GAP) + 10;
    g.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    var pos = {};
    var xs = [20, (W - NW) / 2, W - NW - 20];
    ['callers', 'services', 'workloads'].forEach(function (title, c) {
      g.appendChild(svg('text', { x: xs[c] + NW / 2, y: 16, 'text-anchor': 'middle', class: 'sub' }, title));
      var col = cols[c];
      var offset = TOP + ((rows - col.length) * (NH + GAP)) / 2;
      col.forEach(function (n, i) { pos[n.id] = { x: xs[c], y: offset + i * (NH + GAP) }; });
    });
    var defs = svg('defs', {});
    var marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: '10', refY: '5', markerWidth: '7', markerHeight: '7', orient: 'auto-start-reverse' });
    marker.appendChild(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#8a94a8' }));
    defs.appendChild(marker);
    g.appendChild(defs);
    st.edges.forEach(function (e) {
      var a = pos[e.source], b = pos[e.target];
      if (!a || !b) return;
      var forward = b.x >= a.x;
      var x1 = forward ? a.x + NW : a.x, y1 = a.y + NH / 2, x2 = forward ? b.x : b.x + NW, y2 = b.y + NH / 2;
      var mx = (x1 + x2) / 2;
      var cls = 'edge' + (e.rps > 0 ? ' active' : '') + (e.successRate !== null && e.successRate < 0.99 ? ' errors' : '');
      var p = svg('path', { d: 'M ' + x1 + ' ' + y1 + ' C ' + mx + ' ' + y1 + ', ' + mx + ' ' + y2 + ', ' + x2 + ' ' + y2, class: cls, 'marker-end': 'url(#arrow)', 'data-edge': e.source + ' -> ' + e.target });
      g.appendChild(p);
      g.appendChild(svg('text', { x: mx, y: (y1 + y2) / 2 - 4, 'text-anchor': 'middle', class: 'rate' }, rate(e.rps) + ' rps' + (e.successRate !== null && e.successRate < 1 ? ' · ' + pct(e.successRate) : '')));
    });
    st.nodes.forEach(function (n) {
      var p = pos[n.id];
      var grp = svg('g', { class: 'node node-' + n.kind, 'data-node': n.id, transform: 'translate(' + p.x + ',' + p.y + ')' });
      grp.appendChild(svg('rect', { width: NW, height: NH, rx: n.kind === 'service' ? 8 : 20 }));
      grp.appendChild(svg('text', { x: NW / 2, y: 17, 'text-anchor': 'middle' }, n.name));
      grp.appendChild(svg('text', { x: NW / 2, y: 32, 'text-anchor': 'middle', class: 'sub' }, (n.kind === 'service' ? 'service · ' : 'workload · ') + n.namespace));
      g.appendChild(grp);
    });
  }

  function syncBadge(s) {
    var kind = s === 'SYNCED' ? 'ok' : s === 'NACKED' ? 'bad' : s === 'DISCONNECTED' ? 'off' : 'warn';
    return badge(s, kind);
  }

  function renderSidecars(st) {
    var rows = [];
    st.sidecars.forEach(function (s) {
      var tr = el('tr', { 'data-node-id': s.nodeId, 'data-sync': s.sync, className: s.sync === 'NACKED' ? 'nack' : !s.connected ? 'gone' : null });
      tr.appendChild(td(s.nodeId));
      tr.appendChild(td((s.namespace ? s.namespace + '/' : '') + (s.workload || '-')));
      tr.appendChild(el('td', {}, [syncBadge(s.sync)]));
      TYPES.forEach(function (type) {
        var t = null;
        for (var i = 0; i < s.types.length; i++) if (s.types[i].type === type) t = s.types[i];
        if (t === null) { tr.appendChild(td('-', 'muted')); return; }
        var cell = el('td', { className: 'ver', title: 'sent ' + (t.versionSent || '-') + ', acked ' + (t.versionAcked || '-') });
        cell.appendChild(document.createTextNode(t.versionAcked || t.versionSent || '-'));
        cell.appendChild(el('span', { className: 'state' }, [syncBadge(t.state)]));
        tr.appendChild(cell);
      });
      var scrape = s.scrape.state === 'ok' ? 'scraped' : s.scrape.state === 'none' ? 'no admin address' : s.scrape.state === 'pending' ? 'pending' : 'error: ' + (s.scrape.error || '');
      tr.appendChild(td(scrape, s.scrape.state === 'error' ? 'expired' : 'muted'));
      rows.push(tr);
      if (s.nack !== null) {
        var detail = el('tr', { className: 'nack-detail', 'data-nack-for': s.nodeId });
        detail.appendChild(el('td', { colspan: '9', text: 'NACK ' + s.nack }));
        rows.push(detail);
      }
    });
    fill($('sidecars').tBodies[0], rows);
  }

  function renderCerts(st) {
    var now = Date.parse(st.generatedAt);
    var rows = [];
    function row(name, iso, attrs) {
      var tr = el('tr', attrs);
      tr.appendChild(td(name));
      tr.appendChild(td(iso === null ? '-' : iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')));
      var left = iso === null ? null : Date.parse(iso) - now;
      tr.appendChild(td(iso === null ? '-' : until(iso, now), left === null ? 'muted' : left < 0 ? 'expired' : left < 86400000 ? 'soon' : null));
      rows.push(tr);
    }
    if (st.ca !== null) {
      if (st.ca.roots.length === 0) row('CA root (unavailable)', null, { 'data-cert': 'ca' });
      st.ca.roots.forEach(function (r) { row('CA root ' + r.subject, r.notAfter, { 'data-cert': 'ca' }); });
    }
    st.sidecars.forEach(function (s) { row('workload ' + (s.workload || s.nodeId) + ' (' + s.nodeId + ')', s.certExpiry, { 'data-cert': s.nodeId }); });
    fill($('certs').tBodies[0], rows);
  }

  function render(st) {
    latest = st;
    $('generated').textContent = 'updated ' + st.generatedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
    $('window').textContent = '(last ' + st.windowSeconds + ' s)';
    renderGraph(st);
    renderServices(st);
    renderEdges(st);
    renderSidecars(st);
    renderCerts(st);
    document.body.setAttribute('data-generated', st.generatedAt);
  }

  function setLive(text, kind) {
    var b = $('live');
    b.textContent = text;
    b.className = 'badge badge-' + kind;
  }

  function poll() {
    fetch('/dashboard/api/state', { cache: 'no-store' }).then(function (r) { return r.json(); }).then(render).catch(function () { /* next poll */ });
  }

  function startPolling() {
    if (pollTimer !== null) return;
    setLive('polling', 'warn');
    poll();
    pollTimer = setInterval(poll, latest ? Math.max(1000, latest.scrapeIntervalMs) : 5000);
  }

  function stopPolling() {
    if (pollTimer !== null) clearInterval(pollTimer);
    pollTimer = null;
  }

  function connect() {
    if (typeof EventSource === 'undefined') { startPolling(); return; }
    var es = new EventSource('/dashboard/events');
    es.addEventListener('state', function (ev) {
      stopPolling();
      setLive('live', 'ok');
      render(JSON.parse(ev.data));
    });
    es.onerror = function () { startPolling(); };
  }

  connect();
})();
