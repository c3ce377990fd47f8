/**
 * Turns the mTLS pair's rounds into the markdown the harness prints and saves: one row per round
 * (direct and pair latency in the same round, the latency the pair adds, CPU per request of each
 * sidecar, RSS, the A→B handshakes seen by B during the measured window, failures) and a median row,
 * then the verdict against issue 6's target (p99 added by the pair ≤ 1 ms). "Added" is computed per
 * round (pair − direct of the same round) and the median is taken over those differences. When the
 * round also measured the node:http2 "floor" pair (the same topology with two minimal node:http2
 * forwarders, floor-forwarder.ts), a second table puts the floor's latency, added latency and CPU per
 * request next to Remora's, and a line compares the two (how much of the pair's cost is Node's
 * HTTP/2 + TLS stack, how much is Remora). Pure functions of their input.
 */
import type { LoadResult } from '../macro/h2load';
import { median } from '../macro/report';
import type { ListenerConnections } from './prom';

/** Issue 6: p99 added by the pair (both sidecars together) at 1,000 req/s of 1 KiB unary calls. */
export const P99_ADDED_TARGET_MS = 1;
/** The offered load (open loop): below 95 % of it completed, the report flags the pair as saturated. */
export const OFFERED_RPS = 1000;

/** Process figures of one sidecar over one measured window. */
export interface SidecarFigures {
  /** CPU (utime+stime) µs per completed request during the measured window. */
  readonly cpuUsPerReq: number;
  /** VmRSS right after the sidecar was ready, and the peak sampled during the measured window (bytes). */
  readonly rssIdle: number;
  readonly rssPeak: number;
}

/** The node:http2 floor pair of one round: its load result and each forwarder's process figures. */
export interface FloorFigures {
  readonly load: LoadResult;
  readonly a: SidecarFigures;
  readonly b: SidecarFigures;
  /** Upstream CPU µs per request under the floor pair (context). */
  readonly upstreamCpuUsPerReq: number;
}

/** The floor path of a round: measured, or why it could not be (the round's other paths still count). */
export type FloorOutcome = { readonly kind: 'measured'; readonly floor: FloorFigures } | { readonly kind: 'failed'; readonly reason: string };

/** One measured round: direct, the floor pair (unless skipped) and the Remora pair back to back. */
export interface PairRound {
  readonly direct: LoadResult;
  readonly pair: LoadResult;
  /** The node:http2 floor pair of this round; null when skipped (`--no-floor`). */
  readonly floor: FloorOutcome | null;
  readonly a: SidecarFigures;
  readonly b: SidecarFigures;
  /** Upstream CPU µs per request under direct and under the pair (context). */
  readonly upstreamCpuUsPerReqDirect: number;
  readonly upstreamCpuUsPerReqPair: number;
  /** B's listener counters over the measured window (new A→B mTLS connections); null if unreadable. */
  readonly handshakesMeasured: ListenerConnections | null;
  /** B's listener counters over B's whole life (verify call, warm-up, measured window); null if unreadable. */
  readonly handshakesLifetime: ListenerConnections | null;
}

/** A round, or why it could not be measured. */
export type RoundOutcome = { readonly kind: 'round'; readonly round: PairRound } | { readonly kind: 'failed'; readonly reason: string };

/** Medians over the measured rounds (null when no round was measured or the values are missing). */
export interface PairSummary {
  readonly rounds: number;
  readonly directP50Ms: number | null;
  readonly directP99Ms: number | null;
  readonly pairP50Ms: number | null;
  readonly pairP99Ms: number | null;
  /** Median over rounds of (pair − direct) of the same round. */
  readonly p50AddedMs: number | null;
  readonly p99AddedMs: number | null;
  readonly pairRps: number | null;
  readonly cpuAUsPerReq: number | null;
  readonly cpuBUsPerReq: number | null;
  readonly rssPeakA: number | null;
  readonly rssPeakB: number | null;
  /** Sums over rounds: new A→B connections during measured windows, failures of each path. */
  readonly handshakesMeasured: number | null;
  readonly failuresDirect: number;
  readonly failuresPair: number;
  /** Rounds whose floor pair was measured; the floor medians below are over those rounds only. */
  readonly floorRounds: number;
  readonly floorP50Ms: number | null;
  readonly floorP99Ms: number | null;
  /** Median over rounds of (floor − direct) of the same round. */
  readonly floorP50AddedMs: number | null;
  readonly floorP99AddedMs: number | null;
  readonly floorRps: number | null;
  readonly floorCpuAUsPerReq: number | null;
  readonly floorCpuBUsPerReq: number | null;
  /** Median over rounds of (pair p99 − floor p99) of the same round: Remora's p99 above the floor. */
  readonly p99OverFloorMs: number | null;
  /** p99AddedMs / floorP99AddedMs (null unless the floor added > 0). */
  readonly p99AddedRatio: number | null;
  /** (cpuA + cpuB) / (floorCpuA + floorCpuB) of the medians (null without a floor). */
  readonly cpuRatio: number | null;
  /** Failures of the floor path summed over its measured rounds. */
  readonly failuresFloor: number;
}

const MB = 1024 * 1024;

function fin(v: number | null | undefined): v is number {
  return v !== null && v !== undefined && Number.isFinite(v);
}

function f(v: number | null | undefined, digits: number): string {
  return fin(v) ? v.toFixed(digits) : '-';
}

function med(xs: readonly (number | null)[]): number | null {
  return median(xs.filter(fin));
}

function diff(a: number | null, b: number | null): number | null {
  return fin(a) && fin(b) ? a - b : null;
}

/** Failed + timed-out requests plus 2xx replies without a message (trailers-only gRPC errors). */
export function failureCount(r: LoadResult): number {
  return r.failed + r.timeout + r.missingReplies;
}

function ratio(a: number | null, b: number | null): number | null {
  return fin(a) && fin(b) && b > 0 ? a / b : null;
}

function sum(a: number | null, b: number | null): number | null {
  return fin(a) && fin(b) ? a + b : null;
}

/** The measured floor of a round, or null (skipped or failed). */
export function measuredFloor(r: PairRound): FloorFigures | null {
  return r.floor !== null && r.floor.kind === 'measured' ? r.floor.floor : null;
}

/** Medians (and sums) over the measured rounds of `outcomes`. */
export function summarize(outcomes: readonly RoundOutcome[]): PairSummary {
  const rounds: PairRound[] = [];
  for (const o of outcomes) if (o.kind === 'round') rounds.push(o.round);
  const hs = rounds.map((r) => r.handshakesMeasured);
  const floored: { r: PairRound; fl: FloorFigures }[] = [];
  for (const r of rounds) {
    const fl = measuredFloor(r);
    if (fl !== null) floored.push({ r, fl });
  }
  const p99AddedMs = med(rounds.map((r) => diff(r.pair.p99Ms, r.direct.p99Ms)));
  const cpuAUsPerReq = med(rounds.map((r) => r.a.cpuUsPerReq));
  const cpuBUsPerReq = med(rounds.map((r) => r.b.cpuUsPerReq));
  const floorP99AddedMs = med(floored.map((x) => diff(x.fl.load.p99Ms, x.r.direct.p99Ms)));
  const floorCpuAUsPerReq = med(floored.map((x) => x.fl.a.cpuUsPerReq));
  const floorCpuBUsPerReq = med(floored.map((x) => x.fl.b.cpuUsPerReq));
  return {
    rounds: rounds.length,
    directP50Ms: med(rounds.map((r) => r.direct.p50Ms)),
    directP99Ms: med(rounds.map((r) => r.direct.p99Ms)),
    pairP50Ms: med(rounds.map((r) => r.pair.p50Ms)),
    pairP99Ms: med(rounds.map((r) => r.pair.p99Ms)),
    p50AddedMs: med(rounds.map((r) => diff(r.pair.p50Ms, r.direct.p50Ms))),
    p99AddedMs,
    pairRps: med(rounds.map((r) => r.pair.rps)),
    cpuAUsPerReq,
    cpuBUsPerReq,
    rssPeakA: med(rounds.map((r) => r.a.rssPeak)),
    rssPeakB: med(rounds.map((r) => r.b.rssPeak)),
    handshakesMeasured: rounds.length === 0 || hs.some((h) => h === null) ? null : hs.reduce((t, h) => t + h!.accepted + h!.rejected, 0),
    failuresDirect: rounds.reduce((t, r) => t + failureCount(r.direct), 0),
    failuresPair: rounds.reduce((t, r) => t + failureCount(r.pair), 0),
    floorRounds: floored.length,
    floorP50Ms: med(floored.map((x) => x.fl.load.p50Ms)),
    floorP99Ms: med(floored.map((x) => x.fl.load.p99Ms)),
    floorP50AddedMs: med(floored.map((x) => diff(x.fl.load.p50Ms, x.r.direct.p50Ms))),
    floorP99AddedMs,
    floorRps: med(floored.map((x) => x.fl.load.rps)),
    floorCpuAUsPerReq,
    floorCpuBUsPerReq,
    p99OverFloorMs: med(floored.map((x) => diff(x.r.pair.p99Ms, x.fl.load.p99Ms))),
    p99AddedRatio: ratio(p99AddedMs, floorP99AddedMs),
    cpuRatio: ratio(sum(cpuAUsPerReq, cpuBUsPerReq), sum(floorCpuAUsPerReq, floorCpuBUsPerReq)),
    failuresFloor: floored.reduce((t, x) => t + failureCount(x.fl.load), 0),
  };
}

function handshakes(c: ListenerConnections | null): string {
  if (c === null) return '-';
  return c.rejected > 0 ? `${c.accepted} (+${c.rejected} rejected)` : String(c.accepted);
}

function oneLine(reason: string): string {
  const s = reason.split('\n').map((l) => l.trim()).filter((l) => l !== '').join(' ⏎ ');
  return s.length > 300 ? `${s.slice(0, 297)}...` : s;
}

const HEADER =
  '| round | direct req/s | direct p50 ms | direct p99 ms | pair req/s | pair p50 ms | pair p99 ms | p50 added ms | p99 added ms | ' +
  'A CPU µs/req | B CPU µs/req | A RSS idle/peak MB | B RSS idle/peak MB | upstream CPU µs/req direct/pair | A→B handshakes measured (lifetime) | failures direct/pair |\n' +
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |';

/**
 * Markdown for the whole run: `title` heading, one row per round (failed rounds footnoted), a median
 * row when more than one round was measured, and the target verdict.
 */
export function renderPairReport(title: string, outcomes: readonly RoundOutcome[]): string {
  const lines = [`### ${title}`, '', HEADER];
  const notes: string[] = [];
  outcomes.forEach((o, i) => {
    if (o.kind === 'failed') {
      lines.push(`| ${i + 1} | failed¹ | | | | | | | | | | | | | | |`);
      notes.push(`¹ round ${i + 1}: ${oneLine(o.reason)}`);
      return;
    }
    const r = o.round;
    lines.push(
      `| ${i + 1} | ${f(r.direct.rps, 0)} | ${f(r.direct.p50Ms, 2)} | ${f(r.direct.p99Ms, 2)} | ${f(r.pair.rps, 0)} | ${f(r.pair.p50Ms, 2)} | ` +
        `${f(r.pair.p99Ms, 2)} | ${f(diff(r.pair.p50Ms, r.direct.p50Ms), 2)} | ${f(diff(r.pair.p99Ms, r.direct.p99Ms), 2)} | ` +
        `${f(r.a.cpuUsPerReq, 1)} | ${f(r.b.cpuUsPerReq, 1)} | ${f(r.a.rssIdle / MB, 1)} / ${f(r.a.rssPeak / MB, 1)} | ` +
        `${f(r.b.rssIdle / MB, 1)} / ${f(r.b.rssPeak / MB, 1)} | ${f(r.upstreamCpuUsPerReqDirect, 1)} / ${f(r.upstreamCpuUsPerReqPair, 1)} | ` +
        `${handshakes(r.handshakesMeasured)} (${handshakes(r.handshakesLifetime)}) | ${failureCount(r.direct)} / ${failureCount(r.pair)} |`,
    );
  });
  const s = summarize(outcomes);
  if (s.rounds > 1) {
    lines.push(
      `| **median** | | ${f(s.directP50Ms, 2)} | ${f(s.directP99Ms, 2)} | ${f(s.pairRps, 0)} | ${f(s.pairP50Ms, 2)} | ${f(s.pairP99Ms, 2)} | ` +
        `${f(s.p50AddedMs, 2)} | ${f(s.p99AddedMs, 2)} | ${f(s.cpuAUsPerReq, 1)} | ${f(s.cpuBUsPerReq, 1)} | - / ${f(fin(s.rssPeakA) ? s.rssPeakA / MB : null, 1)} | ` +
        `- / ${f(fin(s.rssPeakB) ? s.rssPeakB / MB : null, 1)} | | ${f(s.handshakesMeasured, 0)} (sum) | ${s.failuresDirect} / ${s.failuresPair} (sum) |`,
    );
  }
  if (notes.length > 0) lines.push('', ...notes);
  const floor = renderFloorTable(outcomes, s);
  if (floor !== null) lines.push('', floor);
  lines.push('', renderVerdict(s));
  if (floor !== null) lines.push(renderFloorComparison(s));
  return lines.join('\n');
}

const FLOOR_HEADER =
  '| round | floor req/s | floor p50 ms | floor p99 ms | floor p50 added ms | floor p99 added ms | Remora p99 added ms | ' +
  'floor A CPU µs/req | floor B CPU µs/req | Remora A+B CPU µs/req | floor A+B CPU µs/req | floor A / B RSS peak MB | upstream CPU µs/req floor | failures floor |\n' +
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |';

/**
 * The floor table: per round the node:http2 floor pair's latency, added latency (floor − direct of
 * the same round) and CPU per forwarder, with Remora's p99 added and A+B CPU of the same round next to
 * it; failed floors footnoted; a median row over the floor-measured rounds when more than one. Null
 * when no round ran the floor (all skipped or no round measured).
 */
export function renderFloorTable(outcomes: readonly RoundOutcome[], s: PairSummary = summarize(outcomes)): string | null {
  if (!outcomes.some((o) => o.kind === 'round' && o.round.floor !== null)) return null;
  const lines = [
    '#### node:http2 floor: the same topology with two minimal node:http2 forwarders (floor-forwarder.ts), same certificates, TLS 1.3 and SAN pinning',
    '',
    FLOOR_HEADER,
  ];
  const notes: string[] = [];
  outcomes.forEach((o, i) => {
    if (o.kind === 'failed') return;
    const r = o.round;
    const remoraAdded = f(diff(r.pair.p99Ms, r.direct.p99Ms), 2);
    const remoraCpu = f(sum(r.a.cpuUsPerReq, r.b.cpuUsPerReq), 1);
    if (r.floor === null) {
      lines.push(`| ${i + 1} | skipped | | | | | ${remoraAdded} | | | ${remoraCpu} | | | | |`);
      return;
    }
    if (r.floor.kind === 'failed') {
      lines.push(`| ${i + 1} | failed² | | | | | ${remoraAdded} | | | ${remoraCpu} | | | | |`);
      notes.push(`² round ${i + 1} floor: ${oneLine(r.floor.reason)}`);
      return;
    }
    const fl = r.floor.floor;
    lines.push(
      `| ${i + 1} | ${f(fl.load.rps, 0)} | ${f(fl.load.p50Ms, 2)} | ${f(fl.load.p99Ms, 2)} | ${f(diff(fl.load.p50Ms, r.direct.p50Ms), 2)} | ` +
        `${f(diff(fl.load.p99Ms, r.direct.p99Ms), 2)} | ${remoraAdded} | ${f(fl.a.cpuUsPerReq, 1)} | ${f(fl.b.cpuUsPerReq, 1)} | ${remoraCpu} | ` +
        `${f(sum(fl.a.cpuUsPerReq, fl.b.cpuUsPerReq), 1)} | ${f(fl.a.rssPeak / MB, 1)} / ${f(fl.b.rssPeak / MB, 1)} | ${f(fl.upstreamCpuUsPerReq, 1)} | ` +
        `${failureCount(fl.load)} |`,
    );
  });
  if (s.floorRounds > 1) {
    lines.push(
      `| **median** | ${f(s.floorRps, 0)} | ${f(s.floorP50Ms, 2)} | ${f(s.floorP99Ms, 2)} | ${f(s.floorP50AddedMs, 2)} | ${f(s.floorP99AddedMs, 2)} | ` +
        `${f(s.p99AddedMs, 2)} | ${f(s.floorCpuAUsPerReq, 1)} | ${f(s.floorCpuBUsPerReq, 1)} | ${f(sum(s.cpuAUsPerReq, s.cpuBUsPerReq), 1)} | ` +
        `${f(sum(s.floorCpuAUsPerReq, s.floorCpuBUsPerReq), 1)} | | | ${s.failuresFloor} (sum) |`,
    );
  }
  if (notes.length > 0) lines.push('', ...notes);
  return lines.join('\n');
}

function times(r: number | null): string {
  return fin(r) ? `×${r.toFixed(1)}` : '×?';
}

/** The line comparing Remora's pair with the node:http2 floor (p99 added, CPU per request of A+B). */
export function renderFloorComparison(s: PairSummary): string {
  if (s.floorRounds === 0) return '**Remora pair vs node:http2 floor: the floor was not measured in any round.**';
  const of = s.floorRounds > 1 ? ` (medians of ${s.floorRounds} rounds)` : '';
  const saturated = fin(s.floorRps) && s.floorRps < OFFERED_RPS * 0.95 ? ` Warning: the floor completed only ${s.floorRps.toFixed(0)} req/s (saturated).` : '';
  return (
    `**Remora pair vs node:http2 floor${of}: p99 added ${f(s.p99AddedMs, 2)} ms vs ${f(s.floorP99AddedMs, 2)} ms (${times(s.p99AddedRatio)}; ` +
    `Remora's p99 − floor's p99 ${f(s.p99OverFloorMs, 2)} ms); CPU per request A+B ${f(sum(s.cpuAUsPerReq, s.cpuBUsPerReq), 1)} µs vs ` +
    `${f(sum(s.floorCpuAUsPerReq, s.floorCpuBUsPerReq), 1)} µs (${times(s.cpuRatio)}).** ` +
    `The floor is what two node:http2 forwarders cost on this machine; the rest is Remora's. Failures: floor ${s.failuresFloor}.${saturated}`
  );
}

/** The issue-6 verdict line(s) for a summary. */
export function renderVerdict(s: PairSummary): string {
  if (s.rounds === 0) return '**Target (p99 added ≤ 1 ms for the pair): no round was measured.**';
  const met = fin(s.p99AddedMs) && s.p99AddedMs <= P99_ADDED_TARGET_MS;
  const of = s.rounds > 1 ? ` (median of ${s.rounds} rounds)` : '';
  const hs = s.handshakesMeasured === null
    ? 'A→B handshakes during the measured windows: unknown (B\'s admin could not be read).'
    : `A→B handshakes during the measured windows: ${s.handshakesMeasured}${s.handshakesMeasured === 0 ? ' (every request rode connections opened before the window: h2 multiplexing)' : ''}.`;
  const saturated = fin(s.pairRps) && s.pairRps < OFFERED_RPS * 0.95
    ? `\n**Warning: the pair completed only ${s.pairRps.toFixed(0)} of the offered ${OFFERED_RPS} req/s: it was saturated (CPU-bound; ` +
      `check the load average), so its latency is mostly queueing and CPU/req is measured under overload.**`
    : '';
  return [
    `**Target: p99 added ≤ ${P99_ADDED_TARGET_MS} ms for the pair → ${f(s.p99AddedMs, 2)} ms${of}: ${met ? 'met' : 'not met'}.** ` +
      `p50 added ${f(s.p50AddedMs, 2)} ms. CPU per request: sidecar A ${f(s.cpuAUsPerReq, 1)} µs, sidecar B ${f(s.cpuBUsPerReq, 1)} µs.`,
    hs + ` Failures: direct ${s.failuresDirect}, pair ${s.failuresPair}.` + saturated,
  ].join('\n');
}
