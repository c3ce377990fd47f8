/** Metadata exchange: the header codec, and the destination side trusting only claims its mTLS peer backs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { IstioMetrics, MAX_CALLERS } from '../istio-metrics';
import type { PeerInfo } from '../stream-info';
import { decodePeerMetadata, encodePeerMetadata, type PeerMetadata } from './peer-metadata';

const CLAIM: PeerMetadata = {
  workload: 'client', namespace: 'demo', serviceAccount: 'client-sa', app: 'client', version: 'v2',
  canonicalService: 'client', canonicalRevision: 'v2', cluster: 'c1',
};
const PEER: PeerInfo = { spiffeId: 'spiffe://cluster.local/ns/demo/sa/client-sa', principal: 'cluster.local/ns/demo/sa/client-sa', namespace: 'demo', serviceAccount: 'client-sa' };

test('encode/decode round trip; malformed or oversized values decode to null without throwing', () => {
  assert.deepEqual(decodePeerMetadata(encodePeerMetadata(CLAIM)), CLAIM);
  for (const bad of ['', 'not base64 json', Buffer.from('{"a":1}').toString('base64url'), Buffer.from('[1,2]').toString('base64url'), 'x'.repeat(2000)]) {
    assert.equal(decodePeerMetadata(bad), null, bad.slice(0, 20));
  }
  fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => { decodePeerMetadata(s); return true; }), { numRuns: 2000 });
});

test('a claim is used only when the verified certificate has its namespace and service account', () => {
  const m = new IstioMetrics(new Registry(), { id: 'n', cluster: 'c', metadata: { WORKLOAD_NAME: 'greeter', NAMESPACE: 'demo' } });
  const ok = m.verifiedCaller(PEER, encodePeerMetadata(CLAIM));
  assert.equal(ok?.workload, 'client');
  assert.equal(ok?.app, 'client');
  assert.equal(ok?.principal, PEER.spiffeId, 'the principal always comes from the certificate');
  assert.equal(m.verifiedCaller(PEER, encodePeerMetadata({ ...CLAIM, namespace: 'prod' })), null, 'another namespace');
  assert.equal(m.verifiedCaller(PEER, encodePeerMetadata({ ...CLAIM, serviceAccount: 'admin' })), null, 'another service account');
  assert.equal(m.verifiedCaller(PEER, 'garbage'), null);
});

test('distinct claims are capped, so a caller cannot grow the label space', () => {
  const m = new IstioMetrics(new Registry(), { id: 'n', cluster: 'c', metadata: {} });
  for (let i = 0; i < MAX_CALLERS; i++) assert.notEqual(m.verifiedCaller(PEER, encodePeerMetadata({ ...CLAIM, workload: `w${i}` })), null);
  assert.equal(m.verifiedCaller(PEER, encodePeerMetadata({ ...CLAIM, workload: 'one-too-many' })), null);
});
