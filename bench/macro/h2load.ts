/**
 * Drives one h2load run (h2c with prior knowledge, POST of a pre-built gRPC-framed body) and turns
 * its output into numbers we trust: counts come from h2load's summary lines, while latency
 * percentiles and throughput are computed here from the per-request `--log-file` (start µs, HTTP
 * status, µs until end of response), because h2load's summary has no percentiles. Every run is
 * bounded by a hard kill timer on top of h2load's own `-D`.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import type { ChildRegistry } from './children';

/** One load shape, the same for every path. */
export interface LoadSpec {
  /** Stable id used in file names and JSON (`closed-empty`, `closed-1k`, `open-1000rps`). */
  readonly id: string;
  /** Human title for the markdown table. */
  readonly title: string;
  /** Connections (`-c`). */
  readonly clients: number;
  /** Max concurrent streams per connection (`-m`). */
  readonly streams: number;
  /** Requests per second per client (`--rps`), or null for a closed loop. */
  readonly rpsPerClient: number | null;
  /** Path of the gRPC-framed request body file (`-d`). */
  readonly bodyFile: string;
  /**
   * Exact DATA bytes of one successful reply (5-byte frame header + serialized EchoReply). h2load
   * counts a trailers-only gRPC error (HTTP 200, grpc-status ≠ 0, no body) as a success, so replies
   * missing from the received DATA bytes are counted as failures.
   */
  readonly replyFrameBytes: number;
  /** Request headers (`-H`); default `content-type: application/grpc` and `te: trailers`. */
  readonly headers?: readonly string[];
}

const GRPC_HEADERS: readonly string[] = ['content-type: application/grpc', 'te: trailers'];

/** What one h2load run produced. */
export interface LoadResult {
  /** Measured seconds as reported by h2load ("finished in"). */
  readonly seconds: number;
  /** h2load summary counters. */
  readonly total: number;
  readonly started: number;
  readonly done: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly errored: number;
  readonly timeout: number;
  /** DATA bytes received (h2load "traffic ... data"). */
  readonly dataBytes: number;
  /**
   * 2xx responses whose reply message is missing from the received DATA bytes (succeeded − dataBytes /
   * replyFrameBytes, floored at 0): a lower bound on trailers-only gRPC errors h2load counted as success.
   */
  readonly missingReplies: number;
  /** Rows in the log file, and those whose HTTP status was not 2xx. */
  readonly logged: number;
  readonly non2xx: number;
  /** Completed 2xx requests per second, from the log file and the measured seconds. */
  readonly rps: number;
  /** Latency percentiles (ms) of 2xx requests from the log file; null when there were none. */
  readonly p50Ms: number | null;
  readonly p90Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
  /** The exact h2load argv, for the record. */
  readonly argv: readonly string[];
}

/** Builds the h2load argv for `spec` against `url` for `durationSec` seconds, logging to `logFile`. */
export function h2loadArgs(spec: LoadSpec, url: string, durationSec: number, logFile: string | null): string[] {
  const args = ['-c', String(spec.clients), '-m', String(spec.streams), '-t', '1', '-D', String(durationSec)];
  if (spec.rpsPerClient !== null) args.push('--rps', String(spec.rpsPerClient));
  args.push('-d', spec.bodyFile);
  for (const h of spec.headers ?? GRPC_HEADERS) args.push('-H', h);
  if (logFile !== null) args.push('--log-file', logFile);
  args.push(url);
  return args;
}

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

function parseSeconds(text: string): number {
  const m = /finished in ([\d.]+)(us|ms|s),/.exec(text);
  if (m === null) return NaN;
  const v = Number(m[1]);
  return m[2] === 's' ? v : m[2] === 'ms' ? v / 1e3 : v / 1e6;
}

/** Parses h2load stdout plus its log file into a LoadResult. Exported for tests. */
export function parseRun(stdout: string, logText: string, argv: readonly string[], replyFrameBytes: number): LoadResult {
  const seconds = parseSeconds(stdout);
  const dm = /^traffic: .*?\((\d+)\) data/m.exec(stdout);
  const dataBytes = dm === null ? NaN : Number(dm[1]);
  const m = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
    stdout,
  );
  const c = m === null ? [NaN, NaN, NaN, NaN, NaN, NaN, NaN] : m.slice(1).map(Number);
  const lines = logText.split('\n');
  const lat = new Float64Array(lines.length);
  let ok = 0;
  let logged = 0;
  let non2xx = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.length === 0) continue;
    const cols = line.split('\t');
    if (cols.length < 3) continue;
    logged++;
    const status = Number(cols[1]);
    if (status >= 200 && status < 300) lat[ok++] = Number(cols[2]) / 1000;
    else non2xx++;
  }
  const sorted = lat.subarray(0, ok).sort();
  const pct = (p: number): number | null => (ok === 0 ? null : percentile(sorted, p));
  return {
    seconds,
    total: c[0],
    started: c[1],
    done: c[2],
    succeeded: c[3],
    failed: c[4],
    errored: c[5],
    timeout: c[6],
    dataBytes,
    missingReplies: Math.max(0, c[3] - Math.floor(dataBytes / replyFrameBytes)),
    logged,
    non2xx,
    rps: seconds > 0 ? ok / seconds : NaN,
    p50Ms: pct(50),
    p90Ms: pct(90),
    p99Ms: pct(99),
    maxMs: ok === 0 ? null : sorted[ok - 1],
    argv,
  };
}

/**
 * Runs h2load with `args`, killing it if it is still running `durationSec + 30` s later. Resolves
 * with its stdout; rejects if it cannot be started, is killed, or exits non-zero.
 */
export function runH2load(children: ChildRegistry, args: readonly string[], durationSec: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = children.track(spawn('h2load', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), (durationSec + 30) * 1000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`h2load exited with ${code ?? signal}: ${(err || out).trim().split('\n').slice(-5).join(' | ')}`));
    });
  });
}

/** Runs one measured load and parses it; the log file is deleted afterwards. */
export async function measure(
  children: ChildRegistry,
  spec: LoadSpec,
  url: string,
  durationSec: number,
  logFile: string,
): Promise<LoadResult> {
  const args = h2loadArgs(spec, url, durationSec, logFile);
  const stdout = await runH2load(children, args, durationSec);
  const logText = fs.readFileSync(logFile, 'utf8');
  fs.rmSync(logFile, { force: true });
  return parseRun(stdout, logText, ['h2load', ...args], spec.replyFrameBytes);
}
