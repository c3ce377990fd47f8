/**
 * Validates the `remora.dev/v1alpha1` `MeshConfig` document: the telemetry part of Istio's
 * MeshConfig, `extensionProviders` (named OpenTelemetry tracing collectors, Envoy file access logs,
 * Remora JSON access logs, Prometheus metrics) and `defaultProviders` (the providers in force when no
 * Telemetry names one). Owns the built-in providers Istio also ships (`prometheus`, and `envoy`: a
 * file access log to /dev/stdout), the provider lookup by name and kind used by Telemetry validation
 * and translation, and the cross-document rule that a mesh has at most one MeshConfig. The Envoy
 * resources a provider becomes are built in `translate/telemetry.ts`; the format is in
 * docs/observability.md.
 */
import { readDuration } from './common-fields';
import type { DocContext, Path } from './document-context';
import { describe, isPlainObject } from './document-context';
import type { ResourceMeta } from './model';

/** What a provider can be used for (the Telemetry section that may name it). */
export type ProviderUse = 'tracing' | 'accessLogging' | 'metrics';

/** Istio `opentelemetry`: spans exported over OTLP to `service:port` (gRPC, or HTTP/protobuf with `http`). */
export interface OpenTelemetryProvider {
  readonly kind: 'opentelemetry';
  readonly name: string;
  /** Collector host name or IP. */
  readonly service: string;
  readonly port: number;
  /** `grpc.timeout` (per export RPC) in ms; null = the data plane's default. Only without `http`. */
  readonly grpcTimeoutMs: number | null;
  /** OTLP over HTTP/protobuf instead of gRPC; null = gRPC. */
  readonly http: {
    /** URL path, with a leading '/' (Istio: `path`, e.g. `/v1/traces`). */
    readonly path: string;
    /** Request timeout in ms; null = the default (10 s). */
    readonly timeoutMs: number | null;
  } | null;
}

/** Istio `envoyFileAccessLog`: Envoy's file access log (its default text format). */
export interface EnvoyFileAccessLogProvider {
  readonly kind: 'envoyFileAccessLog';
  readonly name: string;
  readonly path: string;
}

/** Remora's JSON access log (remora.access_loggers.v1.JsonAccessLog): sampling and masking. */
export interface RemoraAccessLogProvider {
  readonly kind: 'remoraAccessLog';
  readonly name: string;
  readonly path: string;
  /** 0..100 share of successful requests written (errors always are); null = 100. */
  readonly successSamplePercent: number | null;
  /** Request headers copied into each line (lower-case). */
  readonly requestHeaders: readonly string[];
  /** Redaction lists (lower-case header names; as given for the others); null = the defaults. */
  readonly mask: {
    readonly headers: readonly string[];
    readonly queryParameters: readonly string[];
    readonly jsonFields: readonly string[];
    readonly replaceDefaults: boolean;
  } | null;
}

/** Istio `prometheus`: the standard Istio metrics (the `istio.stats` filter). */
export interface PrometheusProvider {
  readonly kind: 'prometheus';
  readonly name: string;
}

export type ExtensionProvider = OpenTelemetryProvider | EnvoyFileAccessLogProvider | RemoraAccessLogProvider | PrometheusProvider;

/** The providers of the mesh (the document's plus the built-ins it does not redefine) and the defaults. */
export interface TelemetryProviders {
  /** The MeshConfig document; null = built-ins only. */
  readonly meta: ResourceMeta | null;
  /** By name; names are unique. */
  readonly byName: ReadonlyMap<string, ExtensionProvider>;
  /** `defaultProviders`: used by a scope that names no provider. Defaults: tracing [], accessLogging [], metrics [prometheus]. */
  readonly defaultProviders: {
    readonly tracing: readonly string[];
    readonly accessLogging: readonly string[];
    readonly metrics: readonly string[];
  };
}

const PROVIDER_KINDS = ['opentelemetry', 'envoyFileAccessLog', 'remoraAccessLog', 'prometheus'] as const;
/** Istio provider kinds Remora does not implement (reported as such, not as unknown fields). */
const ISTIO_ONLY_KINDS = [
  'zipkin', 'datadog', 'lightstep', 'skywalking', 'stackdriver', 'envoyExtAuthzHttp', 'envoyExtAuthzGrpc',
  'envoyHttpAls', 'envoyTcpAls', 'envoyOtelAls', 'sds',
];
const USE_OF: Record<ExtensionProvider['kind'], ProviderUse> = {
  opentelemetry: 'tracing', envoyFileAccessLog: 'accessLogging', remoraAccessLog: 'accessLogging', prometheus: 'metrics',
};
const KINDS_FOR_USE: Record<ProviderUse, string> = {
  tracing: 'opentelemetry', accessLogging: 'envoyFileAccessLog or remoraAccessLog', metrics: 'prometheus',
};

const BUILTINS: readonly ExtensionProvider[] = [
  { kind: 'prometheus', name: 'prometheus' },
  { kind: 'envoyFileAccessLog', name: 'envoy', path: '/dev/stdout' },
];

/** The providers of a mesh without a MeshConfig document: the built-ins and Istio's default metrics provider. */
export const DEFAULT_TELEMETRY_PROVIDERS: TelemetryProviders = Object.freeze({
  meta: null,
  byName: new Map(BUILTINS.map((p) => [p.name, p])),
  defaultProviders: Object.freeze({ tracing: Object.freeze([]), accessLogging: Object.freeze([]), metrics: Object.freeze(['prometheus']) }),
});

const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HOST_RE = /^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:.]+\]?$/;

/** What the provider kind of `p` is for. */
export function providerUse(p: ExtensionProvider): ProviderUse {
  return USE_OF[p.kind];
}

/**
 * Checks that `name` is a provider usable for `use`; returns the provider or records an issue at
 * `path` naming the available ones. Used by Telemetry validation and `defaultProviders`.
 */
export function checkProviderRef(ctx: DocContext, providers: TelemetryProviders, name: string, use: ProviderUse, path: Path): ExtensionProvider | null {
  const p = providers.byName.get(name);
  if (p === undefined) {
    const known = [...providers.byName.values()].filter((x) => USE_OF[x.kind] === use).map((x) => x.name).sort();
    const where = providers.meta === null ? 'no MeshConfig document defines it' : `MeshConfig ${providers.meta.name} does not define it`;
    ctx.err(path, `unknown ${use} provider '${name}' (${where}); ${use} providers: ${known.length === 0 ? 'none' : known.join(', ')}`);
    return null;
  }
  if (USE_OF[p.kind] !== use) {
    ctx.err(path, `provider '${name}' is a ${p.kind} provider and cannot be used for ${use} (expected ${KINDS_FOR_USE[use]})`);
    return null;
  }
  return p;
}

/** A percentage in [0, 100] (fractions allowed); undefined when absent, null after an issue. */
export function readPercent(ctx: DocContext, o: Record<string, unknown>, key: string, path: Path): number | null | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    ctx.err([...path, key], `expected a number between 0 and 100, got ${describe(v)}`);
    return null;
  }
  if (v < 0 || v > 100) {
    ctx.err([...path, key], `${v} is out of range (0..100)`);
    return null;
  }
  return v;
}

function readOpenTelemetry(ctx: DocContext, name: string, v: unknown, path: Path): OpenTelemetryProvider | null {
  const o = ctx.object(v, path, ['service', 'port', 'http', 'grpc'], ['maxTagLength', 'resourceDetectors', 'dynatraceSampler']);
  if (o === null) return null;
  const service = ctx.string(o, 'service', path, true);
  if (service !== undefined && !HOST_RE.test(service)) ctx.err([...path, 'service'], `invalid service '${service}'; expected a host name or IP address (no scheme or port)`);
  const port = ctx.integer(o, 'port', path, 1, 65535, true);
  let grpcTimeoutMs: number | null = null;
  if (o['grpc'] !== undefined && o['grpc'] !== null) {
    const gp = [...path, 'grpc'];
    const g = ctx.object(o['grpc'], gp, ['timeout'], ['initialMetadata']);
    if (g !== null) grpcTimeoutMs = readDuration(ctx, g, 'timeout', gp);
    if (o['http'] !== undefined && o['http'] !== null) ctx.err(gp, 'grpc and http are exclusive (http exports over OTLP/HTTP, otherwise OTLP/gRPC is used)');
  }
  let http: OpenTelemetryProvider['http'] = null;
  if (o['http'] !== undefined && o['http'] !== null) {
    const hp = [...path, 'http'];
    const h = ctx.object(o['http'], hp, ['path', 'timeout'], ['headers']);
    if (h !== null) {
      const p = ctx.string(h, 'path', hp) ?? '/v1/traces';
      http = { path: p.startsWith('/') ? p : `/${p}`, timeoutMs: readDuration(ctx, h, 'timeout', hp) };
    }
  }
  if (service === undefined || port === undefined) return null;
  return { kind: 'opentelemetry', name, service, port, grpcTimeoutMs, http };
}

function readPath(ctx: DocContext, o: Record<string, unknown>, path: Path): string | undefined {
  const p = ctx.string(o, 'path', path, true);
  if (p !== undefined && p.includes('\0')) {
    ctx.err([...path, 'path'], 'must not contain NUL');
    return undefined;
  }
  return p;
}

function readEnvoyFileAccessLog(ctx: DocContext, name: string, v: unknown, path: Path): EnvoyFileAccessLogProvider | null {
  const o = ctx.object(v, path, ['path'], ['logFormat']);
  if (o === null) return null;
  const p = readPath(ctx, o, path);
  return p === undefined ? null : { kind: 'envoyFileAccessLog', name, path: p };
}

function readRemoraAccessLog(ctx: DocContext, name: string, v: unknown, path: Path): RemoraAccessLogProvider | null {
  const o = ctx.object(v, path, ['path', 'successSamplePercent', 'requestHeaders', 'mask']);
  if (o === null) return null;
  const before = ctx.errorCount;
  const p = readPath(ctx, o, path);
  const pct = readPercent(ctx, o, 'successSamplePercent', path);
  const requestHeaders = ctx.stringList(o, 'requestHeaders', path);
  requestHeaders.forEach((h, i) => { if (!HEADER_NAME_RE.test(h)) ctx.err([...path, 'requestHeaders', i], `invalid header name '${h}'`); });
  let mask: RemoraAccessLogProvider['mask'] = null;
  if (o['mask'] !== undefined && o['mask'] !== null) {
    const mp = [...path, 'mask'];
    const m = ctx.object(o['mask'], mp, ['headers', 'queryParameters', 'jsonFields', 'replaceDefaults']);
    if (m !== null) {
      const headers = ctx.stringList(m, 'headers', mp);
      headers.forEach((h, i) => { if (!HEADER_NAME_RE.test(h)) ctx.err([...mp, 'headers', i], `invalid header name '${h}'`); });
      mask = {
        headers: headers.map((h) => h.toLowerCase()),
        queryParameters: ctx.stringList(m, 'queryParameters', mp),
        jsonFields: ctx.stringList(m, 'jsonFields', mp),
        replaceDefaults: ctx.boolean(m, 'replaceDefaults', mp) ?? false,
      };
    }
  }
  if (p === undefined || ctx.errorCount !== before) return null;
  return { kind: 'remoraAccessLog', name, path: p, successSamplePercent: pct ?? null, requestHeaders: requestHeaders.map((h) => h.toLowerCase()), mask };
}

function readProvider(ctx: DocContext, v: unknown, path: Path): ExtensionProvider | null {
  const o = ctx.object(v, path, ['name', ...PROVIDER_KINDS], ISTIO_ONLY_KINDS);
  if (o === null) return null;
  const name = ctx.string(o, 'name', path, true);
  const kinds = PROVIDER_KINDS.filter((k) => o[k] !== undefined && o[k] !== null);
  if (kinds.length !== 1) {
    if (!ISTIO_ONLY_KINDS.some((k) => o[k] !== undefined)) {
      ctx.err(path, kinds.length === 0 ? `exactly one of ${PROVIDER_KINDS.join(', ')} is required` : `exactly one provider kind is allowed, got ${kinds.join(' and ')}`);
    }
    return null;
  }
  if (name === undefined) return null;
  const kind = kinds[0]!;
  const kp = [...path, kind];
  switch (kind) {
    case 'opentelemetry': return readOpenTelemetry(ctx, name, o[kind], kp);
    case 'envoyFileAccessLog': return readEnvoyFileAccessLog(ctx, name, o[kind], kp);
    case 'remoraAccessLog': return readRemoraAccessLog(ctx, name, o[kind], kp);
    case 'prometheus': return ctx.object(o[kind], kp, []) === null ? null : { kind: 'prometheus', name };
  }
}

/** Reads the spec of a `remora.dev/v1alpha1` MeshConfig document; null (with issues) when invalid. */
export function readMeshConfigDocument(ctx: DocContext, meta: ResourceMeta, v: unknown): TelemetryProviders | null {
  const path: Path = ['spec'];
  const spec = ctx.object(v, path, ['extensionProviders', 'defaultProviders']);
  if (spec === null) return null;
  const before = ctx.errorCount;
  const byName = new Map<string, ExtensionProvider>();
  const own = new Set<string>();
  ctx.list(spec, 'extensionProviders', path).forEach((e, i) => {
    const ep = [...path, 'extensionProviders', i];
    const raw = isPlainObject(e) && typeof e['name'] === 'string' ? e['name'] : null;
    if (raw !== null && own.has(raw)) ctx.err([...ep, 'name'], `duplicate provider name '${raw}'`);
    if (raw !== null) own.add(raw);
    const p = readProvider(ctx, e, ep);
    if (p !== null) byName.set(p.name, p);
  });
  // The built-ins stay available unless redefined.
  for (const b of BUILTINS) if (!byName.has(b.name)) byName.set(b.name, b);
  const providers: TelemetryProviders = { meta, byName, defaultProviders: DEFAULT_TELEMETRY_PROVIDERS.defaultProviders };
  let defaults = DEFAULT_TELEMETRY_PROVIDERS.defaultProviders;
  if (spec['defaultProviders'] !== undefined && spec['defaultProviders'] !== null) {
    const dp = [...path, 'defaultProviders'];
    const d = ctx.object(spec['defaultProviders'], dp, ['tracing', 'accessLogging', 'metrics']);
    if (d !== null) {
      const list = (use: ProviderUse): readonly string[] => {
        if (d[use] === undefined || d[use] === null) return DEFAULT_TELEMETRY_PROVIDERS.defaultProviders[use];
        const names = ctx.stringList(d, use, dp);
        names.forEach((n, i) => { checkProviderRef(ctx, providers, n, use, [...dp, use, i]); });
        return names;
      };
      defaults = { tracing: list('tracing'), accessLogging: list('accessLogging'), metrics: list('metrics') };
    }
  }
  if (ctx.errorCount !== before) return null;
  return { meta, byName, defaultProviders: defaults };
}

/** Cross-document rule: at most one MeshConfig document in the mesh (the issue goes on every later one). */
export function checkMeshConfigDocuments(docs: readonly { readonly ctx: DocContext; readonly value: TelemetryProviders }[]): void {
  const first = docs[0];
  for (let i = 1; i < docs.length; i++) {
    const m = first!.value.meta!;
    docs[i]!.ctx.err(['metadata', 'name'], `a mesh has one MeshConfig; ${m.namespace}/${m.name} (${m.file}, document ${m.index}) is already defined`);
  }
}
