/**
 * The system under test: a Remora sidecar started from an Envoy v3 Bootstrap generated here (one
 * h2c/HTTP1 listener → HCM with an inline route `prefix: /` → STATIC h2 cluster `upstream`; admin
 * on 127.0.0.1:0), either plain or with every issue-5 resilience feature enabled but not firing. Knows how to find a runnable CLI (the repo's `bin/remora.js` over `dist/`, or a
 * private build given by `--remora-bin`), start it (optionally under `--cpu-prof`), and wait until
 * the admin `/ready` endpoint answers 200 — or explain precisely why it cannot.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { ChildRegistry } from './children';

/** How to launch the Remora CLI: `node [nodeArgs] script [scriptArgs] sidecar ...`. */
export interface RemoraCommand {
  readonly script: string;
  readonly scriptArgs: readonly string[];
  /** Human description for reports. */
  readonly describe: string;
}

/**
 * Resolves the CLI to run. `bin` null → `<root>/bin/remora.js`, which needs `<root>/dist/src/cli/main.js`
 * (`npm run build`). `bin` a directory → a tsc outDir (e.g. `npx tsc -p . --outDir /tmp/remora-bench-dist`)
 * whose `src/cli/main.js` is loaded through a tiny shim written to `tmpDir`; when that outDir has no
 * `proto/` folder (Remora's own protos, found relative to the compiled code) the repo's `proto/` is
 * symlinked into it. `bin` a file → run as is.
 * Returns a skip reason string when nothing runnable is there.
 */
export function resolveRemoraCommand(root: string, bin: string | null, tmpDir: string): RemoraCommand | string {
  if (bin === null) {
    const main = path.join(root, 'dist', 'src', 'cli', 'main.js');
    if (!fs.existsSync(path.join(root, 'src', 'cli', 'main.ts'))) {
      return 'src/cli/main.ts does not exist yet (the sidecar CLI is not written)';
    }
    if (!fs.existsSync(main)) {
      return `${path.relative(root, main)} not found: run \`npm run build\` first (bin/remora.js loads dist/), or pass --remora-bin <tsc outDir>`;
    }
    return { script: path.join(root, 'bin', 'remora.js'), scriptArgs: [], describe: 'bin/remora.js (dist/)' };
  }
  const abs = path.resolve(bin);
  if (!fs.existsSync(abs)) return `--remora-bin ${abs} does not exist`;
  if (fs.statSync(abs).isDirectory()) {
    const main = path.join(abs, 'src', 'cli', 'main.js');
    if (!fs.existsSync(main)) return `--remora-bin ${abs}: ${main} not found (expected a tsc outDir)`;
    // src/xds/protos.ts finds Remora's own protos in a `proto/` folder above the compiled file; an
    // outDir outside the repo has none, so link the repo's in (once; an existing entry is left alone).
    const protoLink = path.join(abs, 'proto');
    const repoProto = path.join(root, 'proto');
    if (!fs.existsSync(protoLink) && fs.existsSync(repoProto)) {
      try {
        fs.symlinkSync(repoProto, protoLink, 'dir');
      } catch (e) {
        return `--remora-bin ${abs}: no proto/ folder and cannot link ${repoProto} there (${(e as Error).message}); run \`ln -s ${repoProto} ${protoLink}\``;
      }
    }
    const shim = path.join(tmpDir, 'remora-shim.js');
    fs.writeFileSync(shim, "'use strict';\nrequire(process.argv[2]).main(process.argv.slice(3));\n");
    return { script: shim, scriptArgs: [main], describe: `${main} (via shim)` };
  }
  return { script: abs, scriptArgs: [], describe: abs };
}

/**
 * Which bootstrap the sidecar runs. `plain`: routing only (the cluster still gets Remora's default
 * circuit-breaker limits and retry budget, which is what "no resilience config" means in Remora).
 * `resilience` (issue 5): every resilience feature enabled but sized never to fire — see RESILIENCE.
 */
export type BootstrapVariant = 'plain' | 'resilience' | 'telemetry' | 'telemetry-full';

/**
 * Where the telemetry variants send their output (issue 7): the OTLP/gRPC collector the bench runs
 * (otlp-sink.ts) and the access-log file.
 */
export interface TelemetryTargets {
  readonly otlpPort: number;
  readonly accessLogPath: string;
}

/**
 * The telemetry variants (issue 7), on top of plain routing, listener `traffic_direction: INBOUND`:
 * - `telemetry`: Istio's standard metrics (`istio.stats`), tracing at 1 % random sampling exported
 *   over OTLP/gRPC, and the JSON access log keeping errors only (`success_sample_percent: 0`);
 * - `telemetry-full`: the same with tracing at 100 % and every request logged.
 */
export const TELEMETRY = {
  sampledPercent: 1,
  fullPercent: 100,
} as const;

function telemetryYaml(variant: BootstrapVariant, t: TelemetryTargets | null): string {
  if (variant !== 'telemetry' && variant !== 'telemetry-full') return '';
  if (t === null) throw new Error(`the ${variant} bootstrap needs telemetry targets`);
  const full = variant === 'telemetry-full';
  return `          tracing:
            random_sampling: { value: ${full ? TELEMETRY.fullPercent : TELEMETRY.sampledPercent} }
            provider:
              name: envoy.tracers.opentelemetry
              typed_config:
                "@type": type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig
                service_name: remora-bench
                grpc_service:
                  google_grpc: { target_uri: "127.0.0.1:${t.otlpPort}", stat_prefix: otel }
          access_log:
          - name: remora.access_loggers.json
            typed_config:
              "@type": type.googleapis.com/remora.access_loggers.v1.JsonAccessLog
              path: ${JSON.stringify(t.accessLogPath)}
              success_sample_percent: ${full ? 100 : 0}
`;
}

/**
 * The knobs of the `resilience` bootstrap, sized so that nothing fires under the bench loads
 * (≤ 128 requests in flight, ≤ ~10k req/s, sub-second latency):
 * - route `retry_policy`: `retry_on` gRPC unavailable + reset + connect-failure, `num_retries` 2,
 *   `per_try_timeout` 5 s (p99 is ~0.1 s), so every call is retry-eligible (its body is kept for replay)
 *   and arms a per-try timer, but never retries;
 * - cluster `circuit_breakers`: one DEFAULT threshold with every limit at 100 000 and
 *   `retry_budget: {}` (Envoy's 20 % / min 3);
 * - cluster `outlier_detection`: `consecutive_5xx` 5, the other fields Envoy's defaults;
 * - HCM `envoy.filters.http.local_ratelimit` before the router: enabled and enforced for 100 % of
 *   requests, a token bucket of 1e9 tokens refilled with 1e9 every second, `x-ratelimit-*` headers OFF.
 */
export const RESILIENCE = {
  retryOn: 'unavailable,reset,connect-failure',
  numRetries: 2,
  perTryTimeout: '5s',
  circuitBreakerLimit: 100_000,
  consecutive5xx: 5,
  tokenBucketTokens: 1_000_000_000,
  tokenBucketFillInterval: '1s',
  rateLimitStatPrefix: 'bench_rl',
} as const;

function routeYaml(variant: BootstrapVariant): string {
  if (variant !== 'resilience') return '                route: { cluster: upstream }';
  return `                route:
                  cluster: upstream
                  retry_policy:
                    retry_on: ${RESILIENCE.retryOn}
                    num_retries: ${RESILIENCE.numRetries}
                    per_try_timeout: ${RESILIENCE.perTryTimeout}`;
}

function httpFiltersYaml(variant: BootstrapVariant): string {
  const router = `          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router`;
  if (variant === 'plain') return router;
  if (variant === 'telemetry' || variant === 'telemetry-full') {
    return `          - name: istio.stats
            typed_config:
              "@type": type.googleapis.com/remora.filters.http.istio_stats.v1.IstioStats
${router}`;
  }
  return `          - name: envoy.filters.http.local_ratelimit
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
              stat_prefix: ${RESILIENCE.rateLimitStatPrefix}
              token_bucket:
                max_tokens: ${RESILIENCE.tokenBucketTokens}
                tokens_per_fill: ${RESILIENCE.tokenBucketTokens}
                fill_interval: ${RESILIENCE.tokenBucketFillInterval}
              filter_enabled:
                default_value: { numerator: 100, denominator: HUNDRED }
              filter_enforced:
                default_value: { numerator: 100, denominator: HUNDRED }
              enable_x_ratelimit_headers: "OFF"
${router}`;
}

function clusterResilienceYaml(variant: BootstrapVariant): string {
  if (variant !== 'resilience') return '';
  const n = RESILIENCE.circuitBreakerLimit;
  return `    circuit_breakers:
      thresholds:
      - priority: DEFAULT
        max_connections: ${n}
        max_pending_requests: ${n}
        max_requests: ${n}
        max_retries: ${n}
        retry_budget: {}
    outlier_detection:
      consecutive_5xx: ${RESILIENCE.consecutive5xx}
`;
}

/** Renders the Envoy v3 Bootstrap YAML for the sidecar (`variant` defaults to `plain`; the telemetry variants need `telemetry`). */
export function renderBootstrap(listenPort: number, upstreamPort: number, variant: BootstrapVariant = 'plain', telemetry: TelemetryTargets | null = null): string {
  const telemetryVariant = variant === 'telemetry' || variant === 'telemetry-full';
  return `# generated by bench/macro/remora.ts (${variant})
node:
  id: remora-bench
  cluster: remora-bench
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: 0 }
static_resources:
  listeners:
  - name: bench_ingress
    address:
      socket_address: { address: 127.0.0.1, port_value: ${listenPort} }
${telemetryVariant ? '    traffic_direction: INBOUND\n' : ''}    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          codec_type: AUTO
${telemetryYaml(variant, telemetry)}          route_config:
            name: bench_route
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: / }
${routeYaml(variant)}
          http_filters:
${httpFiltersYaml(variant)}
  clusters:
  - name: upstream
    type: STATIC
    connect_timeout: 1s
${clusterResilienceYaml(variant)}    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config:
          http2_protocol_options: {}
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: ${upstreamPort} }
`;
}

/** A started sidecar. */
export class RemoraProcess {
  constructor(
    readonly child: ChildProcess,
    readonly logFile: string,
    readonly adminAddressFile: string,
  ) {}

  /**
   * The sidecar's log for a failure message: its first error-looking line (so a crash's cause is not
   * lost above a long stack) followed by the last `lines` lines.
   */
  logTail(lines = 15): string {
    let all: string[];
    try {
      all = fs.readFileSync(this.logFile, 'utf8').trim().split('\n');
    } catch {
      return '';
    }
    const tail = all.slice(-lines);
    const first = all.find((l) => /error|Error|ERR_|Cannot /.test(l));
    return first !== undefined && !tail.includes(first) ? [first, '...', ...tail].join('\n') : tail.join('\n');
  }
}

/**
 * Writes the `variant` bootstrap into `dir` and starts the sidecar with output to `dir/remora.log`. With
 * `cpuProfDir` non-null Node runs with `--cpu-prof --cpu-prof-dir`; the profile is written when the
 * sidecar exits cleanly. NODE_PATH points at the repo's node_modules so a build outside the repo resolves.
 */
export function startRemora(
  children: ChildRegistry,
  cmd: RemoraCommand,
  root: string,
  dir: string,
  listenPort: number,
  upstreamPort: number,
  cpuProfDir: string | null,
  variant: BootstrapVariant = 'plain',
  telemetry: TelemetryTargets | null = null,
): RemoraProcess {
  fs.mkdirSync(dir, { recursive: true });
  const bootstrap = path.join(dir, 'bootstrap.yaml');
  const adminFile = path.join(dir, 'admin-address');
  const logFile = path.join(dir, 'remora.log');
  fs.writeFileSync(bootstrap, renderBootstrap(listenPort, upstreamPort, variant, telemetry));
  const nodeArgs: string[] = [];
  if (cpuProfDir !== null) {
    fs.mkdirSync(cpuProfDir, { recursive: true });
    nodeArgs.push('--cpu-prof', '--cpu-prof-dir', cpuProfDir);
  }
  const fd = fs.openSync(logFile, 'w');
  const nodePath = [path.join(root, 'node_modules'), process.env.NODE_PATH].filter((p) => p).join(path.delimiter);
  const child = children.track(
    spawn(
      process.execPath,
      [...nodeArgs, cmd.script, ...cmd.scriptArgs, 'sidecar', '--bootstrap', bootstrap, '--admin-address-path', adminFile],
      { stdio: ['ignore', fd, fd], env: { ...process.env, NODE_PATH: nodePath } },
    ),
  );
  fs.closeSync(fd);
  return new RemoraProcess(child, logFile, adminFile);
}

function httpStatus(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/**
 * Waits until the admin address file exists and `GET /ready` returns 200, polling every 100 ms.
 * Rejects with the reason (exit, or timeout with the last status) and the log tail.
 */
export async function waitRemoraReady(p: RemoraProcess, timeoutMs: number): Promise<string> {
  const deadline = performance.now() + timeoutMs;
  let last = 'admin address file not written';
  while (performance.now() < deadline) {
    if (p.child.exitCode !== null || p.child.signalCode !== null) {
      throw new Error(`sidecar exited (${p.child.exitCode ?? p.child.signalCode}) before ready:\n${p.logTail()}`);
    }
    let addr = '';
    try {
      addr = fs.readFileSync(p.adminAddressFile, 'utf8').trim();
    } catch {
      addr = '';
    }
    if (addr !== '') {
      const m = /:(\d+)$/.exec(addr);
      if (m === null) {
        last = `unparseable admin address ${JSON.stringify(addr)}`;
      } else {
        const url = `http://127.0.0.1:${m[1]}/ready`;
        const status = await httpStatus(url, 1000);
        if (status === 200) return `127.0.0.1:${m[1]}`;
        last = `${url} answered ${status === 0 ? 'nothing' : status}`;
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`sidecar not ready after ${timeoutMs} ms (${last}):\n${p.logTail()}`);
}
