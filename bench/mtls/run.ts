/**
 * Issue 6's sidecar-pair benchmark: in one run, the same open-loop load (1,000 req/s of 1 KiB unary
 * `Echo` calls) goes (1) direct, h2load → grpc-js upstream, (2) through the node:http2 "floor" pair:
 * the same topology as (3) with two minimal node:http2 forwarders (floor-forwarder.ts, each its own
 * process, same certificates, TLS 1.3 and SAN pinning) instead of Remora, so the report shows how much
 * of the pair's cost is Node's HTTP/2 + TLS stack (skip with `--no-floor`), and (3) through a pair of
 * Remora sidecars with STRICT mTLS between them: h2load → sidecar A (h2c) → mTLS h2 (SPIFFE identities
 * issued by the project's mesh CA, SANs pinned both ways, TLS 1.3) → sidecar B → upstream (h2c).
 * Reports p50/p99 of each path, the latency each pair adds over direct in the same round, CPU µs per
 * request and RSS of each sidecar/forwarder, failures, and how many A→B handshakes happened during
 * Remora's measured window (sidecar B's accepted-connection counter), with `--rounds N` medians. Writes
 * `bench/results/mtls-<timestamp>.{md,json}`. Reuses the macro bench's h2load runner, /proc readers,
 * upstream process, proto framing and sidecar launcher. `REMORA_BENCH_NODE_ARGS` (space-separated
 * Node flags) applies to the Remora sidecars and the floor forwarders alike.
 *
 * Usage: node --import tsx bench/mtls/run.ts [--duration 10] [--warmup 2] [--rounds 1] [--no-floor] [--remora-bin <file|tsc outDir>]
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exitedWith, freePort, startUpstream, toolVersion, verifyEcho } from '../macro/bench-processes';
import { ChildRegistry } from '../macro/children';
import { h2loadArgs, measure, runH2load, type LoadResult, type LoadSpec } from '../macro/h2load';
import { cpuMicros, rssBytes, RssPeakSampler } from '../macro/proc-stats';
import { ECHO_PATH, echoReplyFrameBytes, grpcFramedEchoRequest, repoRoot } from '../macro/proto';
import { resolveRemoraCommand, waitRemoraReady, type RemoraCommand, type RemoraProcess } from '../macro/remora';
import { LISTENER_B, renderSidecarABootstrap, renderSidecarBBootstrap } from './bootstrap';
import { issueBenchCertificates, type BenchCertFiles } from './certs';
import { diffConnections, fetchPrometheus, listenerConnections, type ListenerConnections } from './prom';
import { selfLaunch, startFloorForwarder, type FloorLaunch, type FloorProcess } from './floor-forwarder';
import { renderPairReport, summarize, type FloorOutcome, type PairRound, type RoundOutcome, type SidecarFigures } from './report';
import { startSidecar } from './sidecar';

/** Parsed command line. */
export interface Options {
  readonly duration: number;
  readonly warmup: number;
  readonly rounds: number;
  readonly remoraBin: string | null;
  /** Measure the node:http2 floor pair in each round (default true; `--no-floor` skips it). */
  readonly floor: boolean;
}

const USAGE = 'usage: run [--duration <s>=10] [--warmup <s>=2] [--rounds <n>=1] [--no-floor] [--remora-bin <bin script | tsc outDir>]';

/** Parses argv (without node and script); `--flag value` or `--flag=value`. Throws with the usage on bad input. */
export function parseOptions(argv: readonly string[]): Options {
  let duration = 10;
  let warmup = 2;
  let rounds = 1;
  let remoraBin: string | null = null;
  let floor = true;
  const int = (v: string, flag: string, min: number, max: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${flag}: expected an integer ${min}..${max}, got ${v}\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const flag = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const take = (): string => {
      if (a.startsWith('--') && eq > 0) return a.slice(eq + 1);
      const v = argv[i + 1];
      if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
      i++;
      return v;
    };
    switch (flag) {
      case '--duration':
        duration = int(take(), flag, 1, 600);
        break;
      case '--warmup':
        warmup = int(take(), flag, 0, 600);
        break;
      case '--rounds':
        rounds = int(take(), flag, 1, 20);
        break;
      case '--remora-bin':
        remoraBin = take();
        break;
      case '--no-floor':
        if (eq > 0) throw new Error(`--no-floor takes no value\n${USAGE}`);
        floor = false;
        break;
      case '--help':
      case '-h':
        throw new Error(USAGE);
      default:
        throw new Error(`unknown argument ${a}\n${USAGE}`);
    }
  }
  return { duration, warmup, rounds, remoraBin, floor };
}

/** The load of issue 6: open loop, 10 connections × 100 req/s = 1,000 req/s, 1 KiB payload. */
export function pairLoad(bodyFile: string): LoadSpec {
  return {
    id: 'open-1000rps-1k',
    title: 'Open loop, 1,000 req/s, 1 KiB unary (-c 10 --rps 100 -m 8): direct vs sidecar A → mTLS → sidecar B',
    clients: 10,
    streams: 8,
    rpsPerClient: 100,
    bodyFile,
    replyFrameBytes: echoReplyFrameBytes(1024),
  };
}

function log(msg: string): void {
  process.stderr.write(`bench-mtls: ${msg}\n`);
}

interface Context {
  readonly opts: Options;
  readonly children: ChildRegistry;
  readonly root: string;
  readonly tmp: string;
  readonly cmd: RemoraCommand;
  readonly certs: BenchCertFiles;
  readonly spec: LoadSpec;
  readonly upstreamPid: number;
  readonly upstreamPort: number;
  readonly floorLaunch: FloorLaunch;
}

/** Warm-up (unmeasured) then one measured h2load run against `port`; `why()` explains a failure (dead sidecar). */
async function warmAndMeasure(ctx: Context, port: number, tag: string, why: () => string | null, onWindow: (phase: 'before' | 'after') => Promise<void>): Promise<LoadResult> {
  const url = `http://127.0.0.1:${port}${ECHO_PATH}`;
  if (ctx.opts.warmup > 0) {
    try {
      await runH2load(ctx.children, h2loadArgs(ctx.spec, url, ctx.opts.warmup, null), ctx.opts.warmup);
    } catch (e) {
      throw new Error(`${tag} warm-up: ${why() ?? (e as Error).message}`);
    }
  }
  await onWindow('before');
  let load: LoadResult;
  try {
    load = await measure(ctx.children, ctx.spec, url, ctx.opts.duration, path.join(ctx.tmp, `${tag}.log`));
  } catch (e) {
    throw new Error(`${tag}: ${why() ?? (e as Error).message}`);
  }
  await onWindow('after');
  const dead = why();
  if (dead !== null) throw new Error(`${tag}: ${dead}`);
  if (!(load.done > 0)) throw new Error(`${tag}: no request completed (h2load: ${load.started} started, ${load.errored} errored)`);
  return load;
}

/** B's listener connection counters, or null when its admin cannot be read (logged). */
async function readB(admin: string): Promise<ListenerConnections | null> {
  try {
    return listenerConnections(await fetchPrometheus(admin), LISTENER_B);
  } catch (e) {
    log(`cannot read sidecar B's /stats/prometheus: ${(e as Error).message}`);
    return null;
  }
}

async function startPairSidecar(ctx: Context, dir: string, yaml: string, name: string): Promise<{ p: RemoraProcess; admin: string }> {
  const p = startSidecar(ctx.children, ctx.cmd, ctx.root, dir, yaml);
  try {
    const admin = await waitRemoraReady(p, 20000);
    return { p, admin };
  } catch (e) {
    await ctx.children.stop(p.child);
    throw new Error(`sidecar ${name}: ${(e as Error).message}`);
  }
}

/**
 * How to run the floor forwarders: like the sidecars, as plain compiled JS when `--remora-bin` is a
 * tsc outDir holding `bench/mtls/floor-forwarder.js` (no tsx loader in the measured process), else
 * this checkout's .ts under the harness's execArgv. Both get the sidecars' `REMORA_BENCH_NODE_ARGS`.
 */
export function floorLaunch(remoraBin: string | null, nodeArgs: readonly string[]): FloorLaunch & { readonly describe: string } {
  if (remoraBin !== null) {
    const js = path.join(path.resolve(remoraBin), 'bench', 'mtls', 'floor-forwarder.js');
    if (fs.existsSync(js)) return { script: js, execArgv: [...nodeArgs], describe: js };
  }
  const self = selfLaunch(nodeArgs);
  return { ...self, describe: `${path.relative(repoRoot(), self.script)} (${self.execArgv.join(' ') || 'no flags'})` };
}

/** Floor B's command line: TLS 1.3 listener on any port requiring a mesh client certificate with A's SAN; h2c to the upstream. */
export function floorBArgs(certs: BenchCertFiles, upstreamPort: number): string[] {
  return [
    '--listen', '0', '--upstream', `127.0.0.1:${upstreamPort}`,
    '--tls-cert', certs.b.certFile, '--tls-key', certs.b.keyFile, '--tls-ca', certs.rootCaFile, '--require-client-cert', '--client-san', certs.a.spiffeId,
  ];
}

/** Floor A's command line: h2c listener on any port; TLS 1.3 to B at `bPort` with a's certificate, B's SAN pinned. */
export function floorAArgs(certs: BenchCertFiles, bPort: number): string[] {
  return [
    '--listen', '0', '--upstream', `127.0.0.1:${bPort}`,
    '--upstream-tls-cert', certs.a.certFile, '--upstream-tls-key', certs.a.keyFile, '--upstream-tls-ca', certs.rootCaFile, '--upstream-san', certs.b.spiffeId,
  ];
}

/**
 * CPU (utime+stime) of two proxy processes and the upstream over one measured window, and each
 * proxy's peak RSS sampled during it. `begin()` at the window's start, `end()` at its end; `stop()`
 * (idempotent) ends the samplers when the window failed.
 */
class WindowMeter {
  private cpu0: [number, number, number] = [0, 0, 0];
  private cpu1: [number, number, number] = [0, 0, 0];
  private samplers: [RssPeakSampler, RssPeakSampler] | null = null;
  private peaks: [number, number] = [0, 0];

  constructor(private readonly pidA: number, private readonly pidB: number, private readonly upstreamPid: number) {}

  begin(): void {
    this.samplers = [new RssPeakSampler(() => [this.pidA]), new RssPeakSampler(() => [this.pidB])];
    this.cpu0 = [cpuMicros(this.pidA), cpuMicros(this.pidB), cpuMicros(this.upstreamPid)];
  }

  end(): void {
    this.cpu1 = [cpuMicros(this.pidA), cpuMicros(this.pidB), cpuMicros(this.upstreamPid)];
    if (this.samplers !== null) this.peaks = [this.samplers[0].stop(), this.samplers[1].stop()];
  }

  stop(): void {
    this.samplers?.[0].stop();
    this.samplers?.[1].stop();
  }

  /** A's figures, B's figures and the upstream's CPU per request, over `done` requests. */
  figures(done: number, idleA: number, idleB: number): { a: SidecarFigures; b: SidecarFigures; upstreamCpuUsPerReq: number } {
    return {
      a: { cpuUsPerReq: (this.cpu1[0] - this.cpu0[0]) / done, rssIdle: idleA, rssPeak: this.peaks[0] },
      b: { cpuUsPerReq: (this.cpu1[1] - this.cpu0[1]) / done, rssIdle: idleB, rssPeak: this.peaks[1] },
      upstreamCpuUsPerReq: (this.cpu1[2] - this.cpu0[2]) / done,
    };
  }
}

/**
 * The floor path of one round: fresh floor forwarders B then A (each its own process, tracked by the
 * ChildRegistry and stopped afterwards), one verifying Echo through them, then warm-up + measured
 * window with CPU and RSS of each from /proc. Never throws: a failure is returned as the outcome.
 */
async function runFloor(ctx: Context, round: number, tag: string): Promise<FloorOutcome> {
  const dir = path.join(ctx.tmp, `round-${round + 1}`, 'floor');
  fs.mkdirSync(dir, { recursive: true });
  const track = (c: ChildProcess): ChildProcess => ctx.children.track(c);
  let a: FloorProcess | null = null;
  let b: FloorProcess | null = null;
  try {
    b = await startFloorForwarder(track, floorBArgs(ctx.certs, ctx.upstreamPort), path.join(dir, 'b.log'), ctx.floorLaunch).catch((e: Error) => {
      throw new Error(`floor B: ${e.message}`);
    });
    const bPort = b.port;
    a = await startFloorForwarder(track, floorAArgs(ctx.certs, bPort), path.join(dir, 'a.log'), ctx.floorLaunch).catch((e: Error) => {
      throw new Error(`floor A: ${e.message}`);
    });
    const fa = a;
    const fb = b;
    const pidA = fa.child.pid as number;
    const pidB = fb.child.pid as number;
    const why = (): string | null => {
      const ea = exitedWith(fa.child);
      if (ea !== null) return `floor A exited (${ea}):\n${fa.logTail()}`;
      const eb = exitedWith(fb.child);
      if (eb !== null) return `floor B exited (${eb}):\n${fb.logTail()}`;
      return null;
    };
    const idleA = rssBytes(pidA);
    const idleB = rssBytes(pidB);
    try {
      await verifyEcho(fa.port, Buffer.alloc(1024, 0x61));
    } catch (e) {
      throw new Error(`floor verification through A → mTLS → B: ${(e as Error).message}\nA log:\n${fa.logTail(8)}\nB log:\n${fb.logTail(8)}`);
    }
    log(`floor${tag}: A on 127.0.0.1:${fa.port}, B on 127.0.0.1:${bPort} (node:http2 forwarders); grpc-js Echo (1 KiB) through A → mTLS → B verified`);
    const meter = new WindowMeter(pidA, pidB, ctx.upstreamPid);
    let load: LoadResult;
    try {
      load = await warmAndMeasure(ctx, fa.port, `floor-r${round + 1}`, why, async (phase) => {
        if (phase === 'before') meter.begin();
        else meter.end();
      });
    } finally {
      meter.stop();
    }
    const outcome: FloorOutcome = { kind: 'measured', floor: { load, ...meter.figures(load.done, idleA, idleB) } };
    log(
      `floor${tag}: ${load.rps.toFixed(0)} req/s, p50 ${load.p50Ms?.toFixed(2)} ms, p99 ${load.p99Ms?.toFixed(2)} ms, failed ${load.failed}; ` +
        `CPU A ${outcome.floor.a.cpuUsPerReq.toFixed(1)} µs/req, B ${outcome.floor.b.cpuUsPerReq.toFixed(1)} µs/req`,
    );
    return outcome;
  } catch (e) {
    const reason = (e as Error).message;
    log(`floor${tag} FAILED: ${reason}`);
    return { kind: 'failed', reason };
  } finally {
    if (a !== null) await ctx.children.stop(a.child, 5000);
    if (b !== null) await ctx.children.stop(b.child, 5000);
  }
}

/** One round: direct, the node:http2 floor pair (unless --no-floor), then the Remora pair (fresh processes) — each warmed up, then measured. */
async function runRound(ctx: Context, round: number): Promise<PairRound> {
  const tag = ctx.opts.rounds > 1 ? ` [round ${round + 1}/${ctx.opts.rounds}]` : '';
  // (1) direct
  let upDirect0 = 0;
  let upDirect1 = 0;
  const direct = await warmAndMeasure(ctx, ctx.upstreamPort, `direct-r${round + 1}`, () => null, async (phase) => {
    if (phase === 'before') upDirect0 = cpuMicros(ctx.upstreamPid);
    else upDirect1 = cpuMicros(ctx.upstreamPid);
  });
  log(`direct${tag}: ${direct.rps.toFixed(0)} req/s, p50 ${direct.p50Ms?.toFixed(2)} ms, p99 ${direct.p99Ms?.toFixed(2)} ms, failed ${direct.failed}`);

  // (2) the node:http2 floor pair.
  const floor = ctx.opts.floor ? await runFloor(ctx, round, tag) : null;

  // (3) the Remora pair: B first (A's cluster points at it), then A.
  const bPort = await freePort();
  const aPort = await freePort();
  const dir = path.join(ctx.tmp, `round-${round + 1}`);
  const b = await startPairSidecar(ctx, path.join(dir, 'b'), renderSidecarBBootstrap({ listenPort: bPort, upstreamPort: ctx.upstreamPort }, ctx.certs), 'B');
  let a: { p: RemoraProcess; admin: string } | null = null;
  try {
    a = await startPairSidecar(ctx, path.join(dir, 'a'), renderSidecarABootstrap({ listenPort: aPort, sidecarBPort: bPort }, ctx.certs), 'A');
    const pa = a.p;
    const pidA = pa.child.pid as number;
    const pidB = b.p.child.pid as number;
    const why = (): string | null => {
      const ea = exitedWith(pa.child);
      if (ea !== null) return `sidecar A exited (${ea}):\n${pa.logTail()}`;
      const eb = exitedWith(b.p.child);
      if (eb !== null) return `sidecar B exited (${eb}):\n${b.p.logTail()}`;
      return null;
    };
    const idleA = rssBytes(pidA);
    const idleB = rssBytes(pidB);
    const b0 = await readB(b.admin);
    try {
      await verifyEcho(aPort, Buffer.alloc(1024, 0x61));
    } catch (e) {
      throw new Error(`pair verification through A → mTLS → B: ${(e as Error).message}\nA log:\n${pa.logTail(8)}\nB log:\n${b.p.logTail(8)}`);
    }
    log(`pair${tag}: A on 127.0.0.1:${aPort} (admin ${a.admin}), B on 127.0.0.1:${bPort} (admin ${b.admin}); grpc-js Echo (1 KiB) through A → mTLS → B verified`);
    let hs0: ListenerConnections | null = null;
    let hs1: ListenerConnections | null = null;
    const meter = new WindowMeter(pidA, pidB, ctx.upstreamPid);
    let pair: LoadResult;
    try {
      pair = await warmAndMeasure(ctx, aPort, `pair-r${round + 1}`, why, async (phase) => {
        if (phase === 'before') {
          // Admin reads stay outside the CPU window: they cost the sidecar CPU too.
          hs0 = await readB(b.admin);
          meter.begin();
        } else {
          meter.end();
          hs1 = await readB(b.admin);
        }
      });
    } finally {
      meter.stop();
    }
    const figures = meter.figures(pair.done, idleA, idleB);
    const measuredHs = hs0 !== null && hs1 !== null ? diffConnections(hs0, hs1) : null;
    const lifetimeHs = b0 !== null && hs1 !== null ? diffConnections(b0, hs1) : null;
    const r: PairRound = {
      direct,
      pair,
      floor,
      a: figures.a,
      b: figures.b,
      upstreamCpuUsPerReqDirect: (upDirect1 - upDirect0) / direct.done,
      upstreamCpuUsPerReqPair: figures.upstreamCpuUsPerReq,
      handshakesMeasured: measuredHs,
      handshakesLifetime: lifetimeHs,
    };
    log(
      `pair${tag}: ${pair.rps.toFixed(0)} req/s, p50 ${pair.p50Ms?.toFixed(2)} ms, p99 ${pair.p99Ms?.toFixed(2)} ms, failed ${pair.failed}; ` +
        `CPU A ${r.a.cpuUsPerReq.toFixed(1)} µs/req, B ${r.b.cpuUsPerReq.toFixed(1)} µs/req; ` +
        `A→B connections in window ${measuredHs === null ? '?' : measuredHs.accepted}, lifetime ${lifetimeHs === null ? '?' : lifetimeHs.accepted}`,
    );
    return r;
  } finally {
    if (a !== null) await ctx.children.stop(a.p.child, 10000);
    await ctx.children.stop(b.p.child, 10000);
  }
}

/** Entry point: runs everything, prints the report, writes results; returns the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let opts: Options;
  try {
    opts = parseOptions(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  const h2loadVersion = toolVersion('h2load', ['--version']);
  if (h2loadVersion === 'not installed') {
    process.stderr.write('h2load not found (Debian: apt-get install nghttp2-client)\n');
    return 2;
  }
  const root = repoRoot();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-mtls-bench-'));
  // REMORA_BENCH_KEEP=1 keeps the temp dir (bootstraps, certificates, sidecar logs) for inspection.
  if (process.env.REMORA_BENCH_KEEP === undefined) process.once('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
  const cmd = resolveRemoraCommand(root, opts.remoraBin, tmp);
  if (typeof cmd === 'string') {
    process.stderr.write(`cannot run the sidecar: ${cmd}\n`);
    return 2;
  }
  const children = new ChildRegistry();
  children.install();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const resultsDir = path.join(root, 'bench', 'results');
  const certs = issueBenchCertificates(path.join(tmp, 'certs'));
  const body = path.join(tmp, 'echo-1k.grpc');
  fs.writeFileSync(body, grpcFramedEchoRequest(1024));
  const spec = pairLoad(body);
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memGB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    h2load: h2loadVersion,
    loadAvg1mAtStart: Number(os.loadavg()[0].toFixed(2)),
  };
  log(`machine: ${machine.cpus} cores (${machine.cpuModel}), node ${machine.node}, ${machine.h2load}; sidecar ${cmd.describe}`);
  if (machine.loadAvg1mAtStart > 0.5) log(`warning: 1-minute load average is ${machine.loadAvg1mAtStart}; other processes share these cores, expect noise`);
  const nodeArgs = (process.env.REMORA_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const floor = floorLaunch(opts.remoraBin, nodeArgs);
  if (opts.floor) log(`floor forwarders: ${floor.describe}`);
  log(`certificates: ${certs.a.spiffeId}, ${certs.b.spiffeId} (root ${certs.rootCaFile}); ${opts.rounds} round(s) × (direct, ${opts.floor ? 'floor, ' : ''}pair), ${opts.warmup}s warm-up + ${opts.duration}s each`);

  const outcomes: RoundOutcome[] = [];
  try {
    const upstream = await startUpstream(children);
    log(`upstream grpc-js on 127.0.0.1:${upstream.port} (pid ${upstream.child.pid})`);
    const ctx: Context = { opts, children, root, tmp, cmd, certs, spec, upstreamPid: upstream.child.pid as number, upstreamPort: upstream.port, floorLaunch: floor };
    await verifyEcho(upstream.port);
    for (let round = 0; round < opts.rounds; round++) {
      try {
        outcomes.push({ kind: 'round', round: await runRound(ctx, round) });
      } catch (e) {
        const reason = (e as Error).message;
        log(`round ${round + 1} FAILED: ${reason}`);
        outcomes.push({ kind: 'failed', reason });
      }
    }
  } finally {
    await children.stopAll();
  }

  const md = [
    `## mTLS sidecar pair (issue 6) ${stamp}`,
    '',
    `Machine: ${machine.cpus} cores (${machine.cpuModel}), ${machine.memGB} GB, ${machine.kernel}; Node ${machine.node}; ${machine.h2load}; ` +
      `load average at start ${machine.loadAvg1mAtStart}. Sidecar: ${cmd.describe}. Each path per round: ${opts.warmup}s warm-up, then ${opts.duration}s measured ` +
      `(h2load -t 1, h2c to the upstream or to sidecar A). A→B: HTTP/2 over TLS 1.3, client certificate ${certs.a.spiffeId} required by B, ` +
      `server SAN ${certs.b.spiffeId} pinned by A, both from one mesh CA. Latency from h2load --log-file (2xx only); CPU and RSS from /proc; ` +
      `handshakes = sidecar B's remora_downstream_connections_total{listener="${LISTENER_B}"} (+ rejected) delta.` +
      (opts.floor
        ? ' Floor = the same topology with two minimal node:http2 forwarders (bench/mtls/floor-forwarder.ts, one process each, same certificates, ' +
          'TLS 1.3, A pins B\'s SAN, B requires a client certificate with A\'s SAN; one upstream session each; no routing, metrics or logging), ' +
          `measured in the same round between direct and the Remora pair; run as ${floor.describe}.`
        : ''),
    '',
    renderPairReport(spec.title, outcomes),
    '',
  ].join('\n');
  process.stdout.write(`\n${md}\n`);
  fs.mkdirSync(resultsDir, { recursive: true });
  const json = {
    timestamp: stamp,
    machine,
    options: opts,
    sidecar: cmd.describe,
    spec: { ...spec, bodyFile: path.basename(spec.bodyFile) },
    identities: { a: certs.a.spiffeId, b: certs.b.spiffeId },
    summary: summarize(outcomes),
    rounds: outcomes,
  };
  fs.writeFileSync(path.join(resultsDir, `mtls-${stamp}.md`), md);
  fs.writeFileSync(path.join(resultsDir, `mtls-${stamp}.json`), `${JSON.stringify(json, null, 2)}\n`);
  log(`wrote ${path.join(resultsDir, `mtls-${stamp}.{md,json}`)}`);
  return outcomes.some((o) => o.kind === 'round') ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`bench-mtls: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
