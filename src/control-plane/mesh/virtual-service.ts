/**
 * Validates the `spec` of `VirtualService` and `DestinationRule` documents into their model types
 * (Istio field names and per-document semantics: one of route/redirect/directResponse per HTTP
 * route, weights summing to 100 across several destinations, StringMatch shapes, durations,
 * `retries` with Istio's `retryOn` list mapped to Envoy conditions, `fault` delay/abort, `corsPolicy`
 * (mesh/cors-policy.ts), and the
 * DestinationRule `trafficPolicy` through `traffic-policy.ts`). Fields Istio has but Remora does
 * not implement yet (`mirror`, `delegate`, …) are rejected as "not supported yet" at their path.
 * Host/subset references are checked by the loader (`load-mesh-config.ts`).
 */
import type { DocContext, Path } from './document-context';
import { readDuration, readHeaders, readStringMatch } from './common-fields';
import type {
  DestinationRule, HttpDirectResponse, HttpFault, HttpMatch, HttpRedirect, HttpRetry, HttpRoute, NamedStringMatch, ResourceMeta,
  RouteDestination, Subset, VirtualService,
} from './model';
import { isValidHost } from './service-entry';
import { readPercent, readTrafficPolicy } from './traffic-policy';
import { readCorsPolicy } from './cors-policy';

const REDIRECT_CODES: readonly number[] = [301, 302, 303, 307, 308];

function namedMatches(ctx: DocContext, o: Record<string, unknown>, key: string, path: Path, allowPrefix: boolean, lower: boolean): NamedStringMatch[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  const p = [...path, key];
  if (typeof v !== 'object' || Array.isArray(v)) {
    ctx.err(p, 'expected a mapping of name to StringMatch');
    return [];
  }
  const out: NamedStringMatch[] = [];
  for (const name of Object.keys(v as object).sort()) {
    if (name === '') {
      ctx.err([...p, name], 'name must not be empty');
      continue;
    }
    const m = readStringMatch(ctx, (v as Record<string, unknown>)[name], [...p, name], allowPrefix);
    if (m !== null) out.push({ name: lower ? name.toLowerCase() : name, match: m });
  }
  return out;
}

function readMatch(ctx: DocContext, v: unknown, path: Path): HttpMatch | null {
  const o = ctx.object(v, path, ['name', 'uri', 'headers', 'queryParams', 'method', 'authority', 'sourceLabels', 'ignoreUriCase'],
    ['port', 'withoutHeaders', 'gateways', 'sourceNamespace', 'scheme', 'statPrefix']);
  if (o === null) return null;
  const before = ctx.errorCount;
  const opt = (k: string) => (o[k] === undefined || o[k] === null ? null : readStringMatch(ctx, o[k], [...path, k]));
  const m: HttpMatch = {
    name: ctx.string(o, 'name', path) ?? null,
    uri: opt('uri'),
    ignoreUriCase: ctx.boolean(o, 'ignoreUriCase', path) ?? false,
    headers: namedMatches(ctx, o, 'headers', path, true, true),
    queryParams: namedMatches(ctx, o, 'queryParams', path, false, false),
    method: opt('method'),
    authority: opt('authority'),
    sourceLabels: o['sourceLabels'] === undefined || o['sourceLabels'] === null ? null : ctx.labels(o, 'sourceLabels', path),
  };
  if (m.uri !== null && m.uri.kind === 'exact' && !m.uri.value.startsWith('/')) ctx.err([...path, 'uri', 'exact'], "must start with '/'");
  if (m.uri !== null && m.uri.kind === 'prefix' && !m.uri.value.startsWith('/')) ctx.err([...path, 'uri', 'prefix'], "must start with '/'");
  return ctx.errorCount === before ? m : null;
}

function readDestination(ctx: DocContext, v: unknown, path: Path, single: boolean): RouteDestination | null {
  const o = ctx.object(v, path, ['destination', 'weight', 'headers']);
  if (o === null) return null;
  const before = ctx.errorCount;
  const dp = [...path, 'destination'];
  let host: string | undefined;
  let subset: string | undefined;
  let port: number | undefined;
  if (o['destination'] === undefined || o['destination'] === null) ctx.err(dp, 'is required');
  else {
    const d = ctx.object(o['destination'], dp, ['host', 'subset', 'port']);
    if (d !== null) {
      host = ctx.string(d, 'host', dp, true);
      if (host !== undefined && !isValidHost(host)) ctx.err([...dp, 'host'], `invalid host '${host}'`);
      subset = ctx.string(d, 'subset', dp);
      if (subset === '') ctx.err([...dp, 'subset'], 'must not be empty');
      if (d['port'] !== undefined && d['port'] !== null) {
        const pp = [...dp, 'port'];
        const po = ctx.object(d['port'], pp, ['number']);
        if (po !== null) port = ctx.integer(po, 'number', pp, 1, 65535, true);
      }
    }
  }
  const weight = ctx.integer(o, 'weight', path, 0, 100, !single);
  const headers = readHeaders(ctx, o['headers'], [...path, 'headers']);
  if (ctx.errorCount !== before) return null;
  return { host: host!, subset: subset ?? null, port: port ?? null, weight: single ? 100 : weight!, headers };
}

function readRedirect(ctx: DocContext, v: unknown, path: Path): HttpRedirect | null {
  const o = ctx.object(v, path, ['uri', 'authority', 'port', 'scheme', 'redirectCode'], ['derivePort']);
  if (o === null) return null;
  const before = ctx.errorCount;
  const uri = ctx.string(o, 'uri', path);
  if (uri !== undefined && !uri.startsWith('/')) ctx.err([...path, 'uri'], "must start with '/'");
  const scheme = ctx.string(o, 'scheme', path);
  if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') ctx.err([...path, 'scheme'], "must be 'http' or 'https'");
  const code = ctx.integer(o, 'redirectCode', path, 300, 399);
  if (code !== undefined && !REDIRECT_CODES.includes(code)) ctx.err([...path, 'redirectCode'], `unsupported redirect code ${code}; expected one of ${REDIRECT_CODES.join(', ')}`);
  const r: HttpRedirect = {
    uri: uri ?? null, authority: ctx.string(o, 'authority', path) ?? null, port: ctx.integer(o, 'port', path, 1, 65535) ?? null,
    scheme: scheme ?? null, redirectCode: code ?? 301,
  };
  return ctx.errorCount === before ? r : null;
}

function readDirectResponse(ctx: DocContext, v: unknown, path: Path): HttpDirectResponse | null {
  const o = ctx.object(v, path, ['status', 'body']);
  if (o === null) return null;
  const before = ctx.errorCount;
  const status = ctx.integer(o, 'status', path, 200, 599, true);
  let body: HttpDirectResponse['body'] = null;
  if (o['body'] !== undefined && o['body'] !== null) {
    const bp = [...path, 'body'];
    const b = ctx.object(o['body'], bp, ['string', 'bytes']);
    if (b !== null) {
      const s = ctx.string(b, 'string', bp);
      const bytes = ctx.string(b, 'bytes', bp);
      if (s !== undefined && bytes !== undefined) ctx.err(bp, 'only one of string or bytes may be set');
      else if (s !== undefined) body = { kind: 'string', value: s };
      else if (bytes !== undefined) {
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(bytes)) ctx.err([...bp, 'bytes'], 'expected base64');
        else body = { kind: 'bytes', value: Buffer.from(bytes, 'base64') };
      } else ctx.err(bp, 'one of string or bytes is required');
    }
  }
  return ctx.errorCount === before ? { status: status!, body } : null;
}

/** Envoy `retry_on` conditions Remora's data plane implements (HTTP, then gRPC). */
export const RETRY_ON_CONDITIONS: readonly string[] = [
  '5xx', 'gateway-error', 'reset', 'connect-failure', 'refused-stream', 'retriable-status-codes',
  'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable',
];
/** Envoy conditions Istio passes through that Remora does not implement. */
const RETRY_ON_NOT_YET: readonly string[] = ['envoy-ratelimited', 'retriable-4xx', 'retriable-headers', 'http3-post-connect-failure'];
/** Istio's `retryOn` when `retries` is given without it (with retriable status 503). */
export const ISTIO_DEFAULT_RETRY_ON: readonly string[] = ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'];

function readRetries(ctx: DocContext, v: unknown, path: Path): HttpRetry | null {
  const o = ctx.object(v, path, ['attempts', 'perTryTimeout', 'retryOn', 'retryRemoteLocalities', 'backoff'], ['retryIgnorePreviousHosts']);
  if (o === null) return null;
  const before = ctx.errorCount;
  // Istio: attempts absent or 0 disables retries for the route.
  const attempts = ctx.integer(o, 'attempts', path, 0, 100) ?? 0;
  const perTryTimeoutMs = readDuration(ctx, o, 'perTryTimeout', path);
  const backoffMs = readDuration(ctx, o, 'backoff', path);
  ctx.boolean(o, 'retryRemoteLocalities', path); // accepted: Remora has one locality, so it has no effect
  let retryOn: string[] = [...ISTIO_DEFAULT_RETRY_ON];
  let codes: number[] = [503];
  const raw = ctx.string(o, 'retryOn', path);
  if (raw !== undefined) {
    retryOn = [];
    codes = [];
    const rp = [...path, 'retryOn'];
    for (const part of raw.split(',')) {
      const c = part.trim();
      if (c === '') continue;
      if (/^\d+$/.test(c)) {
        const n = Number(c);
        if (n < 100 || n > 599) ctx.err(rp, `'${c}' is not an HTTP status (100..599)`);
        else if (!codes.includes(n)) codes.push(n);
      } else if (RETRY_ON_NOT_YET.includes(c)) ctx.err(rp, `retry condition '${c}' is not supported yet`);
      else if (!RETRY_ON_CONDITIONS.includes(c)) ctx.err(rp, `unknown retry condition '${c}'; expected HTTP status codes or any of ${RETRY_ON_CONDITIONS.join(', ')}`);
      else if (!retryOn.includes(c)) retryOn.push(c);
    }
    // Istio: a status code in retryOn implies retriable-status-codes.
    if (codes.length > 0 && !retryOn.includes('retriable-status-codes')) retryOn.push('retriable-status-codes');
    if (retryOn.includes('retriable-status-codes') && codes.length === 0) ctx.err(rp, "'retriable-status-codes' needs at least one HTTP status code in the list (e.g. \"503,retriable-status-codes\")");
    if (retryOn.length === 0 && ctx.errorCount === before) ctx.err(rp, 'names no retry condition');
  }
  if (ctx.errorCount !== before) return null;
  return { attempts, perTryTimeoutMs, retryOn, retriableStatusCodes: codes, backoffMs };
}

/** gRPC status names (google.rpc.Code) Istio accepts in `abort.grpcStatus`, by code. OK is not a fault. */
const GRPC_CODES: readonly string[] = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE',
  'DATA_LOSS', 'UNAUTHENTICATED',
];

function requiredPercent(ctx: DocContext, o: Record<string, unknown>, path: Path): number | undefined {
  // Deviation: Istio treats a missing percentage as "never"; Remora asks for it so a fault is never a silent no-op.
  if (o['percentage'] === undefined || o['percentage'] === null) {
    ctx.err([...path, 'percentage'], 'is required (e.g. {value: 100})');
    return undefined;
  }
  return readPercent(ctx, o['percentage'], [...path, 'percentage']);
}

function readFault(ctx: DocContext, v: unknown, path: Path): HttpFault | null {
  const o = ctx.object(v, path, ['delay', 'abort']);
  if (o === null) return null;
  const before = ctx.errorCount;
  let delay: HttpFault['delay'] = null;
  let abort: HttpFault['abort'] = null;
  if (o['delay'] !== undefined && o['delay'] !== null) {
    const dp = [...path, 'delay'];
    const d = ctx.object(o['delay'], dp, ['fixedDelay', 'percentage'], ['exponentialDelay', 'percent']);
    if (d !== null) {
      const fixedDelayMs = readDuration(ctx, d, 'fixedDelay', dp);
      if (fixedDelayMs === null && (d['fixedDelay'] === undefined || d['fixedDelay'] === null)) ctx.err([...dp, 'fixedDelay'], 'is required');
      const percent = requiredPercent(ctx, d, dp);
      if (fixedDelayMs !== null && percent !== undefined) delay = { percent, fixedDelayMs };
    }
  }
  if (o['abort'] !== undefined && o['abort'] !== null) {
    const ap = [...path, 'abort'];
    const a = ctx.object(o['abort'], ap, ['httpStatus', 'grpcStatus', 'percentage'], ['http2Error']);
    if (a !== null) {
      const hasHttp = a['httpStatus'] !== undefined && a['httpStatus'] !== null;
      const hasGrpc = a['grpcStatus'] !== undefined && a['grpcStatus'] !== null;
      let httpStatus: number | null = null;
      let grpcStatus: number | null = null;
      if (hasHttp === hasGrpc) ctx.err(ap, hasHttp ? 'only one of httpStatus or grpcStatus may be set' : 'one of httpStatus or grpcStatus is required');
      else if (hasHttp) httpStatus = ctx.integer(a, 'httpStatus', ap, 200, 599) ?? null;
      else {
        const g = ctx.string(a, 'grpcStatus', ap, true);
        const code = g === undefined ? -1 : GRPC_CODES.indexOf(g.toUpperCase());
        if (g !== undefined && code <= 0) ctx.err([...ap, 'grpcStatus'], `${code === 0 ? 'OK is not a fault' : `unknown gRPC status '${g}'`}; expected one of ${GRPC_CODES.slice(1).join(', ')}`);
        else if (code > 0) grpcStatus = code;
      }
      const percent = requiredPercent(ctx, a, ap);
      if (percent !== undefined && (httpStatus !== null || grpcStatus !== null)) abort = { percent, httpStatus, grpcStatus };
    }
  }
  if (o['delay'] == null && o['abort'] == null) ctx.err(path, 'one of delay or abort is required');
  return ctx.errorCount === before ? { delay, abort } : null;
}

function readHttpRoute(ctx: DocContext, v: unknown, path: Path): HttpRoute | null {
  const o = ctx.object(v, path, ['name', 'match', 'route', 'redirect', 'directResponse', 'rewrite', 'timeout', 'headers', 'retries', 'fault', 'corsPolicy'],
    ['mirror', 'mirrors', 'mirrorPercentage', 'mirrorPercent', 'mirror_percent', 'delegate']);
  if (o === null) return null;
  const match: HttpMatch[] = [];
  const rawMatch = ctx.list(o, 'match', path);
  for (let i = 0; i < rawMatch.length; i++) {
    const m = readMatch(ctx, rawMatch[i], [...path, 'match', i]);
    if (m !== null) match.push(m);
  }
  const rawRoute = ctx.list(o, 'route', path);
  const route: RouteDestination[] = [];
  for (let i = 0; i < rawRoute.length; i++) {
    const d = readDestination(ctx, rawRoute[i], [...path, 'route', i], rawRoute.length === 1);
    if (d !== null) route.push(d);
  }
  if (rawRoute.length > 1 && route.length === rawRoute.length) {
    const sum = route.reduce((a, d) => a + d.weight, 0);
    if (sum !== 100) ctx.err([...path, 'route'], `destination weights sum to ${sum}; they must sum to 100`);
  }
  const redirect = o['redirect'] === undefined || o['redirect'] === null ? null : readRedirect(ctx, o['redirect'], [...path, 'redirect']);
  const directResponse = o['directResponse'] === undefined || o['directResponse'] === null ? null : readDirectResponse(ctx, o['directResponse'], [...path, 'directResponse']);
  const actions = [rawRoute.length > 0, o['redirect'] != null, o['directResponse'] != null].filter(Boolean).length;
  if (actions === 0) ctx.err(path, 'one of route, redirect or directResponse is required');
  else if (actions > 1) ctx.err(path, 'only one of route, redirect or directResponse may be set');
  let rewrite: HttpRoute['rewrite'] = null;
  if (o['rewrite'] !== undefined && o['rewrite'] !== null) {
    const rp = [...path, 'rewrite'];
    const r = ctx.object(o['rewrite'], rp, ['uri', 'authority'], ['uriRegexRewrite']);
    if (r !== null) {
      const uri = ctx.string(r, 'uri', rp);
      const authority = ctx.string(r, 'authority', rp);
      rewrite = { uri: uri ?? null, authority: authority ?? null };
      if (rawRoute.length === 0) ctx.err(rp, 'rewrite requires route (it cannot be combined with redirect or directResponse)');
    }
  }
  const timeoutMs = readDuration(ctx, o, 'timeout', path);
  const headers = readHeaders(ctx, o['headers'], [...path, 'headers']);
  const retries = o['retries'] === undefined || o['retries'] === null ? null : readRetries(ctx, o['retries'], [...path, 'retries']);
  const fault = o['fault'] === undefined || o['fault'] === null ? null : readFault(ctx, o['fault'], [...path, 'fault']);
  const corsPolicy = o['corsPolicy'] === undefined || o['corsPolicy'] === null ? null : readCorsPolicy(ctx, o['corsPolicy'], [...path, 'corsPolicy']);
  if ((retries !== null || fault !== null) && rawRoute.length === 0) {
    ctx.err(path, `${retries !== null ? 'retries' : 'fault'} requires route (it cannot be combined with redirect or directResponse)`);
  }
  // Returned even when invalid (with the parts that did validate) so that cross-document checks
  // still report dangling references; a config with any issue is never built.
  return { name: ctx.string(o, 'name', path) ?? null, match, route, redirect, directResponse, rewrite, timeoutMs, headers, retries, fault, corsPolicy };
}

/** Validates a VirtualService spec; null when any issue was recorded for it. */
export function readVirtualService(ctx: DocContext, meta: ResourceMeta, v: unknown): VirtualService | null {
  const path: Path = ['spec'];
  const spec = ctx.object(v, path, ['hosts', 'http'], ['gateways', 'tcp', 'tls', 'exportTo']);
  if (spec === null) return null;
  const before = ctx.errorCount;
  const hosts = ctx.stringList(spec, 'hosts', path, true);
  hosts.forEach((h, i) => {
    if (h.includes('*')) ctx.err([...path, 'hosts', i], 'wildcard hosts are not supported yet');
    else if (!isValidHost(h)) ctx.err([...path, 'hosts', i], `invalid host '${h}'`);
  });
  const raw = ctx.list(spec, 'http', path);
  if (raw.length === 0 && ctx.errorCount === before) ctx.err([...path, 'http'], 'at least one http route is required');
  const http: HttpRoute[] = [];
  for (let i = 0; i < raw.length; i++) {
    const r = readHttpRoute(ctx, raw[i], [...path, 'http', i]);
    if (r !== null) http.push(r);
  }
  // Partial results still take part in reference checks (see readHttpRoute).
  return { meta, hosts: hosts.filter(isValidHost), http };
}

/** Validates a DestinationRule spec; null when any issue was recorded for it. */
export function readDestinationRule(ctx: DocContext, meta: ResourceMeta, v: unknown): DestinationRule | null {
  const path: Path = ['spec'];
  const spec = ctx.object(v, path, ['host', 'subsets', 'trafficPolicy'], ['exportTo', 'workloadSelector']);
  if (spec === null) return null;
  const before = ctx.errorCount;
  const host = ctx.string(spec, 'host', path, true);
  if (host !== undefined && !isValidHost(host)) ctx.err([...path, 'host'], host.includes('*') ? 'wildcard hosts are not supported yet' : `invalid host '${host}'`);
  const trafficPolicy = readTrafficPolicy(ctx, spec['trafficPolicy'], [...path, 'trafficPolicy']);
  const subsets: Subset[] = [];
  const raw = ctx.list(spec, 'subsets', path);
  const names = new Set<string>();
  for (let i = 0; i < raw.length; i++) {
    const sp = [...path, 'subsets', i];
    const s = ctx.object(raw[i], sp, ['name', 'labels', 'trafficPolicy']);
    if (s === null) continue;
    const name = ctx.string(s, 'name', sp, true);
    if (name !== undefined && !/^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/.test(name)) ctx.err([...sp, 'name'], `invalid subset name '${name}'`);
    if (name !== undefined && names.has(name)) ctx.err([...sp, 'name'], `duplicate subset name '${name}'`);
    if (name !== undefined) names.add(name);
    const labels = ctx.labels(s, 'labels', sp);
    const tp = readTrafficPolicy(ctx, s['trafficPolicy'], [...sp, 'trafficPolicy']);
    if (name !== undefined) subsets.push({ name, labels, trafficPolicy: tp });
  }
  if (host === undefined || (ctx.errorCount !== before && !isValidHost(host))) return null;
  return { meta, host, trafficPolicy, subsets };
}
