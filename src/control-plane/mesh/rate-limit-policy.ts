/**
 * Validates `remora.dev/v1alpha1` `RateLimitPolicy` documents (Remora's own kind; Istio only reaches
 * rate limits through raw EnvoyFilter) into `RateLimitPolicy`: which workloads enforce it
 * (`workloadSelector.matchLabels`, in the policy's namespace), a per-sidecar `local.tokenBucket` with
 * optional `local.descriptors` (buckets for requests with given header values, peer addresses),
 * and `global` descriptors counted in a shared Redis. Also owns the cross-document rule that at most
 * one policy selects a given WorkloadEntry. Translation (the inbound HCM's
 * `envoy.filters.http.local_ratelimit` and `remora.filters.http.global_ratelimit` filters) is in
 * `translate/rate-limits.ts`; the format is documented in docs/mesh-config.md.
 */
import { readDuration } from './common-fields';
import { present, type DocContext, type Path } from './document-context';
import type {
  GlobalRateLimitDescriptor, LocalRateLimitDescriptor, LocalRateLimitEntry, RateLimitEntry, RateLimitPolicy, RateLimitUnit, ResourceMeta, WorkloadEntry,
} from './model';

/** The apiVersion of Remora's own kinds. */
export const REMORA_API_VERSION = 'remora.dev/v1alpha1';

const UNITS: readonly RateLimitUnit[] = ['SECOND', 'MINUTE', 'HOUR'];
const MAX_UINT32 = 0xffffffff;
/** The global filter checks at most this many descriptors per request (one Redis script call). */
const MAX_DESCRIPTORS = 16;
/** Local descriptors per policy (each is a token bucket in every selected sidecar). */
const MAX_LOCAL_DESCRIPTORS = 64;
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;


type Bucket = { readonly maxTokens: number; readonly tokensPerFill: number; readonly fillIntervalMs: number };

/** A `tokenBucket` object at `path` (required by the caller). */
function readBucket(ctx: DocContext, v: unknown, bp: Path): Bucket | null {
  const b = ctx.object(v, bp, ['maxTokens', 'tokensPerFill', 'fillInterval']);
  if (b === null) return null;
  const before = ctx.errorCount;
  const maxTokens = ctx.integer(b, 'maxTokens', bp, 1, MAX_UINT32, true);
  const tokensPerFill = ctx.integer(b, 'tokensPerFill', bp, 1, MAX_UINT32) ?? 1;
  const fillIntervalMs = readDuration(ctx, b, 'fillInterval', bp);
  if (!present(b, 'fillInterval')) ctx.err([...bp, 'fillInterval'], 'is required');
  // Envoy rejects fill intervals under 50 ms (a token bucket refilled faster than that is a busy timer).
  else if (fillIntervalMs !== null && fillIntervalMs < 50) ctx.err([...bp, 'fillInterval'], `must be at least 50ms, got ${fillIntervalMs}ms`);
  if (ctx.errorCount !== before || maxTokens === undefined || fillIntervalMs === null) return null;
  return { maxTokens, tokensPerFill, fillIntervalMs };
}

/**
 * A local descriptor entry: `{key, fromHeader, value}` (the header equals value), `{remoteAddress:
 * true, value}` (the peer address is value) or `{key, value}` (a constant entry).
 */
function readLocalEntry(ctx: DocContext, v: unknown, path: Path): LocalRateLimitEntry | null {
  const o = ctx.object(v, path, ['key', 'fromHeader', 'value', 'remoteAddress']);
  if (o === null) return null;
  const before = ctx.errorCount;
  if (present(o, 'fromHeader') && present(o, 'remoteAddress')) {
    ctx.err(path, 'only one of fromHeader or remoteAddress may be set');
    return null;
  }
  const value = ctx.string(o, 'value', path, true);
  if (value !== undefined && CONTROL_RE.test(value)) ctx.err([...path, 'value'], 'must not contain control characters');
  if (present(o, 'remoteAddress')) {
    const b = ctx.boolean(o, 'remoteAddress', path);
    if (b === false) ctx.err([...path, 'remoteAddress'], 'must be true when set');
    if (present(o, 'key')) ctx.err([...path, 'key'], "must not be set with remoteAddress (the entry key is 'remote_address')");
    return ctx.errorCount === before ? { kind: 'remoteAddress', key: 'remote_address', value: value! } : null;
  }
  const key = ctx.string(o, 'key', path, true);
  if (key !== undefined && CONTROL_RE.test(key)) ctx.err([...path, 'key'], 'must not contain control characters');
  if (present(o, 'fromHeader')) {
    const h = ctx.string(o, 'fromHeader', path, true);
    if (h !== undefined && !HEADER_NAME_RE.test(h)) ctx.err([...path, 'fromHeader'], `invalid header name '${h}'`);
    return ctx.errorCount === before ? { kind: 'header', key: key!, header: h!.toLowerCase(), value: value! } : null;
  }
  return ctx.errorCount === before ? { kind: 'value', key: key!, value: value! } : null;
}

function readLocalDescriptor(ctx: DocContext, v: unknown, path: Path): LocalRateLimitDescriptor | null {
  const o = ctx.object(v, path, ['entries', 'tokenBucket']);
  if (o === null) return null;
  const before = ctx.errorCount;
  const raw = ctx.list(o, 'entries', path);
  if (raw.length === 0 && ctx.errorCount === before) ctx.err([...path, 'entries'], 'at least one entry is required');
  const entries: LocalRateLimitEntry[] = [];
  for (let i = 0; i < raw.length; i++) {
    const e = readLocalEntry(ctx, raw[i], [...path, 'entries', i]);
    if (e !== null) entries.push(e);
  }
  const bp = [...path, 'tokenBucket'];
  const bucket = present(o, 'tokenBucket') ? readBucket(ctx, o['tokenBucket'], bp) : (ctx.err(bp, 'is required'), null);
  if (ctx.errorCount !== before || bucket === null) return null;
  return { entries, ...bucket };
}

/** The key/value pairs a descriptor matches, for duplicate detection. */
function matchKey(d: LocalRateLimitDescriptor): string {
  return JSON.stringify(d.entries.map((e) => [e.kind, e.key, e.kind === 'header' ? e.header : '', e.value]));
}

function readLocal(ctx: DocContext, v: unknown, path: Path): RateLimitPolicy['local'] {
  const o = ctx.object(v, path, ['tokenBucket', 'descriptors']);
  if (o === null) return null;
  const bp = [...path, 'tokenBucket'];
  if (!present(o, 'tokenBucket')) {
    ctx.err(bp, 'is required');
    return null;
  }
  const before = ctx.errorCount;
  const bucket = readBucket(ctx, o['tokenBucket'], bp);
  const raw = ctx.list(o, 'descriptors', path);
  if (raw.length > MAX_LOCAL_DESCRIPTORS) ctx.err([...path, 'descriptors'], `at most ${MAX_LOCAL_DESCRIPTORS} descriptors are supported, got ${raw.length}`);
  const descriptors: LocalRateLimitDescriptor[] = [];
  const seen = new Map<string, number>();
  for (let i = 0; i < raw.length; i++) {
    const d = readLocalDescriptor(ctx, raw[i], [...path, 'descriptors', i]);
    if (d === null) continue;
    const k = matchKey(d);
    const prev = seen.get(k);
    if (prev !== undefined) ctx.err([...path, 'descriptors', i], `matches the same requests as descriptors[${prev}]`);
    else seen.set(k, i);
    descriptors.push(d);
  }
  if (ctx.errorCount !== before || bucket === null) return null;
  return { ...bucket, descriptors };
}

function readEntry(ctx: DocContext, v: unknown, path: Path): RateLimitEntry | null {
  const o = ctx.object(v, path, ['key', 'fromHeader', 'value', 'remoteAddress']);
  if (o === null) return null;
  const sources = ['fromHeader', 'value', 'remoteAddress'].filter((k) => present(o, k));
  if (sources.length !== 1) {
    ctx.err(path, sources.length === 0 ? 'one of fromHeader, value or remoteAddress is required' : `only one of fromHeader, value or remoteAddress may be set (got ${sources.join(', ')})`);
    return null;
  }
  if (sources[0] === 'remoteAddress') {
    const b = ctx.boolean(o, 'remoteAddress', path);
    if (present(o, 'key')) ctx.err([...path, 'key'], "must not be set with remoteAddress (the entry key is 'remote_address')");
    if (b === false) ctx.err([...path, 'remoteAddress'], 'must be true when set');
    return b === true && !present(o, 'key') ? { kind: 'remoteAddress', key: 'remote_address' } : null;
  }
  const key = ctx.string(o, 'key', path, true);
  if (key !== undefined && CONTROL_RE.test(key)) ctx.err([...path, 'key'], 'must not contain control characters');
  if (sources[0] === 'fromHeader') {
    const h = ctx.string(o, 'fromHeader', path, true);
    if (h !== undefined && !HEADER_NAME_RE.test(h)) ctx.err([...path, 'fromHeader'], `invalid header name '${h}'`);
    return key !== undefined && h !== undefined && HEADER_NAME_RE.test(h) && !CONTROL_RE.test(key) ? { kind: 'header', key, header: h.toLowerCase() } : null;
  }
  const value = ctx.string(o, 'value', path, true);
  if (value !== undefined && CONTROL_RE.test(value)) ctx.err([...path, 'value'], 'must not contain control characters');
  return key !== undefined && value !== undefined && !CONTROL_RE.test(key) && !CONTROL_RE.test(value) ? { kind: 'value', key, value } : null;
}

function readDescriptor(ctx: DocContext, v: unknown, path: Path): GlobalRateLimitDescriptor | null {
  const o = ctx.object(v, path, ['entries', 'limit']);
  if (o === null) return null;
  const before = ctx.errorCount;
  const raw = ctx.list(o, 'entries', path);
  if (raw.length === 0 && ctx.errorCount === before) ctx.err([...path, 'entries'], 'at least one entry is required');
  const entries: RateLimitEntry[] = [];
  for (let i = 0; i < raw.length; i++) {
    const e = readEntry(ctx, raw[i], [...path, 'entries', i]);
    if (e !== null) entries.push(e);
  }
  const lp = [...path, 'limit'];
  let requestsPerUnit: number | undefined;
  let unit: string | undefined;
  if (!present(o, 'limit')) ctx.err(lp, 'is required');
  else {
    const l = ctx.object(o['limit'], lp, ['requestsPerUnit', 'unit']);
    if (l !== null) {
      requestsPerUnit = ctx.integer(l, 'requestsPerUnit', lp, 1, MAX_UINT32, true);
      unit = ctx.string(l, 'unit', lp, true);
      if (unit !== undefined && !(UNITS as readonly string[]).includes(unit)) ctx.err([...lp, 'unit'], `unknown unit '${unit}'; expected one of ${UNITS.join(', ')}`);
    }
  }
  if (ctx.errorCount !== before) return null;
  return { entries, requestsPerUnit: requestsPerUnit!, unit: unit as RateLimitUnit };
}

function readGlobal(ctx: DocContext, v: unknown, path: Path): RateLimitPolicy['global'] {
  const o = ctx.object(v, path, ['domain', 'redis', 'failureMode', 'descriptors']);
  if (o === null) return null;
  const before = ctx.errorCount;
  const domain = ctx.string(o, 'domain', path, true);
  if (domain !== undefined && (domain.length > 128 || CONTROL_RE.test(domain))) ctx.err([...path, 'domain'], 'must be 1..128 characters without control characters');
  const rp = [...path, 'redis'];
  let address: string | undefined;
  let timeoutMs: number | null = null;
  if (!present(o, 'redis')) ctx.err(rp, 'is required');
  else {
    const r = ctx.object(o['redis'], rp, ['address', 'timeout']);
    if (r !== null) {
      address = ctx.string(r, 'address', rp, true);
      if (address !== undefined && !/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(address)) ctx.err([...rp, 'address'], `expected host:port (or [v6]:port), got '${address}'`);
      else if (address !== undefined) {
        const port = Number(address.slice(address.lastIndexOf(':') + 1));
        if (port < 1 || port > 65535) ctx.err([...rp, 'address'], `port ${port} is out of range (1..65535)`);
      }
      timeoutMs = readDuration(ctx, r, 'timeout', rp);
      if (timeoutMs !== null && timeoutMs > 10_000) ctx.err([...rp, 'timeout'], `must be at most 10s, got ${timeoutMs}ms`);
    }
  }
  const mode = ctx.string(o, 'failureMode', path) ?? 'ALLOW';
  if (mode !== 'ALLOW' && mode !== 'DENY') ctx.err([...path, 'failureMode'], `expected ALLOW (fail open, the default) or DENY (fail closed), got '${mode}'`);
  const raw = ctx.list(o, 'descriptors', path);
  if (raw.length === 0 && !present(o, 'descriptors')) ctx.err([...path, 'descriptors'], 'is required');
  else if (raw.length === 0 && ctx.errorCount === before) ctx.err([...path, 'descriptors'], 'at least one descriptor is required');
  else if (raw.length > MAX_DESCRIPTORS) ctx.err([...path, 'descriptors'], `at most ${MAX_DESCRIPTORS} descriptors are supported, got ${raw.length}`);
  const descriptors: GlobalRateLimitDescriptor[] = [];
  for (let i = 0; i < raw.length; i++) {
    const d = readDescriptor(ctx, raw[i], [...path, 'descriptors', i]);
    if (d !== null) descriptors.push(d);
  }
  if (ctx.errorCount !== before) return null;
  return { domain: domain!, redisAddress: address!, redisTimeoutMs: timeoutMs, failureModeDeny: mode === 'DENY', descriptors };
}

/** Validates a RateLimitPolicy spec; null when any issue was recorded for it. */
export function readRateLimitPolicy(ctx: DocContext, meta: ResourceMeta, v: unknown): RateLimitPolicy | null {
  const path: Path = ['spec'];
  const spec = ctx.object(v, path, ['workloadSelector', 'local', 'global']);
  if (spec === null) return null;
  const before = ctx.errorCount;
  let selector: Record<string, string> = {};
  if (present(spec, 'workloadSelector')) {
    const wp = [...path, 'workloadSelector'];
    const w = ctx.object(spec['workloadSelector'], wp, ['matchLabels']);
    if (w !== null) selector = ctx.labels(w, 'matchLabels', wp);
  }
  const local = present(spec, 'local') ? readLocal(ctx, spec['local'], [...path, 'local']) : null;
  const global = present(spec, 'global') ? readGlobal(ctx, spec['global'], [...path, 'global']) : null;
  if (!present(spec, 'local') && !present(spec, 'global')) ctx.err(path, 'at least one of local or global is required');
  return ctx.errorCount === before ? { meta, selector, local, global } : null;
}

/** Does `labels` contain every key/value of `selector`? */
function selects(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  for (const k of Object.keys(selector)) if (labels[k] !== selector[k]) return false;
  return true;
}

/**
 * Cross-document rule: a WorkloadEntry may be selected by at most one RateLimitPolicy (limits do
 * not merge). Records the issue on every later policy, naming the first one and the workload.
 */
export function checkRateLimitPolicies(policies: readonly { readonly ctx: DocContext; readonly value: RateLimitPolicy }[], workloads: readonly WorkloadEntry[]): void {
  for (let i = 1; i < policies.length; i++) {
    const { ctx, value: p } = policies[i]!;
    for (let j = 0; j < i; j++) {
      const q = policies[j]!.value;
      if (q.meta.namespace !== p.meta.namespace) continue;
      const both = workloads.find((we) => we.meta.namespace === p.meta.namespace && selects(p.selector, we.labels) && selects(q.selector, we.labels));
      if (both !== undefined) {
        ctx.err(['spec', 'workloadSelector'], `selects WorkloadEntry ${both.meta.namespace}/${both.meta.name}, which RateLimitPolicy ${q.meta.namespace}/${q.meta.name} already selects (at most one policy per workload)`);
        break;
      }
    }
  }
}
