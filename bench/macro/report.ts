/**
 * Turns measured rows into the markdown the harness prints and saves: one table per load with rows
 * direct / remora / remora-resilience / nginx and the ratio rows (remora/nginx, remora/direct,
 * remora-resilience/remora), plus the issue-5 summary (resilience features enabled but not firing
 * versus plain routing, in the same run). Pure functions of their input, so the formatting can be
 * unit-tested without running a load.
 */
import { describeFeatureCounters, firedFeatures, type FeatureCounters } from './feature-counters';
import type { LoadResult, LoadSpec } from './h2load';

/**
 * The paths the harness compares, in table and run order (remora-resilience runs right after remora
 * so the two share machine conditions as closely as a sequential run allows).
 */
export const PATHS = ['direct', 'remora', 'remora-resilience', 'remora-telemetry', 'remora-telemetry-full', 'nginx'] as const;
export type PathName = (typeof PATHS)[number];

/** The sidecar variants compared with plain `remora` (a `<variant>/remora` ratio row each). */
const VARIANTS: readonly PathName[] = ['remora-resilience', 'remora-telemetry', 'remora-telemetry-full'];

/** One measured row: the h2load result plus process figures. */
export interface Row {
  readonly load: LoadResult;
  /** Proxy CPU µs per completed request; null for direct. */
  readonly proxyCpuUsPerReq: number | null;
  /** Proxy RSS (bytes) right after it became ready, and the peak during this load; null for direct. */
  readonly proxyRssIdle: number | null;
  readonly proxyRssPeak: number | null;
  /** Upstream CPU µs per completed request and its peak RSS (context for every row). */
  readonly upstreamCpuUsPerReq: number;
  readonly upstreamRssPeak: number;
  /**
   * Resilience counters over the measured run (remora paths: read from the sidecar's admin before and
   * after it); null for direct and nginx, or when the admin endpoint could not be read.
   */
  readonly features: FeatureCounters | null;
}

/** Per path: a row, or the reason the path was skipped / failed. */
export type PathOutcome = { readonly kind: 'row'; readonly row: Row } | { readonly kind: 'skipped'; readonly reason: string };

const MB = 1024 * 1024;

function f(v: number | null | undefined, digits: number): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits);
}

function ratio(a: number | null | undefined, b: number | null | undefined): string {
  if (a === null || a === undefined || b === null || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) {
    return '-';
  }
  return `${(a / b).toFixed(2)}×`;
}

function failures(r: LoadResult): string {
  const n = r.failed + r.timeout + r.missingReplies;
  const parts: string[] = [];
  if (r.non2xx > 0) parts.push(`${r.non2xx} non-2xx`);
  if (r.missingReplies > 0) parts.push(`${r.missingReplies} without reply`);
  return parts.length > 0 ? `${n} (${parts.join(', ')})` : String(n);
}

/** A multi-line reason squeezed into one table footnote (at most 300 characters). */
function oneLine(reason: string): string {
  const s = reason
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' ⏎ ');
  return s.length > 300 ? `${s.slice(0, 297)}...` : s;
}

const HEADER =
  '| path | req/s | p50 ms | p99 ms | p99 added ms | proxy CPU µs/req | RSS idle MB | RSS peak MB | upstream CPU µs/req | failures |\n' +
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |';

/** Markdown table for one load. `outcomes` maps each path that was attempted to its outcome. */
export function renderLoadTable(spec: LoadSpec, outcomes: ReadonlyMap<PathName, PathOutcome>): string {
  const rowOf = (p: PathName): Row | null => {
    const o = outcomes.get(p);
    return o !== undefined && o.kind === 'row' ? o.row : null;
  };
  const direct = rowOf('direct');
  const remora = rowOf('remora');
  const nginx = rowOf('nginx');
  const added = (r: Row | null): number | null =>
    r === null || direct === null || r.load.p99Ms === null || direct.load.p99Ms === null ? null : r.load.p99Ms - direct.load.p99Ms;
  const lines = [`### ${spec.title}`, '', HEADER];
  const notes: string[] = [];
  for (const p of PATHS) {
    const o = outcomes.get(p);
    if (o === undefined) continue;
    if (o.kind === 'skipped') {
      lines.push(`| ${p} | skipped¹ | | | | | | | | |`);
      notes.push(`¹ ${p}: ${oneLine(o.reason)}`);
      continue;
    }
    const r = o.row;
    lines.push(
      `| ${p} | ${f(r.load.rps, 0)} | ${f(r.load.p50Ms, 2)} | ${f(r.load.p99Ms, 2)} | ${p === 'direct' ? '-' : f(added(r), 2)} | ` +
        `${f(r.proxyCpuUsPerReq, 1)} | ${f(r.proxyRssIdle === null ? null : r.proxyRssIdle / MB, 1)} | ` +
        `${f(r.proxyRssPeak === null ? null : r.proxyRssPeak / MB, 1)} | ${f(r.upstreamCpuUsPerReq, 1)} | ${failures(r.load)} |`,
    );
  }
  if (remora !== null && nginx !== null) {
    lines.push(
      `| remora/nginx | ${ratio(remora.load.rps, nginx.load.rps)} | ${ratio(remora.load.p50Ms, nginx.load.p50Ms)} | ` +
        `${ratio(remora.load.p99Ms, nginx.load.p99Ms)} | ${ratio(added(remora), added(nginx))} | ` +
        `${ratio(remora.proxyCpuUsPerReq, nginx.proxyCpuUsPerReq)} | ${ratio(remora.proxyRssIdle, nginx.proxyRssIdle)} | ` +
        `${ratio(remora.proxyRssPeak, nginx.proxyRssPeak)} | | |`,
    );
  }
  if (remora !== null && direct !== null) {
    lines.push(
      `| remora/direct | ${ratio(remora.load.rps, direct.load.rps)} | ${ratio(remora.load.p50Ms, direct.load.p50Ms)} | ` +
        `${ratio(remora.load.p99Ms, direct.load.p99Ms)} | | | | | | |`,
    );
  }
  for (const v of VARIANTS) {
    const variant = rowOf(v);
    if (variant === null || remora === null) continue;
    lines.push(
      `| ${v}/remora | ${ratio(variant.load.rps, remora.load.rps)} | ${ratio(variant.load.p50Ms, remora.load.p50Ms)} | ` +
        `${ratio(variant.load.p99Ms, remora.load.p99Ms)} | ${ratio(added(variant), added(remora))} | ` +
        `${ratio(variant.proxyCpuUsPerReq, remora.proxyCpuUsPerReq)} | ${ratio(variant.proxyRssIdle, remora.proxyRssIdle)} | ` +
        `${ratio(variant.proxyRssPeak, remora.proxyRssPeak)} | | |`,
    );
  }
  if (notes.length > 0) lines.push('', ...notes);
  return lines.join('\n');
}

/** Issue 5's bound: remora-resilience CPU per request ≤ 1.10 × remora's, in the same run. */
export const RESILIENCE_CPU_TARGET = 1.1;

/** Per load id, per path, one outcome per round (round order; `--rounds`, default 1). */
export type RoundOutcomes = ReadonlyMap<string, ReadonlyMap<PathName, readonly PathOutcome[]>>;

function finite(v: number | null | undefined): v is number {
  return v !== null && v !== undefined && Number.isFinite(v);
}

/** Median of `xs` (mean of the middle two for an even count); null when empty. */
export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * The outcome a table shows for a path measured over several rounds: the round whose proxy CPU µs/req
 * is the (lower) median — req/s for direct, which has no proxy — so the row is one real measurement,
 * not a blend. The first outcome when no round produced a row; undefined for an empty list.
 */
export function representative(list: readonly PathOutcome[]): PathOutcome | undefined {
  const rows: Row[] = [];
  for (const o of list) if (o.kind === 'row') rows.push(o.row);
  if (rows.length === 0) return list[0];
  const key = (r: Row): number => (finite(r.proxyCpuUsPerReq) ? r.proxyCpuUsPerReq : r.load.rps);
  const sorted = [...rows].sort((a, b) => key(a) - key(b));
  return { kind: 'row', row: sorted[(sorted.length - 1) >> 1] };
}

function percentDelta(r: number): string {
  const d = (r - 1) * 100;
  return `${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(1)} %`;
}

function sumFeatures(list: readonly FeatureCounters[]): FeatureCounters | null {
  if (list.length === 0) return null;
  const t = { ...list[0] };
  for (let i = 1; i < list.length; i++) for (const k of Object.keys(t) as (keyof FeatureCounters)[]) t[k] += list[i][k];
  return t;
}

/** What a paired summary compares: `variant` against plain `remora`, round by round. */
interface PairedSummary {
  readonly variant: PathName;
  readonly title: string;
  readonly description: string;
  /** CPU/req bound versus remora; null = measured, no target. */
  readonly target: number | null;
  /** Whether to show the resilience feature counters (they must not fire). */
  readonly features: boolean;
}

/** Per load: the variant's paired rounds against remora. */
function pairedRatios(rounds: RoundOutcomes, specId: string, variant: PathName) {
  const byPath = rounds.get(specId);
  const a = byPath?.get('remora') ?? [];
  const b = byPath?.get(variant) ?? [];
  const out = { ratios: [] as number[], cpuA: [] as number[], cpuB: [] as number[], p99A: [] as number[], p99B: [] as number[], features: [] as FeatureCounters[], featuresUnknown: false };
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const oa = a[i];
    const ob = b[i];
    const ra = oa !== undefined && oa.kind === 'row' ? oa.row : null;
    const rb = ob !== undefined && ob.kind === 'row' ? ob.row : null;
    if (ra !== null && finite(ra.proxyCpuUsPerReq)) out.cpuA.push(ra.proxyCpuUsPerReq);
    if (rb !== null && finite(rb.proxyCpuUsPerReq)) out.cpuB.push(rb.proxyCpuUsPerReq);
    if (ra !== null && finite(ra.load.p99Ms)) out.p99A.push(ra.load.p99Ms);
    if (rb !== null && finite(rb.load.p99Ms)) out.p99B.push(rb.load.p99Ms);
    if (rb !== null) {
      if (rb.features === null) out.featuresUnknown = true;
      else out.features.push(rb.features);
    }
    if (ra !== null && rb !== null && finite(ra.proxyCpuUsPerReq) && finite(rb.proxyCpuUsPerReq) && ra.proxyCpuUsPerReq > 0) {
      out.ratios.push(rb.proxyCpuUsPerReq / ra.proxyCpuUsPerReq);
    }
  }
  return out;
}

/**
 * One comparison section. Per load: the median CPU µs/req and p99 of remora and the variant over
 * the rounds, the CPU ratio of each round's pair (the two paths run back to back within a round) and
 * their median against the target, and (resilience) whether any feature fired during a measured run
 * (which would make the row measure something other than "enabled, not firing"; the counters are
 * summed over rounds). Then one ratio line over all loads. Returns '' when no load has a measured pair.
 */
function renderPairedSummary(specs: readonly LoadSpec[], rounds: RoundOutcomes, def: PairedSummary): string {
  const v = def.variant;
  const lines = [
    `### ${def.title}`,
    '',
    `${def.description} ${def.target === null ? 'No target: measured and explained in bench/README.md.' : `Target: CPU/req ≤ ${def.target.toFixed(2)}× remora.`} ` +
      'CPU and p99 are medians over the rounds; the ratio is the median of each round\'s back-to-back pair.',
    '',
    `| load | rounds | remora CPU µs/req | ${v} CPU µs/req | CPU/req vs remora | per-round ratios | remora p99 ms | ${v} p99 ms | target |${def.features ? ' features during the measured runs |' : ''}`,
    `| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |${def.features ? ' --- |' : ''}`,
  ];
  const summary: string[] = [];
  let pairsTotal = 0;
  for (const spec of specs) {
    const p = pairedRatios(rounds, spec.id, v);
    if (p.ratios.length === 0) continue;
    pairsTotal = Math.max(pairsTotal, p.ratios.length);
    const r = median(p.ratios) as number;
    let verdict = def.target === null ? 'measured' : r <= def.target ? 'met' : '**not met**';
    let featureCell = '';
    if (def.features) {
      const total = sumFeatures(p.features);
      const fired = total === null ? [] : firedFeatures(total);
      if (fired.length > 0) verdict += ' (invalid: a feature fired)';
      featureCell = ` ${total === null ? 'unknown (admin not readable)' : `${describeFeatureCounters(total)}${p.featuresUnknown ? ', some rounds unknown' : ''}`} |`;
    }
    lines.push(
      `| ${spec.id} | ${p.ratios.length} | ${f(median(p.cpuA), 1)} | ${f(median(p.cpuB), 1)} | ${r.toFixed(2)}× (${percentDelta(r)}) | ` +
        `${p.ratios.map((x) => `${x.toFixed(2)}×`).join(', ')} | ${f(median(p.p99A), 2)} | ${f(median(p.p99B), 2)} | ${verdict} |${featureCell}`,
    );
    summary.push(`${spec.id} ${r.toFixed(2)}×`);
  }
  if (summary.length === 0) return '';
  lines.push(
    '',
    `**${v} CPU/req vs remora**: ${summary.join(', ')} ` +
      `(${pairsTotal === 1 ? 'one round' : `median of ${pairsTotal} paired rounds`}${def.target === null ? '' : `; target ≤ ${def.target.toFixed(2)}×`}).`,
  );
  return lines.join('\n');
}

/** The issue-5 section: resilience features enabled but not firing, versus plain routing. */
export function renderResilienceSummary(specs: readonly LoadSpec[], rounds: RoundOutcomes): string {
  return renderPairedSummary(specs, rounds, {
    variant: 'remora-resilience',
    title: 'Resilience features (issue 5): enabled but not firing, versus plain routing',
    description:
      'remora-resilience = the same sidecar with a route retry_policy, cluster circuit_breakers (limits 100000, retry_budget {}), ' +
      'outlier_detection and the local_ratelimit filter (1e9-token bucket, x-ratelimit headers off).',
    target: RESILIENCE_CPU_TARGET,
    features: true,
  });
}

/** Issue 7's bound: metrics + 1 % tracing + error-only access logs ≤ 1.15 × remora's CPU per request. */
export const TELEMETRY_CPU_TARGET = 1.15;

/** The issue-7 sections: telemetry on (sampled, and everything at 100 %) versus telemetry off. */
export function renderTelemetrySummary(specs: readonly LoadSpec[], rounds: RoundOutcomes): string {
  const sampled = renderPairedSummary(specs, rounds, {
    variant: 'remora-telemetry',
    title: 'Telemetry (issue 7): metrics + 1 % tracing + error-only access logs, versus telemetry off',
    description:
      'remora-telemetry = the same sidecar with Istio\'s standard metrics (istio.stats), OpenTelemetry tracing at 1 % random sampling ' +
      'exported over OTLP/gRPC to a collector in the bench process, and the JSON access log writing errors only (success_sample_percent 0).',
    target: TELEMETRY_CPU_TARGET,
    features: false,
  });
  const full = renderPairedSummary(specs, rounds, {
    variant: 'remora-telemetry-full',
    title: 'Telemetry (issue 7): everything at 100 %, versus telemetry off',
    description: 'remora-telemetry-full = metrics, tracing at 100 % (every request exported) and every request access-logged.',
    target: null,
    features: false,
  });
  return [sampled, full].filter((s) => s !== '').join('\n\n');
}
