/**
 * A real browser calls a gRPC service through the proxy with gRPC-Web: headless Chromium (Debian's
 * /usr/bin/chromium via playwright-core) loads a plain HTML page from a test HTTP server on another
 * port (another origin), whose script hand-encodes an Echo request, POSTs it with `fetch` as
 * `application/grpc-web-text` (which needs a CORS preflight, answered by the cors filter from the
 * route's CorsPolicy), decodes the base64 reply frames and trailer frame, and writes the reply and
 * grpc-status into the DOM; the test reads them back. A second call from the same page to a route
 * without a CorsPolicy must be blocked by the browser.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { bootstrapJson, routeTo } from './fakes/bootstrap';
import { EchoServer } from './fakes/echo-server';
import { BrowserFilterListener } from './fakes/grpc-web-rig';

const CHROMIUM = '/usr/bin/chromium';

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>gRPC-Web</title></head>
<body>
<p>reply: <span id="reply"></span></p>
<p>status: <span id="status"></span></p>
<p>blocked: <span id="blocked"></span></p>
<script>
function varint(n) { const out = []; while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n >>>= 7; } out.push(n); return out; }
function encodeEcho(text) {
  const m = new TextEncoder().encode(text);
  return new Uint8Array([0x0a, ...varint(m.length), ...m]);
}
function frame(msg, flags) {
  const out = new Uint8Array(5 + msg.length);
  out[0] = flags; new DataView(out.buffer).setUint32(1, msg.length); out.set(msg, 5);
  return out;
}
function toBase64(bytes) { let s = ''; for (const b of bytes) s += String.fromCharCode(b); return btoa(s); }
function fromBase64Segments(text) {
  // gRPC-Web text responses may be padded per segment: decode 4-character groups.
  const out = [];
  for (let i = 0; i < text.length; i += 4) {
    const bin = atob(text.slice(i, i + 4));
    for (let k = 0; k < bin.length; k++) out.push(bin.charCodeAt(k));
  }
  return new Uint8Array(out);
}
function readVarint(b, pos) { let v = 0, shift = 0; for (;;) { const x = b[pos.i++]; v |= (x & 0x7f) << shift; if (!(x & 0x80)) return v; shift += 7; } }
function decodeEcho(b) {
  const pos = { i: 0 }; let message = '';
  while (pos.i < b.length) {
    const tag = readVarint(b, pos);
    if ((tag & 7) === 2) { const len = readVarint(b, pos); if ((tag >> 3) === 1) message = new TextDecoder().decode(b.subarray(pos.i, pos.i + len)); pos.i += len; }
    else if ((tag & 7) === 0) readVarint(b, pos);
    else throw new Error('wire type ' + (tag & 7));
  }
  return message;
}
async function call(base, text) {
  const res = await fetch(base + '/remora.test.v1.Echo/Unary', {
    method: 'POST',
    headers: { 'content-type': 'application/grpc-web-text', accept: 'application/grpc-web-text', 'x-grpc-web': '1' },
    body: toBase64(frame(encodeEcho(text), 0)),
  });
  const body = fromBase64Segments(await res.text());
  let reply = null, trailers = {};
  for (let i = 0; i + 5 <= body.length;) {
    const flags = body[i]; const len = new DataView(body.buffer, i + 1, 4).getUint32(0); const payload = body.subarray(i + 5, i + 5 + len); i += 5 + len;
    if (flags & 0x80) {
      for (const line of new TextDecoder().decode(payload).split('\\r\\n')) { const c = line.indexOf(':'); if (c > 0) trailers[line.slice(0, c).trim()] = line.slice(c + 1).trim(); }
    } else reply = decodeEcho(payload);
  }
  return { reply, status: trailers['grpc-status'] };
}
(async () => {
  const params = new URLSearchParams(location.search);
  try {
    const r = await call(params.get('proxy'), 'hello from the browser');
    document.getElementById('reply').textContent = r.reply;
    document.getElementById('status').textContent = r.status;
  } catch (e) {
    document.getElementById('status').textContent = 'error: ' + e;
  }
  try {
    await call(params.get('proxy') + '/nocors', 'x');
    document.getElementById('blocked').textContent = 'no';
  } catch (e) {
    document.getElementById('blocked').textContent = 'yes';
  }
})();
</script>
</body></html>`;

describe('gRPC-Web from headless Chromium', {
  skip: fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (Debian package chromium): the browser test cannot run`,
}, () => {
  let echo: EchoServer;
  let proxy: BrowserFilterListener;
  let site: http.Server;
  let siteOrigin: string;

  before(async () => {
    echo = await EchoServer.start();
    site = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE);
    });
    await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
    siteOrigin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    const b = bootstrapJson({
      listeners: [{
        name: 'web',
        routes: [
          // Same service without a CorsPolicy: the browser must refuse the cross-origin call.
          routeTo('echo', { prefix: '/nocors/' }, { prefix_rewrite: '/' }),
          routeTo('echo', { prefix: '/' }, {}, {
            typed_per_filter_config: {
              'envoy.filters.http.cors': {
                '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy',
                allow_origin_string_match: [{ exact: siteOrigin }],
                allow_methods: 'POST, OPTIONS',
                allow_headers: 'content-type,x-grpc-web,x-user-agent,accept',
                expose_headers: 'grpc-status,grpc-message',
                max_age: '600',
              },
            },
          }),
        ],
        hcm: {
          http_filters: [
            { name: 'envoy.filters.http.grpc_web', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb' } },
            { name: 'envoy.filters.http.cors', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors' } },
            { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
          ],
        },
      }],
      clusters: [{ name: 'echo', endpoints: [{ host: '127.0.0.1', port: echo.port }], http2: true }],
    });
    proxy = await BrowserFilterListener.start(b);
  });
  after(async () => {
    await proxy?.close();
    await echo?.close();
    if (site !== undefined) {
      site.closeAllConnections();
      await new Promise<void>((r) => site.close(() => r()));
    }
  });

  it('the page shows the reply of a gRPC call made with gRPC-Web across origins', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      const proxyBase = `http://127.0.0.1:${proxy.port}`;
      await page.goto(`${siteOrigin}/?proxy=${encodeURIComponent(proxyBase)}`);
      await page.waitForFunction("document.getElementById('status').textContent !== '' && document.getElementById('blocked').textContent !== ''");
      assert.equal(await page.textContent('#status'), '0');
      assert.equal(await page.textContent('#reply'), 'hello from the browser');
      assert.equal(await page.textContent('#blocked'), 'yes', 'a route without a CorsPolicy must not be callable cross-origin');
    } finally {
      await browser.close();
    }
  });
});
