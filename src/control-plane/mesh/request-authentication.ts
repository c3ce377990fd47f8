/**
 * Validates `security.istio.io/v1` (and `v1beta1`) `RequestAuthentication` documents into
 * `RequestAuthentication`: which workloads verify JWTs (`selector.matchLabels` in the policy's
 * namespace; no selector = every workload of the namespace) and the `jwtRules` (Istio's field names:
 * `issuer` (required), `audiences`, exactly one of `jwks` (inline JWK set JSON, checked here) or
 * `jwksUri` (http/https), `fromHeaders [{name, prefix}]`, `fromParams`, `forwardOriginalToken`,
 * `outputPayloadToHeader`, `outputClaimToHeaders [{header, claim}]`, `timeout` (the JWKS fetch
 * timeout)). Istio's `targetRef(s)` and `fromCookies` are rejected as not supported. Translation to
 * the inbound HCM's `envoy.filters.http.jwt_authn` is in `translate/request-authentication.ts`;
 * the format is documented in docs/mesh-config.md.
 */
import { readSelector } from './selector-scopes';
import { readDuration } from './common-fields';
import { present, type DocContext, type Path } from './document-context';
import type { ResourceMeta } from './model';

const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

export interface JwtRule {
  readonly issuer: string;
  /** Accepted `aud` values; [] = any audience. */
  readonly audiences: readonly string[];
  /** Inline JWK set JSON, or null when `jwksUri` is used. */
  readonly jwks: string | null;
  readonly jwksUri: string | null;
  /** [] = Istio's default (`Authorization: Bearer <token>`, `access_token` query parameter). */
  readonly fromHeaders: readonly { readonly name: string; readonly prefix: string }[];
  readonly fromParams: readonly string[];
  readonly forwardOriginalToken: boolean;
  readonly outputPayloadToHeader: string | null;
  readonly outputClaimToHeaders: readonly { readonly header: string; readonly claim: string }[];
  /** JWKS fetch timeout; null = default (5 s). */
  readonly timeoutMs: number | null;
}

export interface RequestAuthentication {
  readonly meta: ResourceMeta;
  /** `selector.matchLabels`; null = every workload in the namespace. */
  readonly selector: Readonly<Record<string, string>> | null;
  readonly jwtRules: readonly JwtRule[];
}


function headerName(ctx: DocContext, o: Record<string, unknown>, key: string, path: Path, required: boolean): string | null {
  const h = ctx.string(o, key, path, required);
  if (h === undefined) return null;
  if (!HEADER_NAME_RE.test(h)) {
    ctx.err([...path, key], `invalid header name '${h}'`);
    return null;
  }
  return h.toLowerCase();
}

/** Checks inline JWKS text: JSON with a non-empty `keys` list of JWK objects carrying `kty`. */
function checkJwks(ctx: DocContext, text: string, path: Path): boolean {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    ctx.err(path, `must be a JWK set in JSON: ${(e as Error).message}`);
    return false;
  }
  const keys = typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>)['keys'] : undefined;
  if (!Array.isArray(keys) || keys.length === 0) {
    ctx.err(path, 'must be a JWK set: a JSON object with a non-empty "keys" list');
    return false;
  }
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as Record<string, unknown> | null;
    if (typeof k !== 'object' || k === null || typeof k['kty'] !== 'string') {
      ctx.err(path, `keys[${i}] must be a JWK object with "kty"`);
      return false;
    }
    if (k['kty'] === 'oct') {
      ctx.err(path, `keys[${i}] is a symmetric (oct) key: only RSA, EC and OKP signing keys are accepted`);
      return false;
    }
  }
  return true;
}

function readJwtRule(ctx: DocContext, v: unknown, path: Path): JwtRule | null {
  const o = ctx.object(v, path, [
    'issuer', 'audiences', 'jwks', 'jwksUri', 'fromHeaders', 'fromParams', 'forwardOriginalToken', 'outputPayloadToHeader',
    'outputClaimToHeaders', 'timeout',
  ], ['fromCookies']);
  if (o === null) return null;
  const before = ctx.errorCount;
  const issuer = ctx.string(o, 'issuer', path, true);
  const audiences = ctx.stringList(o, 'audiences', path);
  const jwks = ctx.string(o, 'jwks', path) ?? null;
  const jwksUri = ctx.string(o, 'jwksUri', path) ?? null;
  if ((jwks === null) === (jwksUri === null)) {
    ctx.err(path, 'exactly one of jwks or jwksUri is required (Remora does not discover keys from the issuer)');
  }
  if (jwks !== null) checkJwks(ctx, jwks, [...path, 'jwks']);
  if (jwksUri !== null) {
    let ok = false;
    try {
      const u = new URL(jwksUri);
      ok = u.protocol === 'http:' || u.protocol === 'https:';
    } catch { /* reported below */ }
    if (!ok) ctx.err([...path, 'jwksUri'], `must be an http:// or https:// URL, got '${jwksUri}'`);
  }
  const fromHeaders: { name: string; prefix: string }[] = [];
  const rawHeaders = ctx.list(o, 'fromHeaders', path);
  for (let i = 0; i < rawHeaders.length; i++) {
    const hp = [...path, 'fromHeaders', i];
    const h = ctx.object(rawHeaders[i], hp, ['name', 'prefix']);
    if (h === null) continue;
    const name = headerName(ctx, h, 'name', hp, true);
    const prefix = ctx.string(h, 'prefix', hp) ?? '';
    if (CONTROL_RE.test(prefix)) ctx.err([...hp, 'prefix'], 'must not contain control characters');
    if (name !== null) fromHeaders.push({ name, prefix });
  }
  const fromParams = ctx.stringList(o, 'fromParams', path);
  const forwardOriginalToken = ctx.boolean(o, 'forwardOriginalToken', path) ?? false;
  const outputPayloadToHeader = present(o, 'outputPayloadToHeader') ? headerName(ctx, o, 'outputPayloadToHeader', path, true) : null;
  const outputClaimToHeaders: { header: string; claim: string }[] = [];
  const rawClaims = ctx.list(o, 'outputClaimToHeaders', path);
  for (let i = 0; i < rawClaims.length; i++) {
    const cp = [...path, 'outputClaimToHeaders', i];
    const c = ctx.object(rawClaims[i], cp, ['header', 'claim']);
    if (c === null) continue;
    const header = headerName(ctx, c, 'header', cp, true);
    const claim = ctx.string(c, 'claim', cp, true);
    if (header !== null && claim !== undefined) outputClaimToHeaders.push({ header, claim });
  }
  const timeoutMs = present(o, 'timeout') ? readDuration(ctx, o, 'timeout', path) : null;
  if (ctx.errorCount !== before || issuer === undefined) return null;
  return { issuer, audiences, jwks, jwksUri, fromHeaders, fromParams, forwardOriginalToken, outputPayloadToHeader, outputClaimToHeaders, timeoutMs };
}

/** Validates one RequestAuthentication spec at `spec`; null (with issues recorded) when invalid. */
export function readRequestAuthentication(ctx: DocContext, meta: ResourceMeta, v: unknown): RequestAuthentication | null {
  const path: Path = ['spec'];
  const spec = ctx.object(v, path, ['selector', 'jwtRules'], ['targetRef', 'targetRefs']);
  if (spec === null) return null;
  const before = ctx.errorCount;
  const selector = readSelector(ctx, spec, path, 'all');
  const raw = ctx.list(spec, 'jwtRules', path);
  const jwtRules: JwtRule[] = [];
  const issuers = new Map<string, number>();
  for (let i = 0; i < raw.length; i++) {
    const r = readJwtRule(ctx, raw[i], [...path, 'jwtRules', i]);
    if (r === null) continue;
    const prev = issuers.get(r.issuer);
    if (prev !== undefined) ctx.err([...path, 'jwtRules', i, 'issuer'], `issuer '${r.issuer}' is already configured by jwtRules[${prev}]`);
    else issuers.set(r.issuer, i);
    jwtRules.push(r);
  }
  if (ctx.errorCount !== before) return null;
  return { meta, selector, jwtRules };
}
