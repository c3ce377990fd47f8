/**
 * Compiles `HttpConnectionManager.tracing` (envoy.extensions.filters.network.http_connection_manager.v3
 * .HttpConnectionManager.Tracing) into TracingModel: the three sampling percentages, `max_path_tag_length`,
 * `custom_tags` (`literal` and `request_header`; `environment` and `metadata` are rejected because the
 * data plane reads no process environment and has no dynamic metadata to tag from) and the provider,
 * which must be `envoy.tracers.opentelemetry` with an `OpenTelemetryConfig` exporting either over
 * OTLP/gRPC (`grpc_service.google_grpc.target_uri`, plaintext) or OTLP/HTTP protobuf
 * (`http_service.http_uri.uri`). `grpc_service.envoy_grpc` is rejected: Remora exports to the
 * collector directly, not through one of its clusters. `verbose` is accepted and has no effect
 * (Remora's spans carry no per-filter annotations); `client_sampling` is accepted and has no effect
 * (no `x-client-trace-id` forcing). Every problem is recorded with its field path.
 */
import type { CustomTagModel, OtlpExporterModel, TracingModel } from '../tracing-model';
import { Issues, joinPath, list, msg, num, onlyFields, optDurationMs, str, wrappedInt } from './context';
import type { ProtoObject } from './proto-json';

export const OPENTELEMETRY_CONFIG_TYPE_URL = 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig';
export const OPENTELEMETRY_TRACER_NAME = 'envoy.tracers.opentelemetry';

const DEFAULT_MAX_PATH_TAG_LENGTH = 256;
const DEFAULT_EXPORT_TIMEOUT_MS = 5000;
/** A header name as Envoy's HTTP_HEADER_NAME rule (token characters), lowercased by the compiler. */
const HEADER_NAME_RE = /^:?[0-9a-zA-Z!#$%&'*+\-.^_`|~]+$/;

/** The HCM's `tracing`, or null when absent (issues recorded for an invalid one). */
export function compileTracing(issues: Issues, hcm: ProtoObject, path: string): TracingModel | null {
  const t = msg(hcm, 'tracing');
  if (t === undefined) return null;
  const tp = joinPath(path, 'tracing');
  onlyFields(issues, t, tp, ['client_sampling', 'random_sampling', 'overall_sampling', 'verbose', 'max_path_tag_length', 'custom_tags', 'provider']);
  const randomSamplingPercent = percent(issues, t, 'random_sampling', tp);
  const overallSamplingPercent = percent(issues, t, 'overall_sampling', tp);
  const clientSamplingPercent = percent(issues, t, 'client_sampling', tp);
  const maxPathTagLength = wrappedInt(issues, t, 'max_path_tag_length', tp, DEFAULT_MAX_PATH_TAG_LENGTH, 1, 65536);
  const customTags = compileCustomTags(issues, t, tp);
  const provider = msg(t, 'provider');
  let exporter: OtlpExporterModel | null = null;
  if (provider === undefined) issues.add(joinPath(tp, 'provider'), 'is required (Remora traces only to an OpenTelemetry collector)');
  else exporter = compileProvider(issues, provider, joinPath(tp, 'provider'));
  if (exporter === null) return null;
  return { randomSamplingPercent, overallSamplingPercent, clientSamplingPercent, maxPathTagLength, customTags, exporter };
}

/** An `envoy.type.v3.Percent` field; absent → 100 (Envoy's default for all three sampling fields). */
function percent(issues: Issues, o: ProtoObject, k: string, path: string): number {
  const p = msg(o, k);
  if (p === undefined) return 100;
  const fp = joinPath(path, k);
  onlyFields(issues, p, fp, ['value']);
  const v = num(p, 'value') ?? 0;
  if (!Number.isFinite(v) || v < 0 || v > 100) {
    issues.add(joinPath(fp, 'value'), `must be a percentage in 0..100, got ${v}`);
    return 100;
  }
  return v;
}

function compileCustomTags(issues: Issues, t: ProtoObject, tp: string): CustomTagModel[] {
  const out: CustomTagModel[] = [];
  const seen = new Set<string>();
  const entries = list(t, 'custom_tags');
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const p = `${joinPath(tp, 'custom_tags')}[${i}]`;
    onlyFields(issues, e, p, ['tag', 'literal', 'request_header', 'environment', 'metadata']);
    const tag = str(e, 'tag') ?? '';
    if (tag === '') issues.add(joinPath(p, 'tag'), 'is required');
    else if (seen.has(tag)) issues.add(joinPath(p, 'tag'), `duplicate tag '${tag}'`);
    seen.add(tag);
    const literal = msg(e, 'literal');
    const header = msg(e, 'request_header');
    if (msg(e, 'environment') !== undefined) {
      issues.add(joinPath(p, 'environment'), 'environment tags are not supported by Remora (the sidecar reads no process environment at config time); use a literal tag with the value');
    } else if (msg(e, 'metadata') !== undefined) {
      issues.add(joinPath(p, 'metadata'), 'metadata tags are not supported by Remora');
    } else if (literal !== undefined) {
      const lp = joinPath(p, 'literal');
      onlyFields(issues, literal, lp, ['value']);
      const value = str(literal, 'value') ?? '';
      if (value === '') issues.add(joinPath(lp, 'value'), 'is required');
      out.push({ kind: 'literal', tag, value });
    } else if (header !== undefined) {
      const hp = joinPath(p, 'request_header');
      onlyFields(issues, header, hp, ['name', 'default_value']);
      const name = str(header, 'name') ?? '';
      if (!HEADER_NAME_RE.test(name)) issues.add(joinPath(hp, 'name'), name === '' ? 'is required' : `'${name}' is not a valid header name`);
      const dflt = str(header, 'default_value') ?? '';
      out.push({ kind: 'request_header', tag, name: name.toLowerCase(), defaultValue: dflt === '' ? null : dflt });
    } else {
      issues.add(p, 'one of literal or request_header is required');
    }
  }
  return out;
}

/** `config.trace.v3.Tracing.Http` → the OTLP exporter; null when invalid (issues recorded). */
function compileProvider(issues: Issues, provider: ProtoObject, pp: string): OtlpExporterModel | null {
  const before = issues.count;
  onlyFields(issues, provider, pp, ['name', 'typed_config']);
  const name = str(provider, 'name') ?? '';
  if (name !== '' && name !== OPENTELEMETRY_TRACER_NAME) {
    issues.add(joinPath(pp, 'name'), `tracer '${name}' is not supported by Remora (only ${OPENTELEMETRY_TRACER_NAME})`);
  }
  const tc = msg(provider, 'typed_config');
  const tcp = joinPath(pp, 'typed_config');
  if (tc === undefined) {
    issues.add(tcp, `is required (${OPENTELEMETRY_CONFIG_TYPE_URL})`);
    return null;
  }
  if (tc['@type'] !== OPENTELEMETRY_CONFIG_TYPE_URL) {
    issues.add(tcp, `type ${String(tc['@type'])} is not supported by Remora (only ${OPENTELEMETRY_CONFIG_TYPE_URL})`);
    return null;
  }
  onlyFields(issues, tc, tcp, ['grpc_service', 'http_service', 'service_name']);
  const serviceName = str(tc, 'service_name') ?? '';
  const grpcService = msg(tc, 'grpc_service');
  const httpService = msg(tc, 'http_service');
  let protocol: 'grpc' | 'http' = 'grpc';
  let endpoint = '';
  let timeoutMs = DEFAULT_EXPORT_TIMEOUT_MS;
  if (grpcService !== undefined && httpService !== undefined) {
    issues.add(tcp, 'only one of grpc_service and http_service may be set');
  } else if (grpcService !== undefined) {
    const gp = joinPath(tcp, 'grpc_service');
    onlyFields(issues, grpcService, gp, ['google_grpc', 'envoy_grpc', 'timeout']);
    timeoutMs = optDurationMs(issues, grpcService, 'timeout', gp, DEFAULT_EXPORT_TIMEOUT_MS) ?? DEFAULT_EXPORT_TIMEOUT_MS;
    const google = msg(grpcService, 'google_grpc');
    if (msg(grpcService, 'envoy_grpc') !== undefined) {
      issues.add(joinPath(gp, 'envoy_grpc'), 'is not supported by Remora: spans are exported to the collector directly, not through a cluster; use google_grpc.target_uri');
    } else if (google === undefined) {
      issues.add(joinPath(gp, 'google_grpc'), 'is required');
    } else {
      const ggp = joinPath(gp, 'google_grpc');
      onlyFields(issues, google, ggp, ['target_uri', 'stat_prefix']);
      const target = grpcTarget(str(google, 'target_uri') ?? '');
      if (target === null) issues.add(joinPath(ggp, 'target_uri'), `must be host:port or dns:///host:port, got '${str(google, 'target_uri') ?? ''}'`);
      else endpoint = `http://${target}`;
    }
  } else if (httpService !== undefined) {
    protocol = 'http';
    const hp = joinPath(tcp, 'http_service');
    onlyFields(issues, httpService, hp, ['http_uri']);
    const uri = msg(httpService, 'http_uri');
    if (uri === undefined) {
      issues.add(joinPath(hp, 'http_uri'), 'is required');
    } else {
      const up = joinPath(hp, 'http_uri');
      // `cluster` is required by Envoy's proto; Remora exports directly and ignores it.
      onlyFields(issues, uri, up, ['uri', 'cluster', 'timeout']);
      timeoutMs = optDurationMs(issues, uri, 'timeout', up, DEFAULT_EXPORT_TIMEOUT_MS) ?? DEFAULT_EXPORT_TIMEOUT_MS;
      const u = str(uri, 'uri') ?? '';
      if (!isHttpUrl(u)) issues.add(joinPath(up, 'uri'), `must be an http:// or https:// URL, got '${u}'`);
      else endpoint = u;
    }
  } else {
    issues.add(tcp, 'one of grpc_service or http_service is required');
  }
  if (issues.count !== before) return null;
  return { protocol, endpoint, serviceName, timeoutMs, key: `${protocol}|${endpoint}|${serviceName}|${timeoutMs}` };
}

/** `host:port`, `dns:///host:port` or `ipv4:host:port` → `host:port`; null when not of that shape. */
function grpcTarget(uri: string): string | null {
  let t = uri;
  if (t.startsWith('dns:///')) t = t.slice(7);
  else if (t.startsWith('ipv4:')) t = t.slice(5);
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(t);
  if (m === null) return null;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? t : null;
}

function isHttpUrl(u: string): boolean {
  try {
    const p = new URL(u);
    return (p.protocol === 'http:' || p.protocol === 'https:') && p.host !== '';
  } catch {
    return false;
  }
}
