/**
 * Schema-validation overhead: sidecar CPU per request for a validated pass-through vs a plain
 * pass-through of the same unary gRPC call (a CreateAccountRequest with 11 constrained fields,
 * src/codec/validate/validation-fixtures.ts), measured in one run against one sidecar process with
 * two listeners (`plain`: router only; `validated`: grpc_validation + router). Phases alternate
 * (plain, validated, plain, validated, ...) so drift hits both alike; the sidecar's CPU comes from
 * /proc/<pid>/stat (bench/macro/proc-stats.ts). Target: validated ≤ 1.20 × plain CPU per request.
 * Prints a markdown table.
 *
 *   node --import tsx bench/validation/run.ts [--requests 20000] [--concurrency 32] [--rounds 3] [--cpu-prof <dir>]
 *
 * The same file runs the sidecar child (`--sidecar`), so the measured process holds nothing else.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as readline from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { create, toBinary } from '@bufbuild/protobuf';
import { cpuMicros } from '../macro/proc-stats';
import { bootstrapJson, ROUTER_TYPE, routeTo } from '../../test/fakes/bootstrap';
import { Sidecar } from '../../src/sidecar/sidecar';
import { GRPC_VALIDATION_NAME, GRPC_VALIDATION_TYPE_URL } from '../../src/filters/grpc-validation/config';
import { SAMPLE_SERVICE, sampleDescriptorSet, sampleSchemas, validRequestInit } from '../../src/codec/validate/validation-fixtures';
import { numArg } from '../argv';

const METHOD = `/${SAMPLE_SERVICE}/Create`;


// ------------------------------------------------------------------ child: the sidecar

async function runSidecar(upstreamPort: number): Promise<void> {
  const router = { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } };
  const validation = {
    name: GRPC_VALIDATION_NAME,
    typed_config: { '@type': GRPC_VALIDATION_TYPE_URL, proto_descriptor_bin: Buffer.from(sampleDescriptorSet()).toString('base64'), services: [SAMPLE_SERVICE] },
  };
  const json = bootstrapJson({
    listeners: [
      { name: 'plain', routes: [routeTo('up')], hcm: { http_filters: [router] } },
      { name: 'validated', routes: [routeTo('up')], hcm: { http_filters: [validation, router] } },
    ],
    clusters: [{ name: 'up', endpoints: [{ host: '127.0.0.1', port: upstreamPort }], http2: true }],
  });
  const sidecar = await Sidecar.start({ bootstrapJson: json, logLevel: 'silent' });
  process.stdout.write(`READY ${JSON.stringify({ plain: sidecar.listenerPort('plain'), validated: sidecar.listenerPort('validated') })}\n`);
  process.on('SIGTERM', () => { void sidecar.close().then(() => process.exit(0)); });
}

// ------------------------------------------------------------------ parent: upstream, load, report

const raw = (b: Buffer): Buffer => b;
const DEF: grpc.ServiceDefinition = {
  Create: { path: METHOD, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
};

async function startUpstream(): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  const reply = Buffer.alloc(0);
  server.addService(DEF, { Create: (_c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, reply) });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { server, port };
}

async function startSidecarChild(upstreamPort: number): Promise<{ child: ChildProcess; ports: { plain: number; validated: number } }> {
  const prof = process.argv.indexOf('--cpu-prof');
  const profArgs = prof === -1 ? [] : ['--cpu-prof', '--cpu-prof-dir', process.argv[prof + 1] ?? '.'];
  const child = spawn(process.execPath, [...profArgs, '--import', 'tsx', __filename, '--sidecar', String(upstreamPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
  process.once('exit', () => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const lines = readline.createInterface({ input: child.stdout! });
  const ports = await new Promise<{ plain: number; validated: number }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`sidecar exited with ${code}`)));
    lines.on('line', (l) => { if (l.startsWith('READY ')) resolve(JSON.parse(l.slice(6))); });
  });
  return { child, ports };
}

type Client = grpc.Client & { Create(req: Buffer, cb: (e: grpc.ServiceError | null) => void): void };

/** Sends `total` calls with `concurrency` in flight; resolves the wall time in ms. */
function drive(client: Client, req: Buffer, total: number, concurrency: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    let sent = 0;
    let done = 0;
    const next = (): void => {
      if (sent >= total) return;
      sent++;
      client.Create(req, (err) => {
        if (err) { reject(err); return; }
        done++;
        if (done === total) resolve(Number(process.hrtime.bigint() - start) / 1e6);
        else next();
      });
    };
    for (let i = 0; i < concurrency; i++) next();
  });
}

interface Phase { cpuUs: number; wallMs: number; requests: number }

async function main(): Promise<void> {
  const requests = numArg('requests', 20000);
  const concurrency = numArg('concurrency', 32);
  const rounds = numArg('rounds', 3);
  const { request } = sampleSchemas();
  const req = Buffer.from(toBinary(request, create(request, validRequestInit() as never)));
  const upstream = await startUpstream();
  const { child, ports } = await startSidecarChild(upstream.port);
  const Ctor = grpc.makeGenericClientConstructor(DEF, 'Accounts');
  const clients = {
    plain: new Ctor(`127.0.0.1:${ports.plain}`, grpc.credentials.createInsecure()) as unknown as Client,
    validated: new Ctor(`127.0.0.1:${ports.validated}`, grpc.credentials.createInsecure()) as unknown as Client,
  };
  const totals: Record<'plain' | 'validated', Phase> = { plain: { cpuUs: 0, wallMs: 0, requests: 0 }, validated: { cpuUs: 0, wallMs: 0, requests: 0 } };
  try {
    // Warm-up (JIT, connections, validator plans) on both listeners, not measured.
    await drive(clients.plain, req, Math.min(2000, requests), concurrency);
    await drive(clients.validated, req, Math.min(2000, requests), concurrency);
    for (let r = 0; r < rounds; r++) {
      for (const variant of ['plain', 'validated'] as const) {
        const cpu0 = cpuMicros(child.pid!);
        const wall = await drive(clients[variant], req, requests, concurrency);
        const t = totals[variant];
        t.cpuUs += cpuMicros(child.pid!) - cpu0;
        t.wallMs += wall;
        t.requests += requests;
      }
    }
  } finally {
    clients.plain.close();
    clients.validated.close();
    child.kill('SIGTERM');
    upstream.server.forceShutdown();
  }
  const per = (p: Phase): number => p.cpuUs / p.requests;
  const rps = (p: Phase): number => (p.requests * 1000) / p.wallMs;
  const base = per(totals.plain);
  const ratio = per(totals.validated) / base;
  const lines = [
    `Schema validation overhead (unary, ${requests} requests × ${rounds} rounds per variant, concurrency ${concurrency}, message with 11 constrained fields)`,
    '',
    '| variant | requests | sidecar CPU µs/request | RPS | CPU vs plain |',
    '| --- | ---: | ---: | ---: | ---: |',
    `| plain pass-through | ${totals.plain.requests} | ${base.toFixed(1)} | ${rps(totals.plain).toFixed(0)} | 1.00 |`,
    `| validated pass-through | ${totals.validated.requests} | ${per(totals.validated).toFixed(1)} | ${rps(totals.validated).toFixed(0)} | ${ratio.toFixed(2)} |`,
    '',
    `Target: ≤ 1.20 × plain. ${ratio <= 1.2 ? 'Met' : 'NOT met'} (${((ratio - 1) * 100).toFixed(1)}% more CPU per request).`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

if (process.argv.includes('--sidecar')) {
  void runSidecar(numArg('sidecar', 0));
} else {
  main().catch((err) => { process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`); process.exitCode = 1; });
}
