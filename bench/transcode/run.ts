/**
 * Transcoding throughput (issue 4): the same unary call through one Remora sidecar, as pass-through
 * gRPC (`POST /remora.bench.v1.Bench/Echo`, gRPC-framed protobuf) and as HTTP/JSON transcoded by
 * `envoy.filters.http.grpc_json_transcoder` (`POST /v1/echo` with `{"payload": "<base64>"}`, reply
 * `{"payloadSize": N}`), with an empty and a 10 KiB payload. One sidecar process serves both (two
 * listeners, one upstream cluster to the bench's grpc-js upstream in its own process); h2load
 * (h2c, closed loop) drives each listener in turn, alternating per round, so both paths share the
 * machine's state. Reports req/s, p99 and sidecar CPU µs/request, and the transcoded / pass-through
 * throughput ratio against the ≥ 0.8× target.
 *
 *   npm run build && node dist/bench/transcode/run.js [--duration 10] [--rounds 3] [--only json|grpc] [--cpu-prof <dir>]
 *     [--remora-bin <tsc outDir>]   (default: the repo's dist/)
 *     [--serve]   (diagnosis: start the sidecar, print the h2load command lines, wait for SIGINT)
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { compileProtoSources } from '../../src/config/compile/compile-proto';
import { freePort, startUpstream } from '../macro/bench-processes';
import { ChildRegistry } from '../macro/children';
import { h2loadArgs, measure, type LoadSpec } from '../macro/h2load';
import { cpuMicros } from '../macro/proc-stats';
import { benchProtoPath, ECHO_PATH, echoReplyFrameBytes, grpcFramedEchoRequest, repoRoot } from '../macro/proto';
import { resolveRemoraCommand } from '../macro/remora';
import { numArg } from '../argv';

const TARGET = 0.8;
const SIZES = [0, 10 * 1024] as const;

function argText(name: string): string | null {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? null : process.argv[i + 1] ?? null;
}

/** bench.proto with a `post: "/v1/echo" body: "*"` rule on Echo, compiled to a FileDescriptorSet. */
function descriptorSet(): Buffer {
  const text = fs.readFileSync(benchProtoPath(), 'utf8')
    .replace('package remora.bench.v1;', 'package remora.bench.v1;\nimport "google/api/annotations.proto";')
    .replace('rpc Echo(EchoRequest) returns (EchoReply);', 'rpc Echo(EchoRequest) returns (EchoReply) { option (google.api.http) = { post: "/v1/echo" body: "*" }; }');
  return compileProtoSources([{ name: 'remora/bench/v1/bench.proto', content: text }]);
}

function listener(name: string, port: number, filters: string): string {
  return `  - name: ${name}
    address: { socket_address: { address: 127.0.0.1, port_value: ${port} } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ${name}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes: [{ match: { prefix: / }, route: { cluster: upstream } }]
          http_filters:
${filters}          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
`;
}

function bootstrap(passPort: number, jsonPort: number, upstreamPort: number, descriptorFile: string): string {
  const transcoder = `          - name: envoy.filters.http.grpc_json_transcoder
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder
              proto_descriptor: ${JSON.stringify(descriptorFile)}
              services: [remora.bench.v1.Bench]
`;
  return `node: { id: transcode-bench, cluster: transcode-bench }
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
static_resources:
  listeners:
${listener('passthrough', passPort, '')}${listener('transcoded', jsonPort, transcoder)}  clusters:
  - name: upstream
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
    load_assignment:
      cluster_name: upstream
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${upstreamPort} } } } }] }]
`;
}

function post(port: number, pathName: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: pathName, method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface Row { path: string; size: number; rps: number[]; p99: number[]; cpu: number[] }

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? NaN : s[(s.length - 1) >> 1]!; };

async function main(): Promise<void> {
  const duration = numArg('duration', 10);
  const rounds = numArg('rounds', 3);
  const root = repoRoot();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-transcode-bench-'));
  const children = new ChildRegistry();
  children.install();
  try {
    const cmd = resolveRemoraCommand(root, argText('remora-bin'), tmp);
    if (typeof cmd === 'string') throw new Error(cmd);
    const upstream = await startUpstream(children);
    const descriptorFile = path.join(tmp, 'bench.pb');
    fs.writeFileSync(descriptorFile, descriptorSet());
    const [passPort, jsonPort] = [await freePort(), await freePort()];
    const bootFile = path.join(tmp, 'bootstrap.yaml');
    fs.writeFileSync(bootFile, bootstrap(passPort, jsonPort, upstream.port, descriptorFile));
    const adminFile = path.join(tmp, 'admin');
    const profDir = argText('cpu-prof');
    const nodeArgs = profDir === null ? [] : ['--cpu-prof', '--cpu-prof-dir', path.resolve(profDir)];
    const sidecar = children.track(spawn(process.execPath, [...nodeArgs, cmd.script, ...cmd.scriptArgs, 'sidecar', '--bootstrap', bootFile, '--admin-address-path', adminFile, '--log-level', 'warn'], { stdio: ['ignore', 'inherit', 'inherit'] }));
    for (let i = 0; i < 200 && !fs.existsSync(adminFile); i++) await new Promise((r) => setTimeout(r, 50));
    const check = await post(jsonPort, '/v1/echo', JSON.stringify({ payload: Buffer.alloc(3).toString('base64') }));
    if (check.status !== 200 || check.text !== '{"payloadSize":3}') throw new Error(`transcoded check failed: ${check.status} ${check.text}`);
    const loads: { spec: LoadSpec; path: string; url: string; size: number }[] = [];
    for (const size of SIZES) {
      const grpcBody = path.join(tmp, `grpc-${size}.bin`);
      fs.writeFileSync(grpcBody, grpcFramedEchoRequest(size));
      const jsonBody = path.join(tmp, `json-${size}.json`);
      fs.writeFileSync(jsonBody, JSON.stringify(size === 0 ? {} : { payload: Buffer.alloc(size, 7).toString('base64') }));
      const jsonReply = size === 0 ? '{}' : `{"payloadSize":${size}}`;
      const base = { clients: 16, streams: 8, rpsPerClient: null };
      loads.push({ path: 'pass-through gRPC', size, url: `http://127.0.0.1:${passPort}${ECHO_PATH}`, spec: { ...base, id: `grpc-${size}`, title: '', bodyFile: grpcBody, replyFrameBytes: echoReplyFrameBytes(size) } });
      loads.push({ path: 'transcoded JSON', size, url: `http://127.0.0.1:${jsonPort}/v1/echo`, spec: { ...base, id: `json-${size}`, title: '', bodyFile: jsonBody, replyFrameBytes: Buffer.byteLength(jsonReply), headers: ['content-type: application/json'] } });
    }
    if (process.argv.includes('--serve')) {
      // Diagnosis: keep the sidecar up and print what h2load needs; stop with SIGINT/SIGTERM.
      for (const l of loads) process.stdout.write(`${l.spec.id}: h2load ${h2loadArgs(l.spec, l.url, duration, null).map((a) => (/^[\w./:=-]+$/.test(a) ? a : `'${a}'`)).join(' ')}\n`);
      process.stdout.write(`sidecar pid ${sidecar.pid}\n`);
      await new Promise<void>((resolve) => { process.once('SIGINT', resolve); process.once('SIGTERM', resolve); });
      return;
    }
    const only = argText('only');
    if (only !== null) loads.splice(0, loads.length, ...loads.filter((l) => l.spec.id.startsWith(only)));
    const rows = new Map<string, Row>(loads.map((l) => [l.spec.id, { path: l.path, size: l.size, rps: [], p99: [], cpu: [] }]));
    const pid = sidecar.pid!;
    for (let r = 0; r < rounds; r++) {
      for (const l of loads) {
        await measure(children, l.spec, l.url, 2, path.join(tmp, 'warm.log'));
        const c0 = cpuMicros(pid);
        const res = await measure(children, l.spec, l.url, duration, path.join(tmp, `${l.spec.id}.log`));
        const cpu = (cpuMicros(pid) - c0) / res.done;
        if (res.failed + res.errored + res.missingReplies + res.non2xx > 0) throw new Error(`${l.spec.id}: ${res.failed} failed, ${res.non2xx} non-2xx, ${res.missingReplies} without reply`);
        const row = rows.get(l.spec.id)!;
        row.rps.push(res.rps);
        row.p99.push(res.p99Ms ?? NaN);
        row.cpu.push(cpu);
        process.stderr.write(`round ${r + 1}: ${l.spec.id}: ${res.rps.toFixed(0)} req/s, p99 ${res.p99Ms?.toFixed(2)} ms, sidecar ${cpu.toFixed(0)} µs/req\n`);
      }
    }
    const lines = [
      `Transcoding vs pass-through, one sidecar (${os.cpus().length} cores, node ${process.version}); h2load -c 16 -m 8 -t 1, ${duration} s per load, ${rounds} alternating rounds, medians.`,
      '',
      '| payload | path | req/s | p99 ms | sidecar CPU µs/req | throughput vs pass-through | target |',
      '| ---: | --- | ---: | ---: | ---: | ---: | --- |',
    ];
    for (const size of SIZES) {
      const g = rows.get(`grpc-${size}`);
      const j = rows.get(`json-${size}`);
      if (g === undefined || j === undefined) continue;
      const ratio = median(j.rps) / median(g.rps);
      lines.push(`| ${size} B | pass-through gRPC | ${median(g.rps).toFixed(0)} | ${median(g.p99).toFixed(2)} | ${median(g.cpu).toFixed(0)} | | |`);
      lines.push(`| ${size} B | transcoded JSON | ${median(j.rps).toFixed(0)} | ${median(j.p99).toFixed(2)} | ${median(j.cpu).toFixed(0)} | ${ratio.toFixed(2)}× | ≥ ${TARGET}×: ${ratio >= TARGET ? 'met' : '**not met**'} |`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await children.stopAll();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
