/**
 * The reflection-sourced transcoder end to end: a sidecar listener (Envoy bootstrap, a registry
 * with `createReflectionTranscoderRegistration()`) in front of a grpc-js Greeter app serving
 * `@grpc/reflection`'s ReflectionService. Before the app is up, a JSON call gets 503 UNAVAILABLE as
 * Status JSON and a gRPC call passes through; once the descriptors are fetched the google.api.http
 * rules of proto/greeter.proto work (POST body "*", the additional GET bindings); the app then
 * restarts on the same port with a new rule, and the new rule works after the refetch that the
 * dropped connection triggers (the refresh interval is 1 h, so only restart detection can do it).
 *
 * The app serves reflection through test/fakes/reflection-app.ts, which explains why stock
 * @grpc/reflection + proto-loader cannot serve google.api.http options.
 */
import { startListener } from './fakes/listener-rig';
import { repoPath } from './fakes/paths';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Runtime } from '../src/core/runtime';
import { compileProtoSources } from '../src/config/compile/compile-proto';
import { defaultExtensionRegistry } from '../src/filters/registry';
import {
  createReflectionTranscoderRegistration, REFLECTION_TRANSCODER_TYPE_URL, type ReflectionTranscoderRegistration,
} from '../src/filters/grpc-json-transcoder/reflection-transcoder';
import { HCM_TYPE, ROUTER_TYPE, clusterJson } from './fakes/bootstrap';
import { httpRequest } from './fakes/http-client';
import { addReflectionKeepingOptions } from './fakes/reflection-app';

const GREETER = fs.readFileSync(repoPath('proto/greeter.proto'), 'utf8');
/** Version 2 of the app: one more binding on SayHello. */
const GREETER_V2 = GREETER.replace('additional_bindings { get: "/v1/greeter/hello" }', 'additional_bindings { get: "/v1/greeter/hello" }\n      additional_bindings { post: "/v2/greet" body: "*" }');
const SERVICE = 'remora.examples.greeter.v1.Greeter';

/** A Greeter app on `port` (0 = any) with server reflection that keeps custom options (see the file comment). */
async function startApp(port: number, protoText: string, version: string): Promise<{ server: grpc.Server; port: number }> {
  const set = compileProtoSources([{ name: 'remora/examples/greeter/v1/greeter.proto', content: protoText }]);
  const def = protoLoader.loadFileDescriptorSetFromBuffer(Buffer.from(set), { defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { remora: { examples: { greeter: { v1: { Greeter: grpc.ServiceClientConstructor } } } } };
  const server = new grpc.Server();
  server.addService(pkg.remora.examples.greeter.v1.Greeter.service, {
    SayHello(call: grpc.ServerUnaryCall<{ name: string }, unknown>, cb: grpc.sendUnaryData<unknown>) {
      cb(null, { message: `Hello, ${call.request.name || 'world'} (${version})`, index: 0 });
    },
    SayHelloStream(call: grpc.ServerWritableStream<{ name: string }, unknown>) {
      call.write({ message: `Hello, ${call.request.name}`, index: 0 });
      call.end();
    },
  });
  addReflectionKeepingOptions(server, def, set);
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  return { server, port: bound };
}

/** A free port (bound and released), for the app that starts after the sidecar. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

async function startSidecar(appPort: number): Promise<{ port: number; runtime: Runtime; registration: ReflectionTranscoderRegistration; close(): Promise<void> }> {
  const registration = createReflectionTranscoderRegistration();
  const registry = defaultExtensionRegistry().register(registration);
  const bootstrap = {
    node: { id: 'reflection-test', cluster: 'reflection-test' },
    static_resources: {
      listeners: [{
        name: 'ingress',
        address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
        filter_chains: [{
          filters: [{
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM_TYPE,
              stat_prefix: 'ingress',
              codec_type: 'AUTO',
              route_config: { name: 'routes', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'app' } }] }] },
              http_filters: [
                {
                  name: 'envoy.filters.http.grpc_json_transcoder',
                  typed_config: {
                    '@type': REFLECTION_TRANSCODER_TYPE_URL,
                    config: { services: [SERVICE] },
                    reflection_target: `127.0.0.1:${appPort}`,
                    refresh_interval: '3600s',
                  },
                },
                { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
              ],
            },
          }],
        }],
      }],
      clusters: [clusterJson({ name: 'app', endpoints: [{ host: '127.0.0.1', port: appPort }], http2: true })],
    },
  };
  const rig = await startListener(bootstrap, registry);
  return {
    port: rig.port,
    runtime: rig.runtime,
    registration,
    async close() {
      registration.pool.closeAll(rig.runtime);
      await rig.close();
    },
  };
}

/** Waits until the source has a table (each loop awaits a completed fetch attempt, no sleeps). */
async function untilFetched(sidecar: { runtime: Runtime; registration: ReflectionTranscoderRegistration }, check: () => Promise<boolean>): Promise<void> {
  const [source] = sidecar.registration.pool.sourcesForTest(sidecar.runtime);
  assert.ok(source, 'the factory created a reflection source');
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await source.nextFetchForTest();
  }
  assert.fail(`no successful refetch; last error: ${source.lastError}`);
}

function grpcHello(port: number, name: string): Promise<{ status: number; grpcStatus: string | undefined }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const msg = Buffer.from([0x0a, name.length, ...Buffer.from(name)]);
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
    const req = session.request({ ':method': 'POST', ':path': `/${SERVICE}/SayHello`, 'content-type': 'application/grpc', te: 'trailers' });
    let status = 0;
    let grpcStatus: string | undefined;
    req.on('response', (h) => { status = Number(h[':status']); grpcStatus = h['grpc-status'] as string | undefined; });
    req.on('trailers', (t) => { grpcStatus = t['grpc-status'] as string | undefined; });
    req.on('data', () => { /* drain */ });
    req.on('end', () => { session.close(); resolve({ status, grpcStatus }); });
    req.on('error', (e) => { session.destroy(); reject(e); });
    req.end(frame);
  });
}

function fetchCount(runtime: Runtime, result: string): Promise<number> {
  return runtime.metrics.getSingleMetricAsString('remora_transcoder_reflection_fetches_total').then((text) => {
    const m = new RegExp(`result="${result}"[^}]*\\} (\\d+)`).exec(text) ?? new RegExp(`\\{[^}]*result="${result}"[^}]*\\} (\\d+)`).exec(text);
    return m === null ? 0 : Number(m[1]);
  });
}

describe('grpc_json_transcoder with descriptors from gRPC server reflection', { timeout: 30_000 }, () => {
  let appPort: number;
  let app: { server: grpc.Server; port: number } | null = null;
  let sidecar: Awaited<ReturnType<typeof startSidecar>>;

  before(async () => {
    appPort = await freePort();
    sidecar = await startSidecar(appPort);
  });

  after(async () => {
    await sidecar?.close();
    app?.server.forceShutdown();
  });

  it('before the app answers: JSON requests get 503 UNAVAILABLE as Status JSON; non-JSON requests pass through', async () => {
    const [source] = sidecar.registration.pool.sourcesForTest(sidecar.runtime);
    assert.ok(source);
    if (source.lastError === null) await source.nextFetchForTest();
    assert.equal(source.current, null);
    const res = await httpRequest(sidecar.port, { method: 'POST', path: '/v1/greeter/hello', headers: { 'content-type': 'application/json' }, body: '{"name":"Ada"}' });
    assert.equal(res.status, 503, res.text());
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const status = res.json() as { code: number; message: string };
    assert.equal(status.code, 14);
    assert.match(status.message, /server reflection/);
    // A form post is not for the transcoder: it reaches the router (and fails there, the app being down).
    const form = await httpRequest(sidecar.port, { method: 'POST', path: '/v1/greeter/hello', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=b' });
    assert.notEqual(form.headers['content-type'], 'application/json');
    assert.ok(await fetchCount(sidecar.runtime, 'fetch_error') >= 1);
  });

  it('once the app is up: the google.api.http rules fetched through reflection transcode', async () => {
    app = await startApp(appPort, GREETER, 'v1');
    await untilFetched(sidecar, async () => {
      const [s] = sidecar.registration.pool.sourcesForTest(sidecar.runtime);
      return s!.current !== null;
    });
    const post = await httpRequest(sidecar.port, { method: 'POST', path: '/v1/greeter/hello', headers: { 'content-type': 'application/json' }, body: '{"name":"Ada"}' });
    assert.equal(post.status, 200, post.text());
    assert.deepEqual(post.json(), { message: 'Hello, Ada (v1)' });
    const get = await httpRequest(sidecar.port, { path: '/v1/greeter/hello/Grace' });
    assert.equal(get.status, 200, get.text());
    assert.deepEqual(get.json(), { message: 'Hello, Grace (v1)' });
    const notYet = await httpRequest(sidecar.port, { method: 'POST', path: '/v2/greet', headers: { 'content-type': 'application/json' }, body: '{"name":"Ada"}' });
    assert.equal(notYet.status, 404);
    const g = await grpcHello(sidecar.port, 'Linus');
    assert.equal(g.status, 200);
    assert.equal(g.grpcStatus, '0');
    assert.equal(await fetchCount(sidecar.runtime, 'updated'), 1);
  });

  it('the app restarts on the same port with a new rule: the dropped connection triggers a refetch and the new rule works', async () => {
    app!.server.forceShutdown();
    app = await startApp(appPort, GREETER_V2, 'v2');
    await untilFetched(sidecar, async () => (await fetchCount(sidecar.runtime, 'updated')) >= 2);
    const res = await httpRequest(sidecar.port, { method: 'POST', path: '/v2/greet', headers: { 'content-type': 'application/json' }, body: '{"name":"Ada"}' });
    assert.equal(res.status, 200, res.text());
    assert.deepEqual(res.json(), { message: 'Hello, Ada (v2)' });
    const old = await httpRequest(sidecar.port, { path: '/v1/greeter/hello?name=Bob' });
    assert.equal(old.status, 200, old.text());
    assert.deepEqual(old.json(), { message: 'Hello, Bob (v2)' });
  });
});
