/**
 * HCM header behaviour that Envoy users rely on: the `server` response header (server_name,
 * default "remora"; PASS_THROUGH keeps the upstream's), and x-request-id at the edge
 * (use_remote_address without preserve_external_request_id replaces a client-sent id).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HttpBackend, type BackendEcho } from './fakes/http-backend';
import { httpRequest } from './fakes/http-client';
import { simpleProxy } from './fakes/bootstrap';
import { SidecarHarness } from './fakes/sidecar-harness';

describe('HCM headers', () => {
  let backend: HttpBackend;
  const sidecars: SidecarHarness[] = [];
  before(async () => { backend = await HttpBackend.start('hdr'); });
  after(async () => {
    for (const s of sidecars) await s.close();
    await backend?.close();
  });
  const start = async (hcm: Record<string, unknown>) => {
    const s = await SidecarHarness.start(simpleProxy({ port: backend.port, http2: false, hcm }));
    sidecars.push(s);
    return s;
  };

  it('sets server: remora by default, a configured server_name, and passes through with PASS_THROUGH', { timeout: 20_000 }, async () => {
    const dflt = await start({});
    assert.equal((await httpRequest(dflt.port('ingress'), { path: '/a' })).headers.server, 'remora');
    const named = await start({ server_name: 'edge-7' });
    assert.equal((await httpRequest(named.port('ingress'), { path: '/a' })).headers.server, 'edge-7');
    const pass = await start({ server_header_transformation: 'PASS_THROUGH' });
    const r = await httpRequest(pass.port('ingress'), { path: '/a' });
    assert.notEqual(r.headers.server, 'remora');
  });

  it('replaces a client x-request-id at the edge unless preserve_external_request_id', { timeout: 20_000 }, async () => {
    const edge = await start({ use_remote_address: true });
    const replaced = (await httpRequest(edge.port('ingress'), { path: '/a', headers: { 'x-request-id': 'client-id' } })).json<BackendEcho>();
    assert.notEqual(replaced.headers['x-request-id'], 'client-id');
    const internal = await start({});
    const kept = (await httpRequest(internal.port('ingress'), { path: '/a', headers: { 'x-request-id': 'client-id' } })).json<BackendEcho>();
    assert.equal(kept.headers['x-request-id'], 'client-id');
  });
});
