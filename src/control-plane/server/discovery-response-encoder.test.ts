import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadEnvoyProtos } from '../../xds/protos';
import { encodeResponsePrefix, passThroughSerialize, ResponsePrefixCache, withNonce } from './discovery-response-encoder';

const root = loadEnvoyProtos(['envoy/service/discovery/v3/discovery.proto']);
const DiscoveryResponse = root.lookupType('envoy.service.discovery.v3.DiscoveryResponse');
const ROUTE = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';

function decode(buf: Buffer): Record<string, unknown> {
  return DiscoveryResponse.toObject(DiscoveryResponse.decode(buf), { bytes: Buffer as never, defaults: false }) as Record<string, unknown>;
}

test('prefix + nonce decodes as the whole DiscoveryResponse', () => {
  const resources = [
    { type_url: ROUTE, value: Buffer.from([0x0a, 0x03, 0x61, 0x62, 0x63]) },
    { type_url: ROUTE, value: Buffer.alloc(300, 7) },
  ];
  const prefix = encodeResponsePrefix('v1a2b3', ROUTE, resources, 'remora-cp');
  const msg = decode(withNonce(prefix, '42'));
  assert.equal(msg.version_info, 'v1a2b3');
  assert.equal(msg.type_url, ROUTE);
  assert.equal(msg.nonce, '42');
  assert.deepEqual(msg.control_plane, { identifier: 'remora-cp' });
  const got = msg.resources as { type_url: string; value: Uint8Array }[];
  assert.equal(got.length, 2);
  assert.equal(got[0]!.type_url, ROUTE);
  assert.deepEqual(Buffer.from(got[0]!.value), resources[0]!.value);
  assert.deepEqual(Buffer.from(got[1]!.value), resources[1]!.value);
  // The same prefix with another nonce differs only in the nonce.
  assert.equal(decode(withNonce(prefix, '43')).nonce, '43');
});

test('an empty response and a long nonce still encode correctly', () => {
  const prefix = encodeResponsePrefix('', ROUTE, [], '');
  const long = 'n'.repeat(200);
  const msg = decode(withNonce(prefix, long));
  assert.equal(msg.nonce, long);
  assert.equal(msg.version_info, undefined);
  assert.equal(msg.resources, undefined);
});

test('the prefix cache encodes once per key; the serializer passes Buffers through', () => {
  const cache = new ResponsePrefixCache('cp');
  const a = cache.prefix('k', 'v', ROUTE, []);
  assert.equal(cache.prefix('k', 'v', ROUTE, []), a);
  assert.notEqual(cache.prefix('k2', 'v2', ROUTE, []), a);
  let fallbackCalls = 0;
  const serialize = passThroughSerialize(() => { fallbackCalls++; return Buffer.from('x'); });
  const buf = Buffer.from([1, 2, 3]);
  assert.equal(serialize(buf), buf);
  assert.equal(fallbackCalls, 0);
  assert.deepEqual(serialize({ nonce: '1' }), Buffer.from('x'));
  assert.equal(fallbackCalls, 1);
});
