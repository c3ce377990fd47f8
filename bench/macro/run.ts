/**
 * The macro benchmark: one grpc-js upstream (own process) and the same h2load loads through each
 * path — direct, Remora sidecar (plain routing), the same sidecar with every issue-5 resilience
 * feature enabled but sized not to fire (remora-resilience), with issue-7 telemetry (remora-telemetry:
 * metrics + 1 % tracing + error-only access logs; remora-telemetry-full: everything at 100 %), nginx —
 * reporting throughput, latency
 * percentiles (from h2load's per-request log), proxy CPU µs/request and RSS (from /proc), and
 * failures. Prints one markdown table per load plus the issue-5 comparison and writes
 * `bench/results/<timestamp>.{md,json}`. See bench/README.md.
 *
 * Usage: node --import tsx bench/macro/run.ts [--duration 10] [--warmup 2] [--skip-nginx]
 *        [--only direct,remora,remora-resilience,remora-telemetry,remora-telemetry-full,nginx] [--rounds 1] [--cpu-prof] [--remora-bin <file|tsc outDir>]
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { exitedWith, freePort, startUpstream, toolVersion, verifyEcho } from './bench-processes';
import { ChildRegistry } from './children';
import { summarizeProfileFile } from './cpu-profile';
import { measure, runH2load, h2loadArgs, type LoadResult, type LoadSpec } from './h2load';
import { describeFeatureCounters, diffFeatureCounters, fetchFeatureCounters, type FeatureCounters } from './feature-counters';
import { detectNginx, startNginx, type NginxProcess } from './nginx';
import { cpuMicros, cpuMicrosSum, rssBytesSum, RssPeakSampler } from './proc-stats';
import { ECHO_PATH, echoReplyFrameBytes, grpcFramedEchoRequest, repoRoot } from './proto';
import { OtlpSink } from './otlp-sink';
import { resolveRemoraCommand, startRemora, waitRemoraReady, type BootstrapVariant, type RemoraProcess } from './remora';
import {
  PATHS, renderLoadTable, renderResilienceSummary, renderTelemetrySummary, representative, type PathName, type PathOutcome, type Row,
} from './report';

/** Parsed command line. */
export interface Options {
  readonly duration: number;
  readonly warmup: number;
  readonly paths: readonly PathName[];
  /** How many times the whole path sequence runs (each path restarted per round); tables show the median-CPU round. */
  readonly rounds: number;
  readonly cpuProf: boolean;
  readonly remoraBin: string | null;
}

const USAGE = `usage: run [--duration <s>=10] [--warmup <s>=2] [--skip-nginx] [--only <${PATHS.join('|')}>[,...]]
           [--rounds <n>=1] [--cpu-prof] [--remora-bin <bin script | tsc outDir>]`;

/** Parses argv (without node and script). Throws with a usage message on bad input. */
export function parseOptions(argv: readonly string[]): Options {
  let duration = 10;
  let warmup = 2;
  let rounds = 1;
  let skipNginx = false;
  let only: PathName[] | null = null;
  let cpuProf = false;
  let remoraBin: string | null = null;
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
    return v;
  };
  const seconds = (v: string, flag: string, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > 600) throw new Error(`${flag}: expected an integer ${min}..600, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const flag = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const inline = a.startsWith('--') && eq > 0 ? a.slice(eq + 1) : null;
    const take = (): string => {
      if (inline !== null) return inline;
      const v = value(i, flag);
      i++;
      return v;
    };
    switch (flag) {
      case '--duration':
        duration = seconds(take(), flag, 1);
        break;
      case '--warmup':
        warmup = seconds(take(), flag, 0);
        break;
      case '--rounds': {
        const v = take();
        rounds = Number(v);
        if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new Error(`--rounds: expected an integer 1..20, got ${v}`);
        break;
      }
      case '--skip-nginx':
        skipNginx = true;
        break;
      case '--only': {
        only = [];
        for (const p of take().split(',')) {
          if (!(PATHS as readonly string[]).includes(p)) throw new Error(`--only: unknown path ${p} (${PATHS.join(', ')})`);
          only.push(p as PathName);
        }
        break;
      }
      case '--cpu-prof':
        cpuProf = true;
        break;
      case '--remora-bin':
        remoraBin = take();
        break;
      case '--help':
      case '-h':
        throw new Error(USAGE);
      default:
        throw new Error(`unknown argument ${a}\n${USAGE}`);
    }
  }
  const paths = PATHS.filter((p) => (only === null || only.includes(p)) && !(p === 'nginx' && skipNginx));
  return { duration, warmup, paths, rounds, cpuProf, remoraBin };
}

/** Resolves once 127.0.0.1:port accepts a connection; rejects after timeoutMs or when `alive()` turns false. */
async function waitForPort(port: number, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (!alive()) throw new Error('process exited before listening');
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`127.0.0.1:${port} not accepting after ${timeoutMs} ms`);
}

/** A path ready to be loaded: its URL port, proxy pids (empty for direct), a stopper. */
interface ActivePath {
  readonly port: number;
  readonly proxyPids: () => readonly number[];
  readonly stop: () => Promise<void>;
  readonly note: string;
  /** Null while the proxy is alive, else why it is not (with its log tail). */
  readonly dead: () => string | null;
  /** Reads the sidecar's resilience counters from its admin endpoint; null for direct and nginx. */
  readonly counters: (() => Promise<FeatureCounters>) | null;
}

/** The sidecar bootstrap each Remora path runs. */
const VARIANT_OF: Readonly<Record<PathName, BootstrapVariant>> = {
  direct: 'plain',
  nginx: 'plain',
  remora: 'plain',
  'remora-resilience': 'resilience',
  'remora-telemetry': 'telemetry',
  'remora-telemetry-full': 'telemetry-full',
};

interface Context {
  /** The OTLP collector of the telemetry paths, started on first use. */
  readonly otlpSink: () => Promise<OtlpSink>;
  readonly opts: Options;
  readonly children: ChildRegistry;
  readonly root: string;
  readonly tmp: string;
  readonly upstreamPort: number;
  readonly cpuProfDir: string;
}

async function bringUp(ctx: Context, p: PathName, round: number): Promise<ActivePath> {
  if (p === 'direct') {
    return { port: ctx.upstreamPort, proxyPids: () => [], stop: async () => undefined, note: 'no proxy', dead: () => null, counters: null };
  }
  if (p === 'nginx') {
    const version = detectNginx();
    if (version === null) throw new Error('nginx is not installed (Debian: apt-get install nginx-light)');
    const port = await freePort();
    const nginx: NginxProcess = startNginx(ctx.children, path.join(ctx.tmp, 'nginx'), version, port, ctx.upstreamPort);
    try {
      await waitForPort(port, 10000, () => nginx.master.exitCode === null && nginx.master.signalCode === null);
    } catch (e) {
      await ctx.children.stop(nginx.master);
      throw new Error(`nginx did not start: ${(e as Error).message}\n${nginx.errorLogTail()}`);
    }
    return {
      port,
      proxyPids: () => nginx.workerPids(),
      stop: () => ctx.children.stop(nginx.master),
      note: `nginx ${version}, worker_processes 1, conf ${path.join(nginx.dir, 'nginx.conf')}`,
      dead: () => {
        const exit = exitedWith(nginx.master);
        if (exit === null && nginx.workerPids().length > 0) return null;
        return `nginx ${exit === null ? 'has no worker' : `exited (${exit})`}:\n${nginx.errorLogTail()}`;
      },
      counters: null,
    };
  }
  const cmd = resolveRemoraCommand(ctx.root, ctx.opts.remoraBin, ctx.tmp);
  if (typeof cmd === 'string') throw new Error(cmd);
  const port = await freePort();
  const dir = path.join(ctx.tmp, round === 0 ? p : `${p}-r${round + 1}`);
  const variant = VARIANT_OF[p];
  const telemetry = variant === 'telemetry' || variant === 'telemetry-full'
    ? { otlpPort: (await ctx.otlpSink()).port, accessLogPath: path.join(dir, 'access.log') }
    : null;
  const remora: RemoraProcess = startRemora(
    ctx.children,
    cmd,
    ctx.root,
    dir,
    port,
    ctx.upstreamPort,
    ctx.opts.cpuProf ? ctx.cpuProfDir : null,
    variant,
    telemetry,
  );
  try {
    const admin = await waitRemoraReady(remora, 20000);
    await waitForPort(port, 5000, () => remora.child.exitCode === null);
    const pid = remora.child.pid as number;
    return {
      port,
      proxyPids: () => [pid],
      stop: () => ctx.children.stop(remora.child, 10000),
      note: `${cmd.describe}, ${variant} bootstrap, admin ${admin}, log ${remora.logFile}`,
      dead: () => (exitedWith(remora.child) === null ? null : `sidecar exited (${exitedWith(remora.child)}):\n${remora.logTail()}`),
      counters: () => fetchFeatureCounters(admin),
    };
  } catch (e) {
    await ctx.children.stop(remora.child);
    throw e;
  }
}

/** Runs warm-up plus one measured load on `active`, sampling CPU and RSS around the measured run. */
async function runLoad(ctx: Context, active: ActivePath, upstreamPid: number, spec: LoadSpec, rssIdle: number | null): Promise<Row> {
  const url = `http://127.0.0.1:${active.port}${ECHO_PATH}`;
  if (ctx.opts.warmup > 0) {
    try {
      await runH2load(ctx.children, h2loadArgs(spec, url, ctx.opts.warmup, null), ctx.opts.warmup);
    } catch (e) {
      throw new Error(`during ${spec.id} warm-up: ${active.dead() ?? (e as Error).message}`);
    }
  }
  // Counters are read outside the CPU window: the admin request costs the sidecar some CPU too.
  const features0 = await readCounters(active);
  const pids = active.proxyPids();
  const proxySampler = new RssPeakSampler(() => pids);
  const upstreamSampler = new RssPeakSampler(() => [upstreamPid]);
  const proxyCpu0 = cpuMicrosSum(pids);
  const upCpu0 = cpuMicros(upstreamPid);
  let load: LoadResult;
  let proxyPeak = 0;
  let upstreamPeak = 0;
  try {
    load = await measure(ctx.children, spec, url, ctx.opts.duration, path.join(ctx.tmp, `${spec.id}.log`));
  } catch (e) {
    throw new Error(`during ${spec.id}: ${active.dead() ?? (e as Error).message}`);
  } finally {
    proxyPeak = proxySampler.stop();
    upstreamPeak = upstreamSampler.stop();
  }
  const dead = active.dead();
  if (dead !== null) throw new Error(`during ${spec.id}: ${dead}`);
  if (!(load.done > 0)) {
    throw new Error(`during ${spec.id}: no request completed (h2load: ${load.started} started, ${load.errored} errored)`);
  }
  const proxyCpu = cpuMicrosSum(pids) - proxyCpu0;
  const upCpu = cpuMicros(upstreamPid) - upCpu0;
  const features1 = features0 === null ? null : await readCounters(active);
  const done = load.done > 0 ? load.done : NaN;
  return {
    load,
    proxyCpuUsPerReq: pids.length === 0 ? null : proxyCpu / done,
    proxyRssIdle: pids.length === 0 ? null : rssIdle,
    proxyRssPeak: pids.length === 0 ? null : proxyPeak,
    upstreamCpuUsPerReq: upCpu / done,
    upstreamRssPeak: upstreamPeak,
    features: features0 === null || features1 === null ? null : diffFeatureCounters(features0, features1),
  };
}

/** The path's resilience counters, or null (no admin, or it did not answer: logged, not fatal). */
async function readCounters(active: ActivePath): Promise<FeatureCounters | null> {
  if (active.counters === null) return null;
  try {
    return await active.counters();
  } catch (e) {
    log(`cannot read sidecar counters: ${(e as Error).message}`);
    return null;
  }
}

function loads(tmp: string): LoadSpec[] {
  const empty = path.join(tmp, 'echo-empty.grpc');
  const oneK = path.join(tmp, 'echo-1k.grpc');
  fs.writeFileSync(empty, grpcFramedEchoRequest(0));
  fs.writeFileSync(oneK, grpcFramedEchoRequest(1024));
  const r0 = echoReplyFrameBytes(0);
  const r1k = echoReplyFrameBytes(1024);
  return [
    { id: 'closed-empty', title: 'Closed loop, unary, empty message (-c 16 -m 8)', clients: 16, streams: 8, rpsPerClient: null, bodyFile: empty, replyFrameBytes: r0 },
    { id: 'closed-1k', title: 'Closed loop, unary, 1 KiB payload (-c 16 -m 8)', clients: 16, streams: 8, rpsPerClient: null, bodyFile: oneK, replyFrameBytes: r1k },
    {
      id: 'open-1000rps',
      title: 'Open loop, 1,000 req/s, empty message (-c 10 --rps 100 -m 8)',
      clients: 10,
      streams: 8,
      rpsPerClient: 100,
      bodyFile: empty,
      replyFrameBytes: r0,
    },
  ];
}

/** Entry point: runs everything, prints tables, writes results; returns the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let opts: Options;
  try {
    opts = parseOptions(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  if (toolVersion('h2load', ['--version']) === 'not installed') {
    process.stderr.write('h2load not found (Debian: apt-get install nghttp2-client)\n');
    return 2;
  }
  const children = new ChildRegistry();
  children.install();
  const root = repoRoot();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const resultsDir = path.join(root, 'bench', 'results');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-bench-'));
  process.once('exit', () => fs.rmSync(tmp, { recursive: true, force: true })); // also on SIGINT/error
  const ctx0 = { opts, children, root, tmp, cpuProfDir: path.join(resultsDir, `${stamp}-cpuprof`) };
  const specs = loads(tmp);
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memGB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    nginx: detectNginx() ?? 'not installed',
    h2load: toolVersion('h2load', ['--version']),
    loadAvg1mAtStart: Number(os.loadavg()[0].toFixed(2)),
  };
  log(`machine: ${machine.cpus} cores (${machine.cpuModel}), node ${machine.node}, nginx ${machine.nginx}, ${machine.h2load}`);
  if (machine.loadAvg1mAtStart > 0.5) {
    log(`warning: 1-minute load average is ${machine.loadAvg1mAtStart}; other processes share these cores, expect noise`);
  }
  log(
    `loads: ${specs.length} × paths [${opts.paths.join(', ')}]${opts.rounds > 1 ? ` × ${opts.rounds} rounds` : ''}, ` +
      `${opts.warmup}s warm-up + ${opts.duration}s each; tmp ${tmp}`,
  );

  // Per load, per path: one outcome per round, in round order.
  const outcomes = new Map<string, Map<PathName, PathOutcome[]>>();
  for (const s of specs) outcomes.set(s.id, new Map(opts.paths.map((p) => [p, []])));
  const record = (specId: string, p: PathName, round: number, o: PathOutcome): void => {
    const list = outcomes.get(specId)!.get(p)!;
    if (list.length === round) list.push(o);
  };
  const notes: Record<string, string> = {};
  let upstream: { child: ChildProcess; port: number } | null = null;
  let cpuProfiles: string[] = [];
  let sink: Promise<OtlpSink> | null = null;
  const otlpSink = (): Promise<OtlpSink> => (sink ??= OtlpSink.start());
  try {
    upstream = await startUpstream(children);
    const upstreamPid = upstream.child.pid as number;
    log(`upstream grpc-js on 127.0.0.1:${upstream.port} (pid ${upstreamPid})`);
    const ctx: Context = { ...ctx0, upstreamPort: upstream.port, otlpSink };
    for (let round = 0; round < opts.rounds; round++) {
      const tag = opts.rounds > 1 ? ` [round ${round + 1}/${opts.rounds}]` : '';
      for (const p of opts.paths) {
        let active: ActivePath;
        try {
          active = await bringUp(ctx, p, round);
          const pids = active.proxyPids();
          const idle = pids.length === 0 ? null : rssBytesSum(pids);
          await verifyEcho(active.port);
          notes[p] = active.note;
          log(`${p}${tag}: up on 127.0.0.1:${active.port} (${active.note}); grpc-js Echo verified`);
          try {
            for (const spec of specs) {
              log(`${p}${tag}: ${spec.id} ...`);
              const row = await runLoad(ctx, active, upstreamPid, spec, idle);
              record(spec.id, p, round, { kind: 'row', row });
              log(
                `${p}${tag}: ${spec.id}: ${row.load.rps.toFixed(0)} req/s, p50 ${row.load.p50Ms?.toFixed(2)} ms, p99 ${row.load.p99Ms?.toFixed(2)} ms, ` +
                  `failed ${row.load.failed}` +
                  (row.proxyCpuUsPerReq === null ? '' : `, proxy CPU ${row.proxyCpuUsPerReq.toFixed(1)} µs/req`) +
                  (p === 'remora-resilience' && row.features !== null ? `, features: ${describeFeatureCounters(row.features)}` : ''),
              );
            }
          } finally {
            await active.stop();
          }
        } catch (e) {
          const reason = (e as Error).message;
          log(`${p}${tag}: SKIPPED: ${reason}`);
          for (const spec of specs) record(spec.id, p, round, { kind: 'skipped', reason });
        }
      }
    }
  } finally {
    await children.stopAll();
    if (sink !== null) {
      const s = await (sink as Promise<OtlpSink>);
      log(`OTLP sink received ${s.exports} exports, ${s.bytes} bytes`);
      await s.close();
    }
    if (opts.cpuProf && fs.existsSync(ctx0.cpuProfDir)) {
      cpuProfiles = fs.readdirSync(ctx0.cpuProfDir).map((f) => path.join(ctx0.cpuProfDir, f));
    }
  }

  const tables = specs.map((s) => {
    const shown = new Map<PathName, PathOutcome>();
    for (const [p, list] of outcomes.get(s.id)!) {
      const o = representative(list);
      if (o !== undefined) shown.set(p, o);
    }
    return renderLoadTable(s, shown);
  });
  const resilienceSummary = renderResilienceSummary(specs, outcomes);
  if (resilienceSummary !== '') tables.push(resilienceSummary);
  const telemetrySummary = renderTelemetrySummary(specs, outcomes);
  if (telemetrySummary !== '') tables.push(telemetrySummary);
  const md = [
    `## Macro benchmark ${stamp}`,
    '',
    `Machine: ${machine.cpus} cores (${machine.cpuModel}), ${machine.memGB} GB, ${machine.kernel}; Node ${machine.node}; ` +
      `nginx ${machine.nginx}; ${machine.h2load}; load average at start ${machine.loadAvg1mAtStart}. Each load: ${opts.warmup}s warm-up, then ${opts.duration}s measured ` +
      `(h2load -t 1, h2c). Latency from h2load --log-file (2xx only); CPU and RSS from /proc (nginx: worker).` +
      (opts.rounds > 1 ? ` ${opts.rounds} rounds of the whole path sequence; each table row is the path's median-CPU round (req/s for direct).` : '') +
      (opts.cpuProf ? ' **remora ran under --cpu-prof: profiler overhead inflates its CPU and latency.**' : ''),
    '',
    ...tables.flatMap((t) => [t, '']),
  ].join('\n');
  process.stdout.write(`\n${md}\n`);
  fs.mkdirSync(resultsDir, { recursive: true });
  const json = {
    timestamp: stamp,
    machine,
    options: opts,
    notes,
    // `outcomes`: the outcome each table row shows (one per path, as before --rounds); `rounds`: every round's.
    loads: specs.map((s) => ({
      spec: { ...s, bodyFile: path.basename(s.bodyFile) },
      outcomes: Object.fromEntries([...outcomes.get(s.id)!].map(([p, list]) => [p, representative(list)])),
      rounds: Object.fromEntries(outcomes.get(s.id)!),
    })),
    cpuProfiles,
  };
  fs.writeFileSync(path.join(resultsDir, `${stamp}.md`), md);
  fs.writeFileSync(path.join(resultsDir, `${stamp}.json`), `${JSON.stringify(json, null, 2)}\n`);
  log(`wrote ${path.join(resultsDir, `${stamp}.{md,json}`)}`);
  if (opts.cpuProf) {
    log(
      cpuProfiles.length > 0
        ? `sidecar CPU profile(s): ${cpuProfiles.join(', ')} (open in Chrome DevTools > Performance, or speedscope)`
        : `no CPU profile in ${ctx0.cpuProfDir} (node writes it only when the sidecar exits cleanly on SIGTERM)`,
    );
    for (const file of cpuProfiles) {
      try {
        process.stdout.write(`\nTop self time in ${path.basename(file)} (whole sidecar lifetime, % of busy time):\n\n${summarizeProfileFile(file)}\n`);
      } catch (e) {
        log(`cannot summarise ${file}: ${(e as Error).message}`);
      }
    }
  }
  return 0;
}

function log(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
