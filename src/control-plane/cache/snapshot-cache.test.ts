import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadEnvoyProtos } from '../../xds/protos';
import { ResourceEncoder } from './snapshot-cache';

const root = loadEnvoyProtos();
const CLUSTER = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const cluster = (name: string) => ({ name, type: 'EDS', connect_timeout: { seconds: 1, nanos: 0 } });

test('equal resources in new objects are encoded once (content memo), per generation', () => {
  const enc = new ResourceEncoder(root);
  const a = enc.encode(CLUSTER, cluster('c1'));
  assert.equal(enc.encode(CLUSTER, cluster('c1')), a, 'same content, new object: same encoding');
  assert.notEqual(enc.encode(CLUSTER, cluster('c2')), a);
  enc.nextGeneration();
  assert.equal(enc.encode(CLUSTER, cluster('c1')), a, 'kept from the previous generation');
  enc.nextGeneration();
  enc.nextGeneration();
  const again = enc.encode(CLUSTER, cluster('c1'));
  assert.notEqual(again, a, 'forgotten after two generations without use');
  assert.deepEqual(again, a);
});
