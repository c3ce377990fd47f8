/**
 * RING_HASH through a real sidecar (issue 5): a route `hash_policy` on a header makes every call
 * with the same key land on the same endpoint, while different keys spread over the endpoints;
 * calls without the header still succeed (a random ring point). The remapping bound (adding an
 * endpoint moves about 1/N of keys) is tested on the picker (src/upstream/lb/ring-hash.test.ts).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { routeTo } from './fakes/bootstrap';
import { closeClient, createEchoClient, md, unary, type EchoClient } from './fakes/echo-client';
import { SERVED_BY } from './fakes/echo-proto';
import { EchoServer } from './fakes/echo-server';
import { SidecarHarness } from './fakes/sidecar-harness';

describe('ring hash', { timeout: 60_000 }, () => {
  const servers: EchoServer[] = [];
  let sidecar: SidecarHarness;
  let client: EchoClient;

  before(async () => {
    for (let i = 0; i < 3; i++) servers.push(await EchoServer.start({ id: `ep-${i}` }));
    sidecar = await SidecarHarness.start({
      listeners: [{ name: 'grpc', routes: [routeTo('ring', { prefix: '/' }, { hash_policy: [{ header: { header_name: 'x-user' } }] })] }],
      clusters: [{
        name: 'ring', http2: true, endpoints: servers.map((s) => ({ host: '127.0.0.1', port: s.port })),
        extra: { lb_policy: 'RING_HASH' },
      }],
    });
    client = createEchoClient(sidecar.target('grpc'));
  });

  after(async () => {
    if (client !== undefined) closeClient(client);
    await sidecar?.close();
    await Promise.all(servers.map((s) => s.close()));
  });

  it('the same key always lands on the same endpoint; keys spread over the endpoints', async () => {
    const owner = new Map<string, string>();
    for (let round = 0; round < 3; round++) {
      for (let u = 0; u < 30; u++) {
        const user = `user-${u}`;
        const r = await unary(client, { message: user }, { metadata: md({ 'x-user': user }) });
        assert.equal(r.status.code, grpc.status.OK, r.status.details);
        const servedBy = String(r.headers?.get(SERVED_BY)[0]);
        if (round === 0) owner.set(user, servedBy);
        else assert.equal(servedBy, owner.get(user), `${user} moved from ${owner.get(user)} to ${servedBy}`);
      }
    }
    assert.equal(new Set(owner.values()).size, 3, 'thirty keys use all three endpoints');
    const anonymous = await unary(client, { message: 'no key' });
    assert.equal(anonymous.status.code, grpc.status.OK);
  });
});
