/**
 * The xDS push-latency benchmark (issue 3, "Benchmark"). For each client count it: writes a mesh
 * of `--services` services (mesh-gen.ts) to a temp dir, forks the control plane
 * (control-plane-proc.ts, 127.0.0.1, ephemeral ports), forks the load process (clients-proc.ts)
 * with that many ADS streams, waits until every stream is synced, then runs `--rounds` rounds of:
 * arm the clients, rewrite the file atomically (tmp + rename) with a new v1/v2 weight for service
 * 0's VirtualService (every identity calls service 0), and wait until every stream ACKed a new RDS
 * version. The first `--warmup-rounds` rounds (default 3) run the same way but are not pooled: the
 * first changes after start run the reload, translation and push paths before V8 has optimised
 * them and while the heap's young generation is still growing, and were the slowest rounds of
 * every run. The pooled figures describe a control plane that has been running; each warm-up
 * round's p99 has its own column, and every round's figures are printed on stderr. Latencies are reported from the file write (end to end: watch + debounce + YAML parse +
 * validation + translation + push) and from the control plane's "mesh config accepted" log line
 * (the push alone: translation per identity + encoding + send + client ACK). Control-plane RSS
 * (VmRSS) and CPU (utime+stime) come from /proc. Children are killed on every exit path.
 *
 * Usage: node --import tsx bench/xds/run.ts [--services 1000] [--clients 100,1000,10000]
 *        [--rounds 20] [--identities 10] [--debounce-ms 10] [--per-channel 100] [--timeout-s 240]
 *        [--warmup-rounds 3] [--push-batch N] (the ADS server's pushBatchSize; 'Infinity' = every
 *        stream in one turn)
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChildRegistry } from '../macro/children';
import { cpuMicros, rssBytes, RssPeakSampler } from '../macro/proc-stats';
import { generateMesh } from './mesh-gen';
import { arg } from '../argv';

function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

const children = new ChildRegistry();

/** Resolves with the first IPC message of `child` matching `pred`; rejects on timeout or exit. */
function waitMessage<T>(child: ChildProcess, pred: (m: Record<string, unknown>) => boolean, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMsg = (m: Record<string, unknown>): void => {
      if (m?.['type'] === 'error') finish(new Error(`${what}: child error ${String(m['message'])}`));
      else if (pred(m)) finish(null, m as T);
    };
    const onExit = (code: number | null): void => finish(new Error(`${what}: child exited (${code}) first`));
    const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    const finish = (err: Error | null, v?: T): void => {
      clearTimeout(timer);
      child.off('message', onMsg);
      child.off('exit', onExit);
      if (err !== null) reject(err);
      else resolve(v!);
    };
    child.on('message', onMsg);
    child.on('exit', onExit);
  });
}

/** `n` with `d` decimals, or n/a. */
function f(n: number, d = 0): string {
  return Number.isFinite(n) ? n.toFixed(d) : 'n/a';
}

function pct(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

interface CaseResult {
  clients: number;
  syncS: number;
  rounds: number;
  warmupRounds: number;
  /** Per warm-up round, the p99 from the write to the ACKs (the cold changes right after start). */
  warmupP99: number[];
  fromWrite: { p50: number; p99: number; max: number };
  fromAccept: { p50: number; p99: number; max: number };
  acceptAfterWrite: number;
  rssIdleMb: number;
  rssSyncedMb: number;
  rssPeakMb: number;
  cpuSyncS: number;
  cpuPerRoundMs: number;
  /** The load process's CPU per measured round (its 1,000s of client decodes share the two cores). */
  loadCpuPerRoundMs: number;
}

async function runCase(dir: string, clients: number, opts: { services: number; rounds: number; warmupRounds: number; identities: number; debounceMs: number; perChannel: number; timeoutMs: number; pushBatch: string }): Promise<CaseResult> {
  const file = path.join(dir, 'mesh.yaml');
  fs.writeFileSync(file, generateMesh(opts.services));
  const here = __dirname;
  const cp = children.track(fork(path.join(here, 'control-plane-proc.ts'), ['--config', file, '--debounce-ms', String(opts.debounceMs), ...(opts.pushBatch === '' ? [] : ['--push-batch', opts.pushBatch])], {
    execArgv: ['--import', 'tsx', '--max-old-space-size=4096', ...profileArgs(process.env.REMORA_BENCH_CP_PROF)], stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  }));
  const ready = await waitMessage<{ xdsPort: number; pid: number }>(cp, (m) => m['type'] === 'ready', 60_000, 'control plane ready');
  const pid = cp.pid!;
  const rssIdle = rssBytes(pid);
  const cpu0 = cpuMicros(pid);
  const accepted: { generation: number; at: number }[] = [];
  cp.on('message', (m: { type?: string; generation?: number; at?: number }) => {
    if (m?.type === 'accepted') accepted.push({ generation: m.generation ?? 0, at: m.at ?? 0 });
    if (m?.type === 'rejected') process.stderr.write(`config rejected: ${JSON.stringify(m)}\n`);
  });

  const t0 = performance.now();
  const load = children.track(fork(path.join(here, 'clients-proc.ts'), [
    '--target', `127.0.0.1:${ready.xdsPort}`, '--streams', String(clients), '--identities', String(opts.identities),
    '--services', String(opts.services), '--per-channel', String(opts.perChannel),
  ], { execArgv: ['--import', 'tsx', '--max-old-space-size=4096', ...profileArgs(process.env.REMORA_BENCH_LOAD_PROF)], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  load.on('message', (m: { type?: string; open?: number; synced?: number; streams?: number }) => {
    if (m?.type === 'progress') process.stderr.write(`  [${clients}] open ${m.open} synced ${m.synced}\n`);
    if (m?.type === 'ended') process.stderr.write(`  [${clients}] ${m.streams} stream(s) ended\n`);
  });
  await waitMessage(load, (m) => m['type'] === 'synced', opts.timeoutMs, `${clients} streams synced`);
  const syncS = (performance.now() - t0) / 1000;
  const cpuSynced = cpuMicros(pid);
  const rssSynced = rssBytes(pid);
  process.stderr.write(`  [${clients}] synced in ${syncS.toFixed(1)} s; RSS ${(rssSynced / 2 ** 20).toFixed(0)} MB\n`);

  const sampler = new RssPeakSampler(() => [pid], 100);
  const fromWrite: number[] = [];
  const fromAccept: number[] = [];
  const acceptDelay: number[] = [];
  const warmupP99: number[] = [];
  let cpuRounds0 = cpuMicros(pid);
  let loadRounds0 = cpuMicros(load.pid!);
  for (let r = 0; r < opts.warmupRounds + opts.rounds; r++) {
    if (r === opts.warmupRounds) {
      cpuRounds0 = cpuMicros(pid);
      loadRounds0 = cpuMicros(load.pid!);
    }
    load.send({ type: 'arm', round: r });
    await waitMessage(load, (m) => m['type'] === 'armed' && m['round'] === r, 10_000, 'armed');
    const before = accepted.length;
    const weight = 10 + ((r * 7) % 80); // 10..89, never 90 (the generated value), changes every round
    const tmp = file + '.tmp';
    fs.writeFileSync(tmp, generateMesh(opts.services, 0, weight === 90 ? 91 : weight));
    const writeAt = wallNow();
    fs.renameSync(tmp, file);
    const done = await waitMessage<{ ackAt: number[] }>(load, (m) => m['type'] === 'round-done' && m['round'] === r, opts.timeoutMs, `round ${r}`);
    if (accepted.length !== before + 1) throw new Error(`round ${r}: expected one accepted reload, saw ${accepted.length - before}`);
    const acc = accepted[accepted.length - 1]!.at;
    const warmup = r < opts.warmupRounds;
    const round = done.ackAt.map((t) => t - acc).sort((a, b) => a - b);
    process.stderr.write(`  [${clients}] ${warmup ? 'warm-up ' : ''}round ${r}: write→accepted ${f(acc - writeAt, 1)} ms, accepted→ACK p50 ${f(pct(round, 50), 1)} / p99 ${f(pct(round, 99), 1)} / max ${f(round[round.length - 1]!, 1)} ms\n`);
    if (warmup) {
      warmupP99.push(pct(done.ackAt.map((t) => t - writeAt).sort((a, b) => a - b), 99));
      await new Promise((res) => setTimeout(res, 100));
      continue;
    }
    acceptDelay.push(acc - writeAt);
    for (const t of done.ackAt) {
      fromWrite.push(t - writeAt);
      fromAccept.push(t - acc);
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  const cpuRounds = cpuMicros(pid) - cpuRounds0;
  const loadRounds = cpuMicros(load.pid!) - loadRounds0;
  const rssPeak = sampler.stop();
  fromWrite.sort((a, b) => a - b);
  fromAccept.sort((a, b) => a - b);
  acceptDelay.sort((a, b) => a - b);
  load.send({ type: 'stop' });
  cp.send({ type: 'stop' });
  await Promise.all([children.stop(load), children.stop(cp)]);
  const mb = (b: number): number => b / 2 ** 20;
  const stats = (s: number[]): { p50: number; p99: number; max: number } => ({ p50: pct(s, 50), p99: pct(s, 99), max: s[s.length - 1]! });
  return {
    clients, syncS, rounds: opts.rounds, warmupRounds: opts.warmupRounds, warmupP99,
    fromWrite: stats(fromWrite), fromAccept: stats(fromAccept), acceptAfterWrite: pct(acceptDelay, 50),
    rssIdleMb: mb(rssIdle), rssSyncedMb: mb(rssSynced), rssPeakMb: mb(rssPeak),
    cpuSyncS: (cpuSynced - cpu0) / 1e6, cpuPerRoundMs: cpuRounds / 1e3 / opts.rounds,
    loadCpuPerRoundMs: loadRounds / 1e3 / opts.rounds,
  };
}

function table(results: readonly CaseResult[], o: { services: number; identities: number; debounceMs: number }): string {
  const lines = [
    `services ${o.services}, identities ${o.identities}, debounce ${o.debounceMs} ms, node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'})`,
    '',
    '| streams | rounds | warm-up rounds: write→ACK p99 ms | write→ACK p50 / p99 / max ms | accepted→ACK p50 / p99 / max ms | write→accepted p50 ms | sync s | CP RSS idle / synced / peak MB | CP CPU sync s | CP CPU ms/round | load CPU ms/round |',
    '| ---: | ---: | --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: |',
  ];
  for (const r of results) {
    lines.push(`| ${r.clients} | ${r.rounds} | ${r.warmupP99.map((v) => f(v)).join(', ') || '-'} | ${f(r.fromWrite.p50)} / ${f(r.fromWrite.p99)} / ${f(r.fromWrite.max)} | ${f(r.fromAccept.p50, 1)} / ${f(r.fromAccept.p99, 1)} / ${f(r.fromAccept.max, 1)} | ${f(r.acceptAfterWrite)} | ${f(r.syncS, 1)} | ${f(r.rssIdleMb)} / ${f(r.rssSyncedMb)} / ${f(r.rssPeakMb)} | ${f(r.cpuSyncS, 2)} | ${f(r.cpuPerRoundMs)} | ${f(r.loadCpuPerRoundMs)} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  children.install();
  const services = Number(arg('--services', '1000'));
  const clientCounts = arg('--clients', '100,1000,10000').split(',').map(Number);
  const rounds = Number(arg('--rounds', '20'));
  const warmupRounds = Number(arg('--warmup-rounds', '3'));
  const identities = Number(arg('--identities', '10'));
  const debounceMs = Number(arg('--debounce-ms', '10'));
  const perChannel = Number(arg('--per-channel', '100'));
  const timeoutMs = Number(arg('--timeout-s', '240')) * 1000;
  const pushBatch = arg('--push-batch', '');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'remora-xds-bench-'));
  const results: CaseResult[] = [];
  try {
    for (const n of clientCounts) {
      process.stderr.write(`bench/xds: ${n} streams, ${services} services, ${rounds} rounds\n`);
      results.push(await runCase(dir, n, { services, rounds, warmupRounds, identities, debounceMs, perChannel, timeoutMs, pushBatch }));
      process.stdout.write(table(results.slice(-1), { services, identities, debounceMs }).split('\n').slice(-1)[0] + '\n');
    }
  } finally {
    await children.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const out = table(results, { services, identities, debounceMs });
  process.stdout.write('\n' + out + '\n');
  const resDir = path.join(__dirname, '..', 'results');
  fs.mkdirSync(resDir, { recursive: true });
  const stamp = new Date(wallNow()).toISOString().replace(/[:.]/g, '-');
  fs.writeFileSync(path.join(resDir, `xds-${stamp}.json`), JSON.stringify({ services, identities, debounceMs, results }, null, 2));
  fs.writeFileSync(path.join(resDir, `xds-${stamp}.md`), out + '\n');
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`bench/xds: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  children.stopAll().finally(() => process.exit(1));
});

/** `--cpu-prof` into `dir` when set (REMORA_BENCH_CP_PROF=<dir> profiles the control plane, REMORA_BENCH_LOAD_PROF=<dir> the load process). */
function profileArgs(dir: string | undefined): string[] {
  return dir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', dir];
}
