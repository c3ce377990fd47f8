/**
 * Validates a DestinationRule `trafficPolicy` (top-level or per subset) into `TrafficPolicy`:
 * `loadBalancer` (exactly one of `simple` and `consistentHash`), `connectionPool` (tcp and http
 * limits) and `outlierDetection`, with Istio's field names and ranges. Every bad value is recorded
 * at its field path; Istio fields Remora does not implement are rejected as "not supported yet".
 * Translation to Envoy cluster fields is in `translate/clusters.ts`.
 */
import { readDuration } from './common-fields';
import { present, describe, type DocContext, type Path } from './document-context';
import type { ConnectionPool, ConsistentHash, LbPolicy, LoadBalancerSettings, OutlierDetection, TrafficPolicy } from './model';

const LB_POLICIES: readonly LbPolicy[] = ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM'];
const MAX_UINT32 = 0xffffffff;
/** grpc-js-xds rejects rings above 8M entries; Envoy's own maximum. */
const MAX_RING_SIZE = 8_388_608;
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;


function readConsistentHash(ctx: DocContext, v: unknown, path: Path): ConsistentHash | null {
  const o = ctx.object(v, path, ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName', 'minimumRingSize', 'ringHash'], ['maglev']);
  if (o === null) return null;
  const before = ctx.errorCount;
  const keys = ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'].filter((k) => present(o, k));
  let key: ConsistentHash['key'] | null = null;
  if (keys.length !== 1) {
    ctx.err(path, keys.length === 0
      ? 'one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName is required'
      : `only one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName may be set (got ${keys.join(', ')})`);
  } else if (keys[0] === 'httpHeaderName') {
    const name = ctx.string(o, 'httpHeaderName', path, true);
    if (name !== undefined && !HEADER_NAME_RE.test(name)) ctx.err([...path, 'httpHeaderName'], `invalid header name '${name}'`);
    else if (name !== undefined) key = { kind: 'header', name: name.toLowerCase() };
  } else if (keys[0] === 'httpCookie') {
    const cp = [...path, 'httpCookie'];
    // `ttl`/`path` make Envoy generate the cookie when absent; Remora only hashes an existing one.
    const c = ctx.object(o['httpCookie'], cp, ['name'], ['ttl', 'path', 'attributes']);
    const name = c === null ? undefined : ctx.string(c, 'name', cp, true);
    if (name !== undefined) key = { kind: 'cookie', name };
  } else if (keys[0] === 'useSourceIp') {
    const b = ctx.boolean(o, 'useSourceIp', path);
    if (b === false) ctx.err([...path, 'useSourceIp'], 'must be true when set (set another hash key instead)');
    else if (b === true) key = { kind: 'sourceIp' };
  } else {
    const name = ctx.string(o, 'httpQueryParameterName', path, true);
    if (name !== undefined) key = { kind: 'queryParameter', name };
  }
  let minimumRingSize = ctx.integer(o, 'minimumRingSize', path, 1, MAX_RING_SIZE) ?? null;
  if (present(o, 'ringHash')) {
    const rp = [...path, 'ringHash'];
    const r = ctx.object(o['ringHash'], rp, ['minimumRingSize']);
    if (r !== null) {
      if (present(o, 'minimumRingSize')) ctx.err(rp, 'only one of minimumRingSize and ringHash.minimumRingSize may be set');
      minimumRingSize = ctx.integer(r, 'minimumRingSize', rp, 1, MAX_RING_SIZE) ?? minimumRingSize;
    }
  }
  if (ctx.errorCount !== before || key === null) return null;
  return { key, minimumRingSize };
}

function readLoadBalancer(ctx: DocContext, v: unknown, path: Path): LoadBalancerSettings | null {
  const lb = ctx.object(v, path, ['simple', 'consistentHash'], ['localityLbSetting', 'warmupDurationSecs', 'warmup']);
  if (lb === null) return null;
  const hasSimple = present(lb, 'simple');
  const hasHash = present(lb, 'consistentHash');
  if (hasSimple && hasHash) {
    ctx.err(path, 'only one of simple and consistentHash may be set');
    return null;
  }
  if (hasHash) {
    const h = readConsistentHash(ctx, lb['consistentHash'], [...path, 'consistentHash']);
    return h === null ? null : { kind: 'consistentHash', hash: h };
  }
  const simple = ctx.string(lb, 'simple', path, true);
  if (simple === undefined) return null;
  if (simple === 'LEAST_CONN') return { kind: 'simple', policy: 'LEAST_REQUEST' }; // Istio's deprecated alias
  if (!(LB_POLICIES as readonly string[]).includes(simple)) {
    ctx.err([...path, 'simple'], `unsupported load balancer '${simple}'; expected one of ${LB_POLICIES.join(', ')}`);
    return null;
  }
  return { kind: 'simple', policy: simple as LbPolicy };
}

/** An optional integer ≥ 1 (Istio's int32 limits: 0 or negative would mean "no traffic" or be invalid). */
function positive(ctx: DocContext, o: Record<string, unknown>, key: string, path: Path): number | null {
  return ctx.integer(o, key, path, 1, MAX_UINT32) ?? null;
}

function readConnectionPool(ctx: DocContext, v: unknown, path: Path): ConnectionPool | null {
  const o = ctx.object(v, path, ['tcp', 'http']);
  if (o === null) return null;
  const before = ctx.errorCount;
  let tcp: ConnectionPool['tcp'] = null;
  if (present(o, 'tcp')) {
    const tp = [...path, 'tcp'];
    const t = ctx.object(o['tcp'], tp, ['maxConnections', 'connectTimeout'], ['tcpKeepalive', 'maxConnectionDuration', 'idleTimeout']);
    if (t !== null) tcp = { maxConnections: positive(ctx, t, 'maxConnections', tp), connectTimeoutMs: readDuration(ctx, t, 'connectTimeout', tp) };
  }
  let http: ConnectionPool['http'] = null;
  if (present(o, 'http')) {
    const hp = [...path, 'http'];
    const h = ctx.object(o['http'], hp, ['http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries', 'idleTimeout'],
      ['h2UpgradePolicy', 'useClientProtocol', 'maxConcurrentStreams']);
    if (h !== null) {
      // maxRetries 0 is meaningful (no concurrent retries at all); the others must allow traffic.
      http = {
        http1MaxPendingRequests: positive(ctx, h, 'http1MaxPendingRequests', hp),
        http2MaxRequests: positive(ctx, h, 'http2MaxRequests', hp),
        maxRequestsPerConnection: positive(ctx, h, 'maxRequestsPerConnection', hp),
        maxRetries: ctx.integer(h, 'maxRetries', hp, 0, MAX_UINT32) ?? null,
        idleTimeoutMs: readDuration(ctx, h, 'idleTimeout', hp),
      };
    }
  }
  return ctx.errorCount === before ? { tcp, http } : null;
}

function readOutlierDetection(ctx: DocContext, v: unknown, path: Path): OutlierDetection | null {
  const o = ctx.object(v, path, [
    'consecutive5xxErrors', 'consecutiveGatewayErrors', 'consecutiveLocalOriginFailures', 'splitExternalLocalOriginErrors',
    'interval', 'baseEjectionTime', 'maxEjectionPercent', 'minHealthPercent',
  ], ['consecutiveErrors']);
  if (o === null) return null;
  const before = ctx.errorCount;
  const od: OutlierDetection = {
    consecutive5xxErrors: ctx.integer(o, 'consecutive5xxErrors', path, 0, MAX_UINT32) ?? null,
    consecutiveGatewayErrors: ctx.integer(o, 'consecutiveGatewayErrors', path, 0, MAX_UINT32) ?? null,
    consecutiveLocalOriginFailures: ctx.integer(o, 'consecutiveLocalOriginFailures', path, 1, MAX_UINT32) ?? null,
    splitExternalLocalOriginErrors: ctx.boolean(o, 'splitExternalLocalOriginErrors', path) ?? false,
    intervalMs: readDuration(ctx, o, 'interval', path),
    baseEjectionTimeMs: readDuration(ctx, o, 'baseEjectionTime', path),
    maxEjectionPercent: ctx.integer(o, 'maxEjectionPercent', path, 0, 100) ?? null,
    minHealthPercent: ctx.integer(o, 'minHealthPercent', path, 0, 100) ?? 0,
  };
  if (od.consecutiveLocalOriginFailures !== null && !od.splitExternalLocalOriginErrors) {
    ctx.err([...path, 'consecutiveLocalOriginFailures'], 'requires splitExternalLocalOriginErrors: true (otherwise local-origin failures count as 5xx)');
  }
  return ctx.errorCount === before ? od : null;
}

/**
 * Validates a `trafficPolicy` at `path`. Returns null when absent or when any issue was recorded
 * (the issues make the whole config invalid, so a partial policy is never translated).
 */
export function readTrafficPolicy(ctx: DocContext, v: unknown, path: Path): TrafficPolicy | null {
  if (v === undefined || v === null) return null;
  const tp = ctx.object(v, path, ['loadBalancer', 'connectionPool', 'outlierDetection'], ['tls', 'portLevelSettings', 'tunnel', 'proxyProtocol', 'retryBudget']);
  if (tp === null) return null;
  const before = ctx.errorCount;
  const policy: TrafficPolicy = {
    loadBalancer: present(tp, 'loadBalancer') ? readLoadBalancer(ctx, tp['loadBalancer'], [...path, 'loadBalancer']) : null,
    connectionPool: present(tp, 'connectionPool') ? readConnectionPool(ctx, tp['connectionPool'], [...path, 'connectionPool']) : null,
    outlierDetection: present(tp, 'outlierDetection') ? readOutlierDetection(ctx, tp['outlierDetection'], [...path, 'outlierDetection']) : null,
  };
  return ctx.errorCount === before ? policy : null;
}

/** A `Percent` (`{value: number}`, 0..100, fractional allowed) at `path`; undefined after an issue. */
export function readPercent(ctx: DocContext, v: unknown, path: Path): number | undefined {
  const o = ctx.object(v, path, ['value']);
  if (o === null) return undefined;
  const n = o['value'];
  if (n === undefined || n === null) {
    ctx.err([...path, 'value'], 'is required');
    return undefined;
  }
  if (typeof n !== 'number' || !Number.isFinite(n)) {
    ctx.err([...path, 'value'], `expected a number, got ${describe(n)}`);
    return undefined;
  }
  if (n < 0 || n > 100) {
    ctx.err([...path, 'value'], `${n} is out of range (0..100)`);
    return undefined;
  }
  return n;
}
