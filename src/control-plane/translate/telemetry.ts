/**
 * The telemetry part of a sidecar listener's HCM, from the mesh's Telemetry documents and telemetry
 * providers (mesh/telemetry.ts, mesh/extension-providers.ts): the `istio.stats` filter (Istio's
 * standard metrics; on by default through the built-in `prometheus` provider), `tracing` (the
 * OpenTelemetry provider, random sampling, custom tags) and `access_log` (Envoy file logs and
 * Remora JSON logs, each with the CEL filter of its rule). The scopes merge as Istio's do: the root
 * namespace's selector-less Telemetry, then the workload namespace's, then the one selecting the
 * workload, later scopes overriding earlier ones field by field for tracing, and provider by
 * provider for access logs and metrics; CLIENT rules apply to the outbound listener, SERVER rules
 * to the inbound one. A mesh without Telemetry or MeshConfig documents gets exactly the default
 * (`istio.stats`, nothing else). Pure and deterministic. See docs/observability.md.
 */
import type { ProtoObject } from '../../config/compile/proto-json';
import { DEFAULT_TELEMETRY_PROVIDERS, type ExtensionProvider, type OpenTelemetryProvider, type TelemetryProviders } from '../mesh/extension-providers';
import type { Labels, MeshConfig } from '../mesh/model';
import type { CustomTag, Telemetry, WorkloadMode } from '../mesh/telemetry';
import { duration } from './envoy-builders';
import type { NodeView } from './node-view';

export const ISTIO_STATS_FILTER: ProtoObject = Object.freeze({
  name: 'istio.stats',
  typed_config: Object.freeze({ '@type': 'type.googleapis.com/remora.filters.http.istio_stats.v1.IstioStats' }),
});

export const OPENTELEMETRY_TRACER_NAME = 'envoy.tracers.opentelemetry';
export const OPENTELEMETRY_CONFIG_TYPE_URL = 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig';
export const FILE_ACCESS_LOG_NAME = 'envoy.access_loggers.file';
export const FILE_ACCESS_LOG_TYPE_URL = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';
export const JSON_ACCESS_LOG_NAME = 'remora.access_loggers.json';
export const JSON_ACCESS_LOG_TYPE_URL = 'type.googleapis.com/remora.access_loggers.v1.JsonAccessLog';
export const CEL_FILTER_NAME = 'envoy.access_loggers.extension_filters.cel';
export const CEL_FILTER_TYPE_URL = 'type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter';

/** Istio's sampling when a Telemetry enables tracing without `randomSamplingPercentage` (PILOT_TRACE_SAMPLING). */
export const DEFAULT_SAMPLING_PERCENT = 1;
/** `http_uri.timeout` of an OTLP/HTTP provider without `http.timeout`. */
export const DEFAULT_OTLP_HTTP_TIMEOUT_MS = 10_000;
/** The control plane's `--root-namespace` default (Istio's). */
export const DEFAULT_ROOT_NAMESPACE = 'istio-system';

export interface ListenerTelemetryXds {
  /** HTTP filters to put first in the chain (e.g. `istio.stats`). */
  readonly filters: readonly ProtoObject[];
  /** Fields merged into the HCM (`tracing`, `access_log`). */
  readonly hcmFields: ProtoObject;
}

type Direction = 'INBOUND' | 'OUTBOUND';

function modeApplies(mode: WorkloadMode, direction: Direction): boolean {
  return mode === 'CLIENT_AND_SERVER' || (mode === 'CLIENT') === (direction === 'OUTBOUND');
}

function selects(selector: Labels, labels: Labels): boolean {
  for (const k of Object.keys(selector)) if (labels[k] !== selector[k]) return false;
  return true;
}

/**
 * The Telemetries in force for a workload, least specific first: the root namespace's
 * selector-less one, its namespace's selector-less one (when not the root), and the first one of
 * its namespace whose selector matches its labels.
 */
export function applicableTelemetries(mesh: MeshConfig, rootNamespace: string, namespace: string, labels: Labels): Telemetry[] {
  const all = mesh.telemetries ?? [];
  const out: Telemetry[] = [];
  const root = all.find((t) => t.meta.namespace === rootNamespace && t.selector === null);
  if (root !== undefined) out.push(root);
  if (namespace !== rootNamespace) {
    const ns = all.find((t) => t.meta.namespace === namespace && t.selector === null);
    if (ns !== undefined) out.push(ns);
  }
  const wl = all.find((t) => t.meta.namespace === namespace && t.selector !== null && selects(t.selector, labels));
  if (wl !== undefined) out.push(wl);
  return out;
}

/** The tracing settings in force for one direction (Istio's TracingSpec). */
export interface TracingSpec {
  readonly provider: OpenTelemetryProvider | null;
  readonly disabled: boolean;
  readonly randomSamplingPercentage: number | null;
  readonly customTags: readonly CustomTag[] | null;
}

/**
 * Merges the tracing rules of `scopes` for `direction`: the first default tracing provider, then
 * each rule (in scope order) that applies to the direction overrides what it sets. Null when no
 * scope has a tracing rule and there is no default provider (tracing off).
 */
export function mergeTracing(scopes: readonly Telemetry[], providers: TelemetryProviders, direction: Direction): TracingSpec | null {
  const rules = scopes.flatMap((t) => t.tracing);
  const defaults = providers.defaultProviders.tracing;
  if (rules.length === 0 && defaults.length === 0) return null;
  let provider: ExtensionProvider | null = defaults.length > 0 ? providers.byName.get(defaults[0]!) ?? null : null;
  let disabled = false;
  let pct: number | null = null;
  let tags: readonly CustomTag[] | null = null;
  for (const r of rules) {
    if (!modeApplies(r.mode, direction)) continue;
    if (r.providers.length > 0) provider = providers.byName.get(r.providers[0]!) ?? null;
    if (r.disableSpanReporting !== null) disabled = r.disableSpanReporting;
    if (r.customTags !== null) tags = r.customTags;
    if (r.randomSamplingPercentage !== null) pct = r.randomSamplingPercentage;
  }
  const otel = provider !== null && provider.kind === 'opentelemetry' ? provider : null;
  return { provider: otel, disabled: disabled || otel === null, randomSamplingPercentage: pct, customTags: tags };
}

/**
 * The access-log providers in force for `direction`, each with its CEL filter (null = none), sorted
 * by name. Scopes without access-logging rules are skipped; the providers named by the most specific
 * scope that names any are the ones in scope; a rule without providers applies to the previous
 * rule's (initially the defaults'); `disabled: true` removes a provider, a later rule re-adds it.
 */
export function mergeAccessLogging(scopes: readonly Telemetry[], providers: TelemetryProviders, direction: Direction): [string, string | null][] {
  const levels = scopes.filter((t) => t.accessLogging.length > 0);
  const defaults = providers.defaultProviders.accessLogging;
  const out = new Map<string, string | null>();
  if (levels.length === 0) {
    for (const d of defaults) out.set(d, null);
  } else {
    let inScope: readonly string[] = defaults;
    for (const t of levels) {
      const named = new Set(t.accessLogging.flatMap((r) => r.providers));
      if (named.size > 0) inScope = [...named];
    }
    let parent = defaults;
    for (const t of levels) {
      for (const r of t.accessLogging) {
        const names = r.providers.length > 0 ? r.providers : parent;
        parent = names;
        for (const p of names) {
          if (!inScope.includes(p) || !modeApplies(r.mode, direction)) continue;
          if (r.disabled === true) out.delete(p);
          else out.set(p, r.filter);
        }
      }
    }
  }
  return [...out].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/**
 * The metrics providers in force for `direction` (sorted): the most specific non-empty `providers`
 * list (initially `defaultProviders.metrics`), minus those whose last applicable override disables
 * ALL_METRICS.
 */
export function mergeMetrics(scopes: readonly Telemetry[], providers: TelemetryProviders, direction: Direction): string[] {
  const rules = scopes.flatMap((t) => t.metrics);
  const defaults = providers.defaultProviders.metrics;
  if (rules.length === 0) return [...defaults].sort();
  let inScope: readonly string[] = defaults;
  for (const r of rules) if (r.providers.length > 0) inScope = r.providers;
  const touched = new Set<string>();
  const disabled = new Set<string>();
  let parent = defaults;
  for (const r of rules) {
    const names = r.providers.length > 0 ? r.providers : parent;
    parent = names;
    for (const p of names) {
      if (!inScope.includes(p)) continue;
      touched.add(p);
      for (const o of r.overrides) {
        if (!modeApplies(o.mode, direction)) continue;
        if (o.disabled === true) disabled.add(p);
        else disabled.delete(p);
      }
    }
  }
  return [...touched].filter((p) => !disabled.has(p)).sort();
}

/**
 * Istio's canonical service name of a workload: the `service.istio.io/canonical-name` label, else
 * `app.kubernetes.io/name`, else `app`, else the workload name.
 */
export function canonicalServiceName(node: NodeView): string {
  const l = node.labels;
  return l['service.istio.io/canonical-name'] ?? l['app.kubernetes.io/name'] ?? l['app'] ?? node.workloadName ?? 'unknown';
}

function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `OpenTelemetryConfig` for `p`: OTLP/gRPC (`grpc_service.google_grpc`) or OTLP/HTTP (`http_service`). */
export function openTelemetryConfig(p: OpenTelemetryProvider, serviceName: string): ProtoObject {
  const cfg: ProtoObject = { '@type': OPENTELEMETRY_CONFIG_TYPE_URL, service_name: serviceName };
  if (p.http === null) {
    const grpc: ProtoObject = { google_grpc: { target_uri: hostPort(p.service, p.port), stat_prefix: 'otel' } };
    if (p.grpcTimeoutMs !== null) grpc['timeout'] = duration(p.grpcTimeoutMs);
    cfg['grpc_service'] = grpc;
  } else {
    const http: ProtoObject = {
      http_uri: { uri: `http://${hostPort(p.service, p.port)}${p.http.path}`, timeout: duration(p.http.timeoutMs ?? DEFAULT_OTLP_HTTP_TIMEOUT_MS) },
    };
    cfg['http_service'] = http;
  }
  return cfg;
}

function customTag(t: CustomTag): ProtoObject {
  switch (t.kind) {
    case 'literal': return { tag: t.tag, literal: { value: t.value } };
    case 'header': return { tag: t.tag, request_header: t.defaultValue === null ? { name: t.name } : { name: t.name, default_value: t.defaultValue } };
  }
}

/** HCM `tracing` for a merged spec; null when tracing is off. */
export function hcmTracing(spec: TracingSpec | null, serviceName: string): ProtoObject | null {
  if (spec === null || spec.disabled || spec.provider === null) return null;
  const out: ProtoObject = {
    random_sampling: { value: spec.randomSamplingPercentage ?? DEFAULT_SAMPLING_PERCENT },
    provider: { name: OPENTELEMETRY_TRACER_NAME, typed_config: openTelemetryConfig(spec.provider, serviceName) },
  };
  if (spec.customTags !== null && spec.customTags.length > 0) out['custom_tags'] = spec.customTags.map(customTag);
  return out;
}

/** One HCM `access_log` entry for provider `p` (an access-log provider) with an optional CEL filter. */
export function accessLogEntry(p: ExtensionProvider, filter: string | null): ProtoObject | null {
  let entry: ProtoObject;
  if (p.kind === 'envoyFileAccessLog') {
    entry = { name: FILE_ACCESS_LOG_NAME, typed_config: { '@type': FILE_ACCESS_LOG_TYPE_URL, path: p.path } };
  } else if (p.kind === 'remoraAccessLog') {
    const cfg: ProtoObject = { '@type': JSON_ACCESS_LOG_TYPE_URL, path: p.path };
    if (p.successSamplePercent !== null) cfg['success_sample_percent'] = { value: p.successSamplePercent };
    if (p.requestHeaders.length > 0) cfg['request_headers'] = [...p.requestHeaders];
    if (p.mask !== null) {
      const m: ProtoObject = {};
      if (p.mask.headers.length > 0) m['headers'] = [...p.mask.headers];
      if (p.mask.queryParameters.length > 0) m['query_parameters'] = [...p.mask.queryParameters];
      if (p.mask.jsonFields.length > 0) m['json_fields'] = [...p.mask.jsonFields];
      if (p.mask.replaceDefaults) m['replace_defaults'] = true;
      cfg['mask'] = m;
    }
    entry = { name: JSON_ACCESS_LOG_NAME, typed_config: cfg };
  } else return null;
  if (filter !== null) {
    entry['filter'] = { extension_filter: { name: CEL_FILTER_NAME, typed_config: { '@type': CEL_FILTER_TYPE_URL, expression: filter } } };
  }
  return entry;
}

const DEFAULT_TELEMETRY: ListenerTelemetryXds = Object.freeze({ filters: Object.freeze([ISTIO_STATS_FILTER]), hcmFields: Object.freeze({}) });

/**
 * The telemetry config of `node`'s inbound (SERVER) or outbound (CLIENT) listener. `rootNamespace`
 * is the control plane's `--root-namespace` (its selector-less Telemetry is mesh-wide). Returns
 * fresh objects the caller may attach to its HCM.
 */
export function listenerTelemetry(mesh: MeshConfig, node: NodeView, direction: Direction, rootNamespace: string = DEFAULT_ROOT_NAMESPACE): ListenerTelemetryXds {
  if (mesh.telemetries === undefined && mesh.telemetryProviders === undefined) {
    return { filters: [...DEFAULT_TELEMETRY.filters], hcmFields: {} };
  }
  const providers = mesh.telemetryProviders ?? DEFAULT_TELEMETRY_PROVIDERS;
  const scopes = applicableTelemetries(mesh, rootNamespace, node.namespace, node.labels);

  const filters: ProtoObject[] = [];
  if (mergeMetrics(scopes, providers, direction).some((n) => providers.byName.get(n)?.kind === 'prometheus')) filters.push(ISTIO_STATS_FILTER);

  const hcmFields: ProtoObject = {};
  const tracing = hcmTracing(mergeTracing(scopes, providers, direction), `${canonicalServiceName(node)}.${node.namespace}`);
  if (tracing !== null) hcmFields['tracing'] = tracing;
  const logs: ProtoObject[] = [];
  for (const [name, filter] of mergeAccessLogging(scopes, providers, direction)) {
    const p = providers.byName.get(name);
    const e = p === undefined ? null : accessLogEntry(p, filter);
    if (e !== null) logs.push(e);
  }
  if (logs.length > 0) hcmFields['access_log'] = logs;
  return { filters, hcmFields };
}
