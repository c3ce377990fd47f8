/**
 * The operator commands of the control plane, as processes: `remora validate` (same errors as the
 * control plane, exit 2 when invalid), `remora control-plane` refusing a bad config with exit 2, and
 * `remora status` reading a live control plane's push status and its last rejected change.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRuntime } from '../src/core/runtime';
import { ControlPlane } from '../src/control-plane/control-plane';
import { runCli } from './fakes/sidecar-process';
import { repoPath } from './fakes/paths';
import { waitFor } from './fakes/wait';
import { httpRequest } from './fakes/http-client';

describe('remora validate / control-plane / status', { timeout: 60_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-cli-cp-'));
  const good = path.join(dir, 'good.yaml');
  const bad = path.join(dir, 'bad.yaml');
  let cp: ControlPlane;
  before(async () => {
    // The copy lives elsewhere: its GrpcTranscoder's relative .proto path becomes absolute.
    const example = fs.readFileSync(repoPath('examples/mesh.yaml'), 'utf8').replace('../proto/greeter.proto', repoPath('proto/greeter.proto'));
    fs.writeFileSync(good, example);
    fs.writeFileSync(bad, example.replace('subset: v2\n      weight: 10', 'subset: v9\n      weight: 10'));
    cp = await ControlPlane.start({ configPath: good, runtime: createRuntime({ logLevel: 'silent' }), xdsPort: 0, adminPort: 0, debounceMs: 20 });
  });
  after(async () => {
    await cp?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('validate: a valid config exits 0', async () => {
    const r = await runCli(['validate', good]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /valid/);
  });

  it('validate: an invalid config exits 2 naming file, document, kind/name and field path', async () => {
    assert.notEqual(fs.readFileSync(bad, 'utf8'), fs.readFileSync(good, 'utf8'));
    const r = await runCli(['validate', bad]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad\.yaml:\d+:\d+: VirtualService\/greeter \(document \d+\) spec\.http\[1\]\.route\[1\]\.destination\.subset/);
  });

  it('control-plane: an invalid initial config exits 2 with the same errors', async () => {
    const r = await runCli(['control-plane', '--config', bad, '--xds-port', '0', '--admin-port', '0']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /destination\.subset/);
  });

  it('status: shows the served generation and the last rejected change', async () => {
    fs.writeFileSync(good, fs.readFileSync(bad, 'utf8'));
    await waitFor(async () => (await httpRequest(`http://127.0.0.1:${cp.adminPort}`, { path: '/debug/config' })).json<{ last_rejected: unknown }>().last_rejected !== null, { timeoutMs: 10_000, what: 'rejection' });
    const r = await runCli(['status', '--control-plane', `127.0.0.1:${cp.adminPort}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^NODE\s+CLUSTER\s+CDS\s+EDS\s+LDS\s+RDS/m);
    assert.match(r.stdout, /config generation 1; last change REJECTED/);
    assert.match(r.stdout, /destination\.subset/);
  });
});
