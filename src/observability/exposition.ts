/**
 * Serving a prom-client Registry in either exposition format from the same metrics: the classic
 * Prometheus text format (0.0.4, prom-client's own serialiser) or OpenMetrics 1.0 text, chosen from
 * the scrape's `Accept` header the way Prometheus negotiates it
 * (https://github.com/prometheus/OpenMetrics/blob/main/specification/OpenMetrics.md). The
 * OpenMetrics text is written here from `registry.getMetricsAsJSON()` rather than by switching the
 * registry's content type, because prom-client's OpenMetrics mode renames counters in place (it
 * strips `_total` from the metric object, breaking every later classic scrape) and because a
 * content-type switch on a shared registry races with a concurrent scrape. Both formats read the
 * registry at scrape time, so every metric anyone registered on it (Runtime.metrics) is included
 * without registering it twice. The registry itself must stay in the classic content type (the
 * default). Nothing here runs on the request path.
 */
import type { Registry } from 'prom-client';

/** Content type of the classic text format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
/** Content type of OpenMetrics 1.0 text. */
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

export type ExpositionFormat = 'prometheus' | 'openmetrics';

/** A scrape's answer. */
export interface MetricsResponse {
  readonly contentType: string;
  readonly body: string;
}

/**
 * The format to answer a scrape with: OpenMetrics when the Accept header lists
 * `application/openmetrics-text` (any version; we serve 1.0.0) with a q-value above 0 and at least
 * that of the best `text/plain` or wildcard entry; else the classic format (also for a missing or
 * unparsable header). Prometheus' default header selects OpenMetrics.
 */
export function negotiateFormat(accept: string | undefined | null): ExpositionFormat {
  if (accept === undefined || accept === null || accept === '') return 'prometheus';
  let om = -1;
  let text = -1;
  const ranges = accept.split(',');
  for (let i = 0; i < ranges.length; i++) {
    const parts = ranges[i]!.split(';');
    const type = parts[0]!.trim().toLowerCase();
    let q = 1;
    for (let j = 1; j < parts.length; j++) {
      const p = parts[j]!.trim();
      if (p.length > 2 && (p[0] === 'q' || p[0] === 'Q') && p[1] === '=') {
        const v = Number(p.slice(2));
        q = Number.isFinite(v) ? v : 0;
      }
    }
    if (type === 'application/openmetrics-text') om = Math.max(om, q);
    else if (type === 'text/plain' || type === 'text/*' || type === '*/*') text = Math.max(text, q);
  }
  return om > 0 && om >= text ? 'openmetrics' : 'prometheus';
}

/**
 * Serialises `registry` in the format the Accept header asks for (see `negotiateFormat`). Runs every
 * metric's `collect()` once. Rejects only if a collector throws.
 */
export async function metricsResponse(registry: Registry, accept: string | undefined | null): Promise<MetricsResponse> {
  if (negotiateFormat(accept) === 'openmetrics') {
    return { contentType: OPENMETRICS_CONTENT_TYPE, body: await openMetricsText(registry) };
  }
  return { contentType: PROMETHEUS_CONTENT_TYPE, body: await registry.metrics() };
}

interface JsonSample {
  readonly value: number;
  readonly labels: Record<string, string | number>;
  readonly metricName?: string;
  readonly exemplar?: { readonly labelSet: Record<string, string | number>; readonly value: number; readonly timestamp?: number } | null;
}

interface JsonMetric {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly values: readonly JsonSample[];
}

/**
 * The registry as OpenMetrics 1.0 text, ending in `# EOF`. Counters become families without the
 * `_total` suffix whose samples carry it; gauges, histograms and summaries keep their names; `le`
 * and `quantile` label values are written as canonical floats (`1.0`, `+Inf`), as client_golang does.
 * Default labels set on the registry are included. No `# UNIT` lines and no `_created` samples
 * (both optional).
 */
export async function openMetricsText(registry: Registry): Promise<string> {
  const metrics = (await registry.getMetricsAsJSON()) as unknown as JsonMetric[];
  let out = '';
  for (let i = 0; i < metrics.length; i++) {
    const m = metrics[i]!;
    const isCounter = m.type === 'counter';
    const family = isCounter && m.name.endsWith('_total') ? m.name.slice(0, -6) : m.name;
    const type = isCounter || m.type === 'gauge' || m.type === 'histogram' || m.type === 'summary' ? m.type : 'unknown';
    out += `# TYPE ${family} ${type}\n# HELP ${family} ${escapeText(m.help)}\n`;
    const values = m.values ?? [];
    for (let j = 0; j < values.length; j++) {
      const v = values[j]!;
      const name = isCounter ? `${family}_total` : (v.metricName ?? m.name);
      out += name + formatLabels(v.labels) + ' ' + formatNumber(v.value);
      const ex = v.exemplar;
      if (ex !== undefined && ex !== null && ex.labelSet !== undefined) {
        out += ' # ' + formatLabels(ex.labelSet, true) + ' ' + formatNumber(ex.value);
        if (typeof ex.timestamp === 'number') out += ' ' + String(ex.timestamp);
      }
      out += '\n';
    }
  }
  return out + '# EOF\n';
}

function formatLabels(labels: Record<string, string | number> | undefined, always = false): string {
  if (labels === undefined) return always ? '{}' : '';
  let s = '';
  for (const key in labels) {
    const raw = labels[key];
    if (raw === undefined) continue;
    const value = (key === 'le' || key === 'quantile') && typeof raw === 'number' ? canonicalFloat(raw) : String(raw);
    s += (s === '' ? '' : ',') + key + '="' + escapeText(value) + '"';
  }
  return s === '' && !always ? '' : '{' + s + '}';
}

/** OpenMetrics escaping for label values and HELP text: backslash, double quote, line feed. */
function escapeText(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatNumber(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** `1` → `1.0`, `0.005` → `0.005`, `Infinity` → `+Inf` (OpenMetrics CanonicalNumber for le/quantile). */
function canonicalFloat(v: number): string {
  if (!Number.isFinite(v)) return formatNumber(v);
  const s = String(v);
  return Number.isInteger(v) && !s.includes('e') ? s + '.0' : s;
}
