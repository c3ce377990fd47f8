/**
 * The AdsClient's metric hooks on the wire: a fake ADS server sends a CDS response (ACKed),
 * then one holding an undecodable Cluster (NACKed); the registry shows the ACK and NACK counts, the
 * last NACK time from the client's clock and one `config_info` series for CDS.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { Registry } from 'prom-client';
import { AdsClient, type AdsConfigSink } from './ads-client';
import { loadEnvoyProtos } from './protos';
import { packAny } from '../config/compile/proto-json';
import { loadAdsDefinition } from '../control-plane/server/ads-proto';
import { defaultExtensionRegistry } from '../filters/registry';
import { seededRandom, type Clock } from '../core/clock';

const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';

interface Req { type_url: string; response_nonce: string; error_detail: { message: string } | null }

describe('AdsClient metrics', { timeout: 30_000 }, () => {
  it('counts ACKs and NACKs, stamps the last NACK and tracks the CDS version', async (t) => {
    const definition = loadAdsDefinition();
    const requests: Req[] = [];
    let waiter: (() => void) | null = null;
    let stream: grpc.ServerDuplexStream<Req, unknown> | null = null;
    const server = new grpc.Server();
    server.addService(definition.service, {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<Req, unknown>) => {
        stream = call;
        call.on('data', (req: Req) => { requests.push(req); waiter?.(); });
        call.on('error', () => {});
      },
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<unknown, unknown>) => call.end(),
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    t.after(() => server.forceShutdown());
    const untilRequest = (pred: (r: Req) => boolean): Promise<Req> => new Promise((resolve) => {
      const check = (): void => {
        const found = requests.find(pred);
        if (found !== undefined) { waiter = null; resolve(found); } else waiter = check;
      };
      check();
    });

    const noop = async () => [];
    const sink: AdsConfigSink = { applyClusters: noop, applyEndpoints: noop, applyListeners: noop, applyRoutes: noop };
    const clock: Clock = { now: () => 1_700_000_000_000, monotonic: () => 0 };
    const registry = new Registry();
    const root = loadEnvoyProtos();
    const cluster = packAny(root, CDS, { name: 'c1', type: 'STATIC', connect_timeout: { seconds: 1, nanos: 0 }, load_assignment: { cluster_name: 'c1', endpoints: [] } });
    const client = new AdsClient({
      target: `127.0.0.1:${port}`,
      node: { id: 'n', cluster: 'c', metadata: {} },
      root,
      compileDeps: { filters: defaultExtensionRegistry(), readFile: (p) => fs.readFileSync(p) },
      sink, clock, random: seededRandom(1), logger: pino({ level: 'silent' }), metrics: registry,
    });
    t.after(() => client.close());
    client.start();
    await untilRequest((r) => r.type_url === CDS);
    // (A response with no resources at all would arrive with `resources` undefined: see the report.)
    stream!.write({ version_info: 'v1', resources: [cluster], type_url: CDS, nonce: 'n1' });
    await untilRequest((r) => r.type_url === CDS && r.response_nonce === 'n1');
    stream!.write({ version_info: 'v2', resources: [{ type_url: CDS, value: Buffer.from([0xff, 0xff, 0xff]) }], type_url: CDS, nonce: 'n2' });
    const nack = await untilRequest((r) => r.type_url === CDS && r.response_nonce === 'n2');
    assert.ok(nack.error_detail !== null && nack.error_detail.message !== '', 'the second response is NACKed');

    const text = await registry.metrics();
    assert.match(text, /^remora_xds_acks_total\{type="cds"\} 1$/m);
    assert.match(text, /^remora_xds_nacks_total\{type="cds"\} 1$/m);
    assert.match(text, /^remora_xds_last_nack_timestamp_seconds\{type="cds"\} 1700000000$/m);
    assert.match(text, /^remora_xds_config_info\{type="cds",version="v1"\} 1$/m);
    assert.equal(text.match(/^remora_xds_config_info\{type="cds"/gm)?.length, 1);
  });
});
