/**
 * The per-stream `envoy.filters.http.jwt_authn` filter and its per-listener factory. The factory
 * holds the compiled config, one key source per provider (a local KeySet, or a shared RemoteJwks
 * that it prefetches), the union of token locations, pre-built errors and metric children.
 *
 * Per request: a per-route `disabled` skips the filter; otherwise the first rule whose path
 * matches (or the per-route `requirement_name`) gives the requirement. When no token location
 * carries anything, the requirement is decided synchronously for "all tokens missing" (Istio's
 * `requires_any: [providers..., allow_missing]` lets the request through). Otherwise the filter
 * returns StopIteration, verifies asynchronously and then resumes the chain or replies 401
 * (UnauthenticatedError with Envoy's texts). Verification: a token over MAX_TOKEN_BYTES is refused
 * unparsed; the header must name an asymmetric algorithm (never `none` or HS*); the key comes from
 * the JWKS by `kid`/`alg` (an unknown `kid` forces one rate-limited JWKS refresh); then jose's
 * `jwtVerify` checks the signature with exactly that algorithm, `iss`, `aud` (intersection),
 * `exp`/`nbf` with the provider's bounded clock skew. On success the stream gets
 * `requestPrincipal` (`iss/sub`), the token header is removed unless `forward`, and
 * `forward_payload_header` / `claim_to_headers` are set. Semantics of the requirement tree follow
 * Envoy's verifier: in `requires_any` the first success wins and a specific error beats
 * "missing"/"unknown issuer"; `allow_missing` accepts no token but not a bad one;
 * `allow_missing_or_failed` accepts anything. Counted in `remora_jwt_authn_total{listener,result}`.
 */
import { Counter, type Registry } from 'prom-client';
import { errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { Logger } from 'pino';
import { UnauthenticatedError } from '../../core/errors';
import type { Clock } from '../../core/clock';
import { pathEndIndex } from '../../routing/route-request';
import type { RequestPrincipal } from '../../transport/peer-identity';
import { FilterStatus, type HttpFilter, type HttpFilterFactory } from '../filter';
import { sendLocalReply } from '../local-reply';
import type { StreamContext } from '../stream-context';
import {
  MAX_TOKEN_BYTES, type JwtAuthnConfig, type JwtAuthnPerRoute, type JwtProviderConfig, type JwtRequirementConfig, type JwtRuleConfig,
} from './config';
import { ALLOWED_ALGORITHMS, KeySet, type VerificationKey } from './key-set';
import type { RemoteJwks } from './jwks-cache';

export const JWT_AUTHN_METRIC = 'remora_jwt_authn_total';

/** Verification outcomes; each failure has Envoy's (jwt_verify_lib) client-visible text. */
export const enum JwtStatus {
  Ok = 0,
  Missing,
  UnknownIssuer,
  Expired,
  NotYetValid,
  AudienceNotAllowed,
  VerificationFails,
  BadFormat,
  AlgNotSupported,
  KidAlgMismatch,
  JwksFetchFailed,
  TooLarge,
  ExpMissing,
}

const MESSAGES: readonly string[] = [
  'OK',
  'Jwt is missing',
  'Jwt issuer is not configured',
  'Jwt is expired',
  'Jwt not yet valid',
  'Audiences in Jwt are not allowed',
  'Jwt verification fails',
  'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections',
  'Jwt header [alg] is not supported',
  "Jwks doesn't have key to match kid or alg from Jwt",
  'Jwks remote fetch is failed',
  'Jwt is too large',
  'Jwt doesn\'t have expiration',
];

type CounterChild = ReturnType<Counter<string>['labels']>;

/** `remora_jwt_authn_total{listener, result}` children of one listener. */
export class JwtAuthnMetrics {
  /** A token verified. */
  readonly allowed: CounterChild;
  /** No token, and the requirement allowed that. */
  readonly missing: CounterChild;
  /** A token failed but `allow_missing_or_failed` let the request through. */
  readonly failedAllowed: CounterChild;
  /** 401. */
  readonly denied: CounterChild;
  constructor(registry: Registry, listener: string) {
    const c = (registry.getSingleMetric(JWT_AUTHN_METRIC) as Counter<'listener' | 'result'> | undefined) ?? new Counter({
      name: JWT_AUTHN_METRIC,
      help: 'JWT authentication decisions: allowed (token verified), missing (no token, allowed), failed_allowed (bad token, allow_missing_or_failed), denied (401).',
      labelNames: ['listener', 'result'], registers: [registry],
    });
    this.allowed = c.labels(listener, 'allowed');
    this.missing = c.labels(listener, 'missing');
    this.failedAllowed = c.labels(listener, 'failed_allowed');
    this.denied = c.labels(listener, 'denied');
  }
}

/** Where a provider's keys come from at request time. */
export interface ProviderKeys {
  readonly config: JwtProviderConfig;
  readonly local: KeySet | null;
  readonly remote: RemoteJwks | null;
}

/** A token found in the request: where, and its parsed parts (parsed once per request). */
interface FoundToken {
  readonly location: 'header' | 'param';
  readonly name: string;
  readonly token: string;
  /** Providers listing this location. */
  readonly providers: ProviderKeys[];
  parsed: ParsedJwt | JwtStatus | null;
}

interface ParsedJwt {
  readonly alg: string;
  readonly kid: string | null;
  readonly payload: JWTPayload;
  /** The payload segment as received (base64url, unpadded). */
  readonly payloadSegment: string;
}

interface Verified {
  readonly provider: ProviderKeys;
  readonly found: FoundToken;
  readonly payload: JWTPayload;
}

export class JwtAuthnFilterFactory implements HttpFilterFactory {
  readonly providers: ReadonlyMap<string, ProviderKeys>;
  readonly rules: readonly JwtRuleConfig[];
  /** Every header that may carry a token (union over providers), lower-case. */
  readonly tokenHeaders: readonly string[];
  readonly tokenParams: readonly string[];
  /** One shared error per JwtStatus (immutable; no per-request allocation). */
  readonly errors: readonly UnauthenticatedError[];

  constructor(
    readonly config: JwtAuthnConfig,
    providers: ReadonlyMap<string, ProviderKeys>,
    readonly filterName: string,
    readonly metrics: JwtAuthnMetrics,
    readonly clock: Clock,
    /** Debug logger when `REMORA_TRACE` has `jwt_authn`; null otherwise. */
    readonly trace: Logger | null,
  ) {
    this.providers = providers;
    this.rules = config.rules;
    const headers = new Set<string>();
    const params = new Set<string>();
    for (const p of providers.values()) {
      for (const h of p.config.fromHeaders) headers.add(h.name);
      for (const q of p.config.fromParams) params.add(q);
    }
    this.tokenHeaders = [...headers];
    this.tokenParams = [...params];
    this.errors = MESSAGES.map((m) => new UnauthenticatedError(m));
  }

  createFilter(): HttpFilter {
    return new JwtAuthnFilter(this);
  }

  /** The requirement for this request, or null when none applies. */
  requirementFor(ctx: StreamContext): JwtRequirementConfig | null {
    const route = ctx.route;
    if (route !== null) {
      const pr = route.model.perFilterConfig[this.filterName] as JwtAuthnPerRoute | undefined;
      if (pr !== undefined) {
        if (pr.disabled) return null;
        // An unknown requirement_name fails closed: every token source is "required".
        return this.config.requirementMap[pr.requirementName] ?? FAIL_CLOSED;
      }
    }
    if (this.config.bypassCorsPreflight && ctx.method === 'OPTIONS' && ctx.headers['origin'] !== undefined
      && ctx.headers['access-control-request-method'] !== undefined) return null;
    const rules = this.rules;
    if (rules.length === 0) return null;
    const path = ctx.path;
    const end = pathEndIndex(path);
    for (let i = 0; i < rules.length; i++) {
      const m = rules[i]!.match;
      let p = end === path.length ? path : path.slice(0, end);
      if (!m.caseSensitive) p = p.toLowerCase();
      if (m.kind === 'prefix' ? p.startsWith(m.value) : p === m.value) return rules[i]!.requires;
    }
    return null;
  }

  /** Does any token location of any provider carry a value? (The cheap pre-check.) */
  anyTokenSource(ctx: StreamContext): boolean {
    const hs = this.tokenHeaders;
    for (let i = 0; i < hs.length; i++) if (ctx.headers[hs[i]!] !== undefined) return true;
    const ps = this.tokenParams;
    if (ps.length === 0) return false;
    const q = ctx.path.indexOf('?');
    if (q === -1) return false;
    for (let i = 0; i < ps.length; i++) if (queryParam(ctx.path, q, ps[i]!) !== null) return true;
    return false;
  }
}

/** A requirement nothing satisfies without a valid token (a provider name that does not exist). */
const FAIL_CLOSED: JwtRequirementConfig = Object.freeze({ kind: 'provider', provider: '\0none', audiences: null });

/** Decides a requirement when no token is present anywhere. */
function allowsMissing(r: JwtRequirementConfig): boolean {
  switch (r.kind) {
    case 'provider': return false;
    case 'allow_missing':
    case 'allow_missing_or_failed': return true;
    case 'any':
      for (let i = 0; i < r.requirements.length; i++) if (allowsMissing(r.requirements[i]!)) return true;
      return false;
    case 'all':
      for (let i = 0; i < r.requirements.length; i++) if (!allowsMissing(r.requirements[i]!)) return false;
      return true;
  }
}

export class JwtAuthnFilter implements HttpFilter {
  constructor(private readonly factory: JwtAuthnFilterFactory) {}

  onRequestHeaders(ctx: StreamContext): FilterStatus {
    const f = this.factory;
    const req = f.requirementFor(ctx);
    if (req === null) return FilterStatus.Continue;
    if (!f.anyTokenSource(ctx)) {
      if (allowsMissing(req)) {
        f.metrics.missing.inc();
        return FilterStatus.Continue;
      }
      f.metrics.denied.inc();
      sendLocalReply(ctx, f.errors[JwtStatus.Missing]);
      return FilterStatus.StopIteration;
    }
    // Asynchronous fallback: a per-request verification object (tokens, memo, verified list).
    const v = new Verification(f, ctx);
    v.evaluate(req).then((status) => v.finish(status), (err: unknown) => v.fail(err));
    return FilterStatus.StopIteration;
  }
}

/** One request's verification state (created only when a token source is present). */
class Verification {
  private readonly found = new Map<string, FoundToken | null>();
  private readonly memo = new Map<string, Promise<JwtStatus>>();
  readonly verified: Verified[] = [];
  /** A token failed under allow_missing_or_failed. */
  failedAllowed = false;

  constructor(private readonly f: JwtAuthnFilterFactory, private readonly ctx: StreamContext) {}

  async evaluate(r: JwtRequirementConfig): Promise<JwtStatus> {
    switch (r.kind) {
      case 'provider': {
        const p = this.f.providers.get(r.provider);
        if (p === undefined) return JwtStatus.Missing;
        const tok = this.tokenFor(p);
        if (tok === null) return JwtStatus.Missing;
        return this.verify(p, tok, r.audiences);
      }
      case 'any': {
        // All failed: report the first specific error; "unknown issuer" beats "missing".
        let best = JwtStatus.Missing;
        let specific = false;
        for (let i = 0; i < r.requirements.length; i++) {
          const s = await this.evaluate(r.requirements[i]!);
          if (s === JwtStatus.Ok) return s;
          if (specific) continue;
          if (s !== JwtStatus.Missing && s !== JwtStatus.UnknownIssuer) {
            best = s;
            specific = true;
          } else if (s === JwtStatus.UnknownIssuer) {
            best = s;
          }
        }
        return best;
      }
      case 'all': {
        for (let i = 0; i < r.requirements.length; i++) {
          const s = await this.evaluate(r.requirements[i]!);
          if (s !== JwtStatus.Ok) return s;
        }
        return JwtStatus.Ok;
      }
      case 'allow_missing':
      case 'allow_missing_or_failed': {
        const failedOk = r.kind === 'allow_missing_or_failed';
        const tokens = this.allTokens();
        for (let i = 0; i < tokens.length; i++) {
          const s = await this.verifyByIssuer(tokens[i]!);
          if (s !== JwtStatus.Ok) {
            if (failedOk) {
              this.failedAllowed = true;
              continue;
            }
            return s;
          }
        }
        return JwtStatus.Ok;
      }
    }
  }

  /** Applies the outcome: continue (with principal and header changes) or 401. */
  finish(status: JwtStatus): void {
    const ctx = this.ctx;
    const m = this.f.metrics;
    if (status !== JwtStatus.Ok) {
      m.denied.inc();
      if (this.f.trace !== null) this.f.trace.debug({ component: 'jwt_authn', status: MESSAGES[status], path: ctx.path }, 'JWT rejected');
      if (!ctx.downstream.closed) sendLocalReply(ctx, this.f.errors[status]);
      return;
    }
    const verified = this.verified;
    if (verified.length === 0) {
      (this.failedAllowed ? m.failedAllowed : m.missing).inc();
    } else {
      m.allowed.inc();
      for (let i = 0; i < verified.length; i++) applyVerified(ctx, verified[i]!, i === 0);
    }
    ctx.continueChain();
  }

  /** An unexpected error in verification fails closed (never throws across the chain). */
  fail(err: unknown): void {
    if (this.f.trace !== null) this.f.trace.debug({ component: 'jwt_authn', err: (err as Error)?.message }, 'JWT verification error');
    this.finish(JwtStatus.VerificationFails);
  }

  /** The first token at `p`'s locations (headers in order, then params); null when none. */
  private tokenFor(p: ProviderKeys): FoundToken | null {
    const c = p.config;
    for (let i = 0; i < c.fromHeaders.length; i++) {
      const t = this.at('header', c.fromHeaders[i]!.name, c.fromHeaders[i]!.valuePrefix);
      if (t !== null) return t;
    }
    for (let i = 0; i < c.fromParams.length; i++) {
      const t = this.at('param', c.fromParams[i]!, '');
      if (t !== null) return t;
    }
    return null;
  }

  /** Every token at any provider's location (deduplicated by location). */
  private allTokens(): FoundToken[] {
    const out: FoundToken[] = [];
    for (const p of this.f.providers.values()) {
      const c = p.config;
      for (const h of c.fromHeaders) {
        const t = this.at('header', h.name, h.valuePrefix);
        if (t !== null && !out.includes(t)) out.push(t);
      }
      for (const q of c.fromParams) {
        const t = this.at('param', q, '');
        if (t !== null && !out.includes(t)) out.push(t);
      }
    }
    return out;
  }

  /** The token at one location (memoised per request, with the providers that list it). */
  private at(location: 'header' | 'param', name: string, prefix: string): FoundToken | null {
    const key = `${location}\0${name}\0${prefix}`;
    const cached = this.found.get(key);
    if (cached !== undefined) return cached;
    let token: string | null = null;
    if (location === 'header') {
      const v = this.ctx.headers[name];
      const s = Array.isArray(v) ? v[0] : v;
      if (s !== undefined) token = extractFromHeader(s, prefix);
    } else {
      const q = this.ctx.path.indexOf('?');
      if (q !== -1) token = queryParam(this.ctx.path, q, name);
      if (token === '') token = null;
    }
    let t: FoundToken | null = null;
    if (token !== null) {
      const providers: ProviderKeys[] = [];
      for (const p of this.f.providers.values()) {
        const listed = location === 'header'
          ? p.config.fromHeaders.some((h) => h.name === name && h.valuePrefix === prefix)
          : p.config.fromParams.includes(name);
        if (listed) providers.push(p);
      }
      t = { location, name, token, providers, parsed: null };
    }
    this.found.set(key, t);
    return t;
  }

  /** allow_missing*: verify a token with the provider (listing its location) whose issuer it names. */
  private verifyByIssuer(t: FoundToken): Promise<JwtStatus> {
    const parsed = parseToken(t);
    if (typeof parsed === 'number') return Promise.resolve(parsed);
    for (let i = 0; i < t.providers.length; i++) {
      const p = t.providers[i]!;
      if (p.config.issuer === '' || p.config.issuer === parsed.payload.iss) return this.verify(p, t, null);
    }
    return Promise.resolve(JwtStatus.UnknownIssuer);
  }

  private verify(p: ProviderKeys, t: FoundToken, audiences: readonly string[] | null): Promise<JwtStatus> {
    const key = `${p.config.name}\0${t.location}\0${t.name}\0${audiences === null ? '' : audiences.join('\0')}`;
    let r = this.memo.get(key);
    if (r === undefined) {
      r = verifyToken(this.f.clock, p, t, audiences ?? p.config.audiences).then((res) => {
        if (typeof res === 'number') return res;
        if (!this.verified.some((v) => v.found === t)) this.verified.push({ provider: p, found: t, payload: res });
        return JwtStatus.Ok;
      });
      this.memo.set(key, r);
    }
    return r;
  }
}

/** The token after `prefix` (case-insensitive; '' = whole value), up to whitespace or ','; null when absent. */
function extractFromHeader(value: string, prefix: string): string | null {
  let start = 0;
  if (prefix !== '') {
    if (value.length < prefix.length || value.slice(0, prefix.length).toLowerCase() !== prefix.toLowerCase()) return null;
    start = prefix.length;
  }
  while (start < value.length && value.charCodeAt(start) === 32) start++;
  let end = start;
  while (end < value.length) {
    const c = value.charCodeAt(end);
    if (c === 32 || c === 44 || c === 9) break;
    end++;
  }
  return end > start ? value.slice(start, end) : null;
}

/** The (percent-decoded) value of query parameter `name` in `path` whose '?' is at `q`; null when absent. */
function queryParam(path: string, q: number, name: string): string | null {
  let i = q + 1;
  const end = path.indexOf('#', i) === -1 ? path.length : path.indexOf('#', i);
  while (i < end) {
    let amp = path.indexOf('&', i);
    if (amp === -1 || amp > end) amp = end;
    const eq = path.indexOf('=', i);
    const keyEnd = eq === -1 || eq > amp ? amp : eq;
    if (keyEnd - i === name.length && path.startsWith(name, i)) {
      const raw = keyEnd === amp ? '' : path.slice(keyEnd + 1, amp);
      try {
        return decodeURIComponent(raw.replace(/\+/g, ' '));
      } catch {
        return raw;
      }
    }
    i = amp + 1;
  }
  return null;
}

/** Splits and decodes header and payload once per token; a JwtStatus when malformed or too large. */
function parseToken(t: FoundToken): ParsedJwt | JwtStatus {
  if (t.parsed !== null) return t.parsed;
  t.parsed = doParse(t.token);
  return t.parsed;
}

function doParse(token: string): ParsedJwt | JwtStatus {
  if (token.length > MAX_TOKEN_BYTES) return JwtStatus.TooLarge;
  const d1 = token.indexOf('.');
  const d2 = d1 === -1 ? -1 : token.indexOf('.', d1 + 1);
  if (d1 <= 0 || d2 === -1 || token.indexOf('.', d2 + 1) !== -1) return JwtStatus.BadFormat;
  let header: unknown;
  let payload: unknown;
  const payloadSegment = token.slice(d1 + 1, d2);
  try {
    header = JSON.parse(Buffer.from(token.slice(0, d1), 'base64url').toString('utf8'));
    payload = JSON.parse(Buffer.from(payloadSegment, 'base64url').toString('utf8'));
  } catch {
    return JwtStatus.BadFormat;
  }
  if (!isObject(header) || !isObject(payload)) return JwtStatus.BadFormat;
  const alg = header['alg'];
  if (typeof alg !== 'string' || !ALLOWED_ALGORITHMS.has(alg)) return JwtStatus.AlgNotSupported;
  const kid = typeof header['kid'] === 'string' ? header['kid'] : null;
  return { alg, kid, payload: payload as JWTPayload, payloadSegment };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Verifies `t` for provider `p`: the payload, or why not. Never rejects. */
async function verifyToken(clock: Clock, p: ProviderKeys, t: FoundToken, audiences: readonly string[]): Promise<JWTPayload | JwtStatus> {
  const parsed = parseToken(t);
  if (typeof parsed === 'number') return parsed;
  const c = p.config;
  if (c.issuer !== '' && parsed.payload.iss !== c.issuer) return JwtStatus.UnknownIssuer;
  let keys: KeySet | null = p.local;
  if (p.remote !== null) {
    keys = p.remote.current() ?? await p.remote.load();
    if (keys === null) return JwtStatus.JwksFetchFailed;
  }
  let candidates = keys!.select(parsed.alg, parsed.kid);
  if (candidates.length === 0 && p.remote !== null && parsed.kid !== null && !keys!.hasKid(parsed.kid)) {
    const refresh = p.remote.refreshForUnknownKid();
    if (refresh !== null) {
      const fresh = await refresh;
      if (fresh !== null) candidates = fresh.select(parsed.alg, parsed.kid);
    }
  }
  if (candidates.length === 0) return JwtStatus.KidAlgMismatch;
  let last: JwtStatus = JwtStatus.VerificationFails;
  for (let i = 0; i < candidates.length; i++) {
    const s = await verifyWith(clock, c, candidates[i]!, t.token, parsed.alg, audiences);
    if (typeof s !== 'number') return s;
    last = s;
    if (s !== JwtStatus.VerificationFails) break; // a claim failure does not depend on the key
  }
  return last;
}

async function verifyWith(clock: Clock, c: JwtProviderConfig, k: VerificationKey, token: string, alg: string, audiences: readonly string[]): Promise<JWTPayload | JwtStatus> {
  try {
    const r = await jwtVerify(token, k.key, {
      algorithms: [alg],
      issuer: c.issuer === '' ? undefined : c.issuer,
      audience: audiences.length === 0 ? undefined : audiences as string[],
      clockTolerance: c.clockSkewSeconds,
      currentDate: new Date(clock.now()),
      requiredClaims: c.requireExpiration ? ['exp'] : undefined,
    });
    return r.payload;
  } catch (err) {
    return statusOf(err);
  }
}

function statusOf(err: unknown): JwtStatus {
  if (err instanceof joseErrors.JWTExpired) return JwtStatus.Expired;
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'nbf': return JwtStatus.NotYetValid;
      case 'aud': return JwtStatus.AudienceNotAllowed;
      case 'iss': return JwtStatus.UnknownIssuer;
      case 'exp': return err.reason === 'missing' ? JwtStatus.ExpMissing : JwtStatus.Expired;
      default: return JwtStatus.VerificationFails;
    }
  }
  return JwtStatus.VerificationFails;
}

/** Success side effects of one verified token (`first`: it sets the request principal). */
function applyVerified(ctx: StreamContext, v: Verified, first: boolean): void {
  const c = v.provider.config;
  const payload = v.payload;
  if (first) ctx.requestPrincipal = principalOf(payload);
  const headers = ctx.headers;
  if (!c.forward && v.found.location === 'header') delete headers[v.found.name];
  if (c.forwardPayloadHeader !== null) {
    const parsed = v.found.parsed as ParsedJwt;
    let seg = parsed.payloadSegment;
    if (c.padForwardPayloadHeader) while (seg.length % 4 !== 0) seg += '=';
    headers[c.forwardPayloadHeader] = seg;
  }
  for (let i = 0; i < c.claimToHeaders.length; i++) {
    const ch = c.claimToHeaders[i]!;
    let cur: unknown = payload;
    for (let j = 0; j < ch.claim.length && cur !== undefined; j++) cur = isObject(cur) ? cur[ch.claim[j]!] : undefined;
    if (typeof cur === 'string' || typeof cur === 'number' || typeof cur === 'boolean') headers[ch.header] = String(cur);
  }
}

function principalOf(payload: JWTPayload): RequestPrincipal {
  const issuer = typeof payload.iss === 'string' ? payload.iss : '';
  const subject = typeof payload.sub === 'string' ? payload.sub : '';
  const aud = payload.aud;
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
  return Object.freeze({ issuer, subject, principal: `${issuer}/${subject}`, audiences: Object.freeze(audiences), claims: Object.freeze({ ...payload }) });
}
