/**
 * The `remora sidecar --bootstrap` CLI contract: bad bootstraps (unknown field at top level and inside
 * a typed_config Any, out-of-range port, missing file) exit with code 2 and name the field path on
 * stderr; a good one writes `--admin-address-path`, becomes ready, and exits 0 on SIGTERM.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { bootstrapJson, bootstrapYaml, simpleProxy, writeTempBootstrap } from './fakes/bootstrap';
import { runCli, SidecarProcess } from './fakes/sidecar-process';
import { httpRequest } from './fakes/http-client';
import { freePort } from './fakes/ports';

type Json = Record<string, any>;

async function runWith(doc: Json): Promise<{ code: number | null; stderr: string }> {
  const file = writeTempBootstrap(stringify(doc));
  try {
    const r = await runCli(['sidecar', '--bootstrap', file.path, '--admin-address-path', path.join(file.dir, 'addr')]);
    return { code: r.code, stderr: r.stderr };
  } finally {
    file.cleanup();
  }
}

function base(): Json {
  return bootstrapJson(simpleProxy({ port: 1, http2: true }));
}

describe('sidecar CLI bootstrap validation', { timeout: 90_000 }, () => {
  it('unknown cluster field → exit 2 and stderr names the field path', { timeout: 20_000 }, async () => {
    const doc = base();
    doc['static_resources']['clusters'][0]['not_a_field'] = 1;
    const r = await runWith(doc);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /not_a_field/);
    assert.match(r.stderr, /clusters/);
  });

  it('unknown field inside the HttpConnectionManager typed_config → exit 2 and names it', { timeout: 20_000 }, async () => {
    const doc = base();
    doc['static_resources']['listeners'][0]['filter_chains'][0]['filters'][0]['typed_config']['bogus_hcm_option'] = true;
    const r = await runWith(doc);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /bogus_hcm_option/);
  });

  it('port_value out of range → exit 2 and stderr names port_value', { timeout: 20_000 }, async () => {
    const doc = base();
    doc['static_resources']['listeners'][0]['address']['socket_address']['port_value'] = 70000;
    const r = await runWith(doc);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /port_value/);
    assert.match(r.stderr, /listeners/);
  });

  it('--health-port out of range → exit 2 naming the flag', { timeout: 20_000 }, async () => {
    const r = await runCli(['sidecar', '--bootstrap', 'unused.yaml', '--health-port', '70000']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--health-port/);
  });

  it('missing bootstrap file → exit 2 and stderr names the file', { timeout: 20_000 }, async () => {
    const missing = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'remora-missing-')), 'nope.yaml');
    const r = await runCli(['sidecar', '--bootstrap', missing]);
    fs.rmSync(path.dirname(missing), { recursive: true, force: true });
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes(missing), r.stderr);
  });

  it('a good bootstrap writes the admin address, becomes ready, and exits 0 on SIGTERM', { timeout: 20_000 }, async () => {
    const yaml = bootstrapYaml(simpleProxy({ port: 1, http2: true }));
    assert.ok(parse(yaml));
    const healthPort = await freePort();
    const proc = await SidecarProcess.start(yaml, { drainTime: '1s', extraArgs: ['--health-port', String(healthPort)] });
    try {
      assert.match(proc.adminUrl, /^http:\/\/[^:]+:\d+$/);
      assert.equal((await httpRequest(proc.adminUrl, { path: '/ready' })).status, 200);
      // --health-port: the kubelet's probe path on all interfaces; nothing else of the admin API.
      assert.equal((await httpRequest(`http://127.0.0.1:${healthPort}`, { path: '/healthz/ready' })).status, 200);
      assert.equal((await httpRequest(`http://127.0.0.1:${healthPort}`, { path: '/config_dump' })).status, 404);
      assert.ok((await proc.listenerPort('ingress')) > 0);
      proc.signal('SIGTERM');
      const exit = await proc.waitExit();
      assert.deepEqual(exit, { code: 0, signal: null }, proc.output.stderr);
    } finally {
      await proc.stop();
    }
  });
});
