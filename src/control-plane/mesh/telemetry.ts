/**
 * Validates Istio `telemetry.istio.io/v1` (and `v1alpha1`) `Telemetry` documents into `Telemetry`:
 * the scope (no `selector`: the namespace, or the whole mesh in the root namespace;
 * `selector.matchLabels`: the matching workloads of its namespace) and its `tracing`,
 * `accessLogging` and `metrics` rules with Istio's field names. Also owns the cross-document rules:
 * every provider a rule names exists (in the MeshConfig document or the built-ins) and suits the
 * section; at most one selector-less Telemetry per namespace; at most one workload Telemetry
 * selecting a given WorkloadEntry. How the scopes merge for a workload and the Envoy config they
 * become are in `translate/telemetry.ts`; the format is in docs/observability.md.
 */
import { checkOnePerScope, readSelector } from './selector-scopes';
import { CelCompileError, parseCel } from '../../config/compile/cel/cel-parser';
import { checkProviderRef, readPercent, type ProviderUse, type TelemetryProviders } from './extension-providers';
import { present, describe, isPlainObject, type DocContext, type Path } from './document-context';
import type { Labels, ResourceMeta, WorkloadEntry } from './model';

export const TELEMETRY_API_VERSIONS: readonly string[] = ['telemetry.istio.io/v1', 'telemetry.istio.io/v1alpha1'];

/** Istio `WorkloadMode`: CLIENT = the sidecar's outbound listener, SERVER = its inbound listener. */
export type WorkloadMode = 'CLIENT' | 'SERVER' | 'CLIENT_AND_SERVER';

/** Istio `Tracing.CustomTag`, keyed by tag name. */
export type CustomTag =
  | { readonly tag: string; readonly kind: 'literal'; readonly value: string }
  | { readonly tag: string; readonly kind: 'header'; readonly name: string; readonly defaultValue: string | null };

/** One `tracing[]` entry. A null field is "not set": the parent scope's value is inherited. */
export interface TracingRule {
  /** `providers[].name`; [] = inherit. (Istio uses only the first.) */
  readonly providers: readonly string[];
  /** `match.mode`; CLIENT_AND_SERVER when absent. */
  readonly mode: WorkloadMode;
  readonly randomSamplingPercentage: number | null;
  readonly disableSpanReporting: boolean | null;
  /** Sorted by tag; null = inherit (a set map replaces the parent's whole map, as in Istio). */
  readonly customTags: readonly CustomTag[] | null;
}

/** One `accessLogging[]` entry. */
export interface AccessLoggingRule {
  /** `providers[].name`; [] = the parent's providers. */
  readonly providers: readonly string[];
  readonly mode: WorkloadMode;
  /** `disabled`; null = not set. */
  readonly disabled: boolean | null;
  /** `filter.expression` (CEL, Envoy's attribute names); null = log every request. */
  readonly filter: string | null;
}

/** One `metrics[].overrides[]` entry (only `ALL_METRICS` with `disabled` is supported). */
export interface MetricsOverride {
  readonly mode: WorkloadMode;
  readonly disabled: boolean | null;
}

export interface MetricsRule {
  readonly providers: readonly string[];
  readonly overrides: readonly MetricsOverride[];
}

export interface Telemetry {
  readonly meta: ResourceMeta;
  /** `selector.matchLabels` (non-empty); null = namespace-wide (mesh-wide in the root namespace). */
  readonly selector: Labels | null;
  readonly tracing: readonly TracingRule[];
  readonly accessLogging: readonly AccessLoggingRule[];
  readonly metrics: readonly MetricsRule[];
}

const MODES: readonly WorkloadMode[] = ['CLIENT', 'SERVER', 'CLIENT_AND_SERVER'];
const ISTIO_METRICS = [
  'ALL_METRICS', 'REQUEST_COUNT', 'REQUEST_DURATION', 'REQUEST_SIZE', 'RESPONSE_SIZE', 'TCP_OPENED_CONNECTIONS',
  'TCP_CLOSED_CONNECTIONS', 'TCP_SENT_BYTES', 'TCP_RECEIVED_BYTES', 'GRPC_REQUEST_MESSAGES', 'GRPC_RESPONSE_MESSAGES',
];
const TAG_RE = /^[A-Za-z0-9_.:\-/]+$/;


/** `providers: [{name}]` → names (unchecked: references are checked across documents). */
function readProviderRefs(ctx: DocContext, o: Record<string, unknown>, path: Path): string[] {
  const out: string[] = [];
  ctx.list(o, 'providers', path).forEach((e, i) => {
    const ep = [...path, 'providers', i];
    const r = ctx.object(e, ep, ['name']);
    if (r === null) return;
    const n = ctx.string(r, 'name', ep, true);
    if (n !== undefined) out.push(n);
  });
  return out;
}

/** `mode` of a selector mapping (absent = CLIENT_AND_SERVER); null after an issue. */
function readMode(ctx: DocContext, m: Record<string, unknown>, path: Path): WorkloadMode | null {
  const mode = ctx.string(m, 'mode', path);
  if (mode === undefined) return present(m, 'mode') ? null : 'CLIENT_AND_SERVER';
  if (!(MODES as readonly string[]).includes(mode)) {
    ctx.err([...path, 'mode'], `unknown mode '${mode}'; expected one of ${MODES.join(', ')}`);
    return null;
  }
  return mode as WorkloadMode;
}

function readSelectorMode(ctx: DocContext, o: Record<string, unknown>, path: Path): WorkloadMode | null {
  if (!present(o, 'match')) return 'CLIENT_AND_SERVER';
  const mp = [...path, 'match'];
  const m = ctx.object(o['match'], mp, ['mode']);
  return m === null ? null : readMode(ctx, m, mp);
}

function readCustomTags(ctx: DocContext, v: unknown, path: Path): CustomTag[] | null {
  if (!isPlainObject(v)) {
    ctx.err(path, `expected a mapping of tag name to {literal | environment | header}, got ${describe(v)}`);
    return null;
  }
  const o = v;
  const out: CustomTag[] = [];
  for (const tag of Object.keys(o).sort()) {
    const tp = [...path, tag];
    if (!TAG_RE.test(tag)) {
      ctx.err(tp, `invalid tag name '${tag}'`);
      continue;
    }
    const t = ctx.object(o[tag], tp, ['literal', 'environment', 'header']);
    if (t === null) continue;
    const kinds = ['literal', 'environment', 'header'].filter((k) => present(t, k));
    if (kinds.length !== 1) {
      ctx.err(tp, 'exactly one of literal, environment or header is required');
      continue;
    }
    const kind = kinds[0]!;
    const kp = [...tp, kind];
    if (kind === 'environment') {
      ctx.err(kp, 'environment tags are not supported: the sidecar reads no process environment; use a literal tag with the value');
      continue;
    }
    if (kind === 'literal') {
      const l = ctx.object(t[kind], kp, ['value']);
      const value = l === null ? undefined : ctx.string(l, 'value', kp, true);
      if (value !== undefined) out.push({ tag, kind: 'literal', value });
      continue;
    }
    const s = ctx.object(t[kind], kp, ['name', 'defaultValue']);
    if (s === null) continue;
    const name = ctx.string(s, 'name', kp, true);
    const defaultValue = ctx.string(s, 'defaultValue', kp) ?? null;
    if (name === undefined) continue;
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) ctx.err([...kp, 'name'], `invalid header name '${name}'`);
    else out.push({ tag, kind: 'header', name: name.toLowerCase(), defaultValue });
  }
  return out;
}

function readTracing(ctx: DocContext, v: unknown, path: Path): TracingRule | null {
  const o = ctx.object(v, path, ['match', 'providers', 'randomSamplingPercentage', 'disableSpanReporting', 'customTags'], ['useRequestIdForTraceSampling', 'enableIstioTags']);
  if (o === null) return null;
  const before = ctx.errorCount;
  const providers = readProviderRefs(ctx, o, path);
  const mode = readSelectorMode(ctx, o, path);
  const pct = readPercent(ctx, o, 'randomSamplingPercentage', path);
  const disable = ctx.boolean(o, 'disableSpanReporting', path);
  const customTags = present(o, 'customTags') ? readCustomTags(ctx, o['customTags'], [...path, 'customTags']) : null;
  if (ctx.errorCount !== before || mode === null) return null;
  return { providers, mode, randomSamplingPercentage: pct ?? null, disableSpanReporting: disable ?? null, customTags };
}

function readAccessLogging(ctx: DocContext, v: unknown, path: Path): AccessLoggingRule | null {
  const o = ctx.object(v, path, ['match', 'providers', 'disabled', 'filter']);
  if (o === null) return null;
  const before = ctx.errorCount;
  const providers = readProviderRefs(ctx, o, path);
  const mode = readSelectorMode(ctx, o, path);
  const disabled = ctx.boolean(o, 'disabled', path);
  let filter: string | null = null;
  if (present(o, 'filter')) {
    const fp = [...path, 'filter'];
    const f = ctx.object(o['filter'], fp, ['expression']);
    if (f !== null) filter = ctx.string(f, 'expression', fp, true) ?? null;
    // The sidecars compile the same CEL subset: reject what they would NACK here, with the field path.
    if (filter !== null) {
      try {
        parseCel(filter);
      } catch (e) {
        if (!(e instanceof CelCompileError)) throw e;
        ctx.err([...fp, 'expression'], e.message);
      }
    }
  }
  if (ctx.errorCount !== before || mode === null) return null;
  return { providers, mode, disabled: disabled ?? null, filter };
}

function readMetrics(ctx: DocContext, v: unknown, path: Path): MetricsRule | null {
  const o = ctx.object(v, path, ['providers', 'overrides'], ['reportingInterval']);
  if (o === null) return null;
  const before = ctx.errorCount;
  const providers = readProviderRefs(ctx, o, path);
  const overrides: MetricsOverride[] = [];
  ctx.list(o, 'overrides', path).forEach((e, i) => {
    const op = [...path, 'overrides', i];
    const ov = ctx.object(e, op, ['match', 'disabled', 'tagOverrides']);
    if (ov === null) return;
    if (present(ov, 'tagOverrides')) {
      ctx.err([...op, 'tagOverrides'], 'tagOverrides is not supported: Remora emits Istio\'s standard labels only (cardinality is fixed by design); use disabled to turn metrics off');
    }
    let mode: WorkloadMode | null = 'CLIENT_AND_SERVER';
    if (present(ov, 'match')) {
      const mp = [...op, 'match'];
      const m = ctx.object(ov['match'], mp, ['metric', 'mode'], ['customMetric']);
      if (m === null) return;
      const metric = ctx.string(m, 'metric', mp);
      if (metric !== undefined && metric !== 'ALL_METRICS') {
        ctx.err([...mp, 'metric'], ISTIO_METRICS.includes(metric)
          ? `overriding a single metric (${metric}) is not supported; only ALL_METRICS`
          : `unknown metric '${metric}'; expected ALL_METRICS`);
      }
      mode = readMode(ctx, m, mp);
    }
    const disabled = ctx.boolean(ov, 'disabled', op);
    if (mode !== null) overrides.push({ mode, disabled: disabled ?? null });
  });
  if (ctx.errorCount !== before) return null;
  return { providers, overrides };
}

/** Reads one Telemetry spec; null (with issues recorded) when invalid. */
export function readTelemetry(ctx: DocContext, meta: ResourceMeta, v: unknown): Telemetry | null {
  const path: Path = ['spec'];
  const spec = ctx.object(v, path, ['selector', 'tracing', 'accessLogging', 'metrics'], ['targetRef', 'targetRefs']);
  if (spec === null) return null;
  const before = ctx.errorCount;
  const selector = readSelector(ctx, spec, path, { error: 'a namespace-wide Telemetry' });
  const rules = <T>(key: string, read: (ctx: DocContext, v: unknown, p: Path) => T | null): T[] => {
    const out: T[] = [];
    ctx.list(spec, key, path).forEach((e, i) => {
      const r = read(ctx, e, [...path, key, i]);
      if (r !== null) out.push(r);
    });
    return out;
  };
  const tracing = rules('tracing', readTracing);
  const accessLogging = rules('accessLogging', readAccessLogging);
  const metrics = rules('metrics', readMetrics);
  if (ctx.errorCount !== before) return null;
  return { meta, selector, tracing, accessLogging, metrics };
}

/**
 * Cross-document rules: provider references resolve (to a provider of the right kind), one
 * namespace-wide Telemetry per namespace, and at most one workload Telemetry selecting a given
 * WorkloadEntry. The issue goes on the later document, naming the first.
 */
export function checkTelemetries(
  docs: readonly { readonly ctx: DocContext; readonly value: Telemetry }[],
  providers: TelemetryProviders,
  workloads: readonly WorkloadEntry[],
): void {
  const sections: [keyof Pick<Telemetry, 'tracing' | 'accessLogging' | 'metrics'>, ProviderUse][] = [['tracing', 'tracing'], ['accessLogging', 'accessLogging'], ['metrics', 'metrics']];
  for (let i = 0; i < docs.length; i++) {
    const { ctx, value: t } = docs[i]!;
    for (const [key, use] of sections) {
      (t[key] as readonly { readonly providers: readonly string[] }[]).forEach((r, ri) => {
        r.providers.forEach((n, pi) => { checkProviderRef(ctx, providers, n, use, ['spec', key, ri, 'providers', pi, 'name']); });
      });
    }
  }
  checkOnePerScope(docs, workloads, 'Telemetry', 'Telemetry');
}
