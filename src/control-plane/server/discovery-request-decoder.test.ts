/**
 * The fast DiscoveryRequest decoder must agree with proto-loader's decoder on every request it
 * accepts, and hand anything with a node, an error_detail or another field to the general decoder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { loadAdsDefinition, type WireDiscoveryRequest } from './ads-proto';
import { decodeSimpleDiscoveryRequest, fastRequestDeserialize } from './discovery-request-decoder';

const method = loadAdsDefinition().service['StreamAggregatedResources']!;
const serialize = method.requestSerialize as (v: unknown) => Buffer;
const general = method.requestDeserialize as (b: Buffer) => WireDiscoveryRequest;

const pick = (r: WireDiscoveryRequest): unknown => ({
  version_info: r.version_info, node: r.node, resource_names: r.resource_names, type_url: r.type_url, response_nonce: r.response_nonce, error_detail: r.error_detail,
});

test('ACKs and subscription changes decode exactly like the general decoder', () => {
  const text = fc.string({ unit: 'binary', maxLength: 300 });
  fc.assert(fc.property(text, fc.array(text, { maxLength: 5 }), text, text, (version, names, typeUrl, nonce) => {
    const buf = serialize({ version_info: version, resource_names: names, type_url: typeUrl, response_nonce: nonce });
    const fast = decodeSimpleDiscoveryRequest(buf);
    assert.notEqual(fast, null);
    assert.deepStrictEqual(pick(fast!), pick(general(buf)));
  }), { numRuns: 300 });
});

test('a node, an error_detail or a resource locator falls back to the general decoder', () => {
  const withNode = serialize({ node: { id: 'n1', cluster: 'c' }, type_url: 't' });
  const nack = serialize({ type_url: 't', response_nonce: '3', error_detail: { code: 3, message: 'bad' } });
  const locators = serialize({ type_url: 't', resource_locators: [{ name: 'x' }] });
  for (const buf of [withNode, nack, locators]) {
    assert.equal(decodeSimpleDiscoveryRequest(buf), null);
    assert.deepStrictEqual(pick(fastRequestDeserialize(general)(buf) as WireDiscoveryRequest), pick(general(buf)));
  }
  assert.equal((fastRequestDeserialize(general)(nack) as WireDiscoveryRequest).error_detail!.message, 'bad');
  // Truncated input is not fast-pathed (the general decoder decides what it is).
  const ack = serialize({ type_url: 'type.googleapis.com/x', response_nonce: '12', version_info: 'abc' });
  assert.equal(decodeSimpleDiscoveryRequest(ack.subarray(0, ack.length - 1)), null);
  assert.deepStrictEqual(pick(decodeSimpleDiscoveryRequest(Buffer.alloc(0))!), pick(general(Buffer.alloc(0))));
});
