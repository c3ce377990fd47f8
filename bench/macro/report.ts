/**
 * Turns measured rows into the markdown the harness prints and saves: one table per load with rows
 * direct / remora / nginx and two ratio rows (remora/nginx, remora/direct). Pure functions of
 * their input, so the formatting can be unit-tested without running a load.
 */
import type { LoadResult, LoadSpec } from './h2load';

/** The paths the harness compares, in table order. */
export const PATHS = ['direct', 'remora', 'nginx'] as const;
export type PathName = (typeof PATHS)[number];

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
  if (notes.length > 0) lines.push('', ...notes);
  return lines.join('\n');
}
