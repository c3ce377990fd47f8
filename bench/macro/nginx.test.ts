/** Unit tests for the generated nginx config; when nginx is installed it must pass `nginx -t`. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { detectNginx, renderNginxConf } from './nginx';

test('config uses listen ... http2 before 1.25.1 and `http2 on` after', () => {
  const old = renderNginxConf('/d', '1.22.1', 8080, 9090);
  assert.match(old, /listen 127\.0\.0\.1:8080 http2;/);
  assert.match(old, /grpc_pass grpc:\/\/bench_grpc;/);
  assert.match(old, /server 127\.0\.0\.1:9090;/);
  assert.match(old, /access_log off;/);
  assert.match(old, /worker_processes 1;/);
  assert.match(old, /keepalive_requests 1000000;/);
  const modern = renderNginxConf('/d', '1.25.1', 8080, 9090);
  assert.match(modern, /listen 127\.0\.0\.1:8080;\s+http2 on;/);
});

test('generated config passes nginx -t', (t) => {
  const version = detectNginx();
  if (version === null) {
    t.skip('nginx not installed');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-bench-nginx-test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(conf, renderNginxConf(dir, version, 1, 2));
  const r = spawnSync('nginx', ['-t', '-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});
