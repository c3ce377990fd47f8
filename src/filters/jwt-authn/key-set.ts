/**
 * A verified-against JWK set: the public keys of one JSON Web Key Set (RFC 7517), imported once
 * into node:crypto KeyObjects, each with the signature algorithms it may verify. Only asymmetric
 * keys are kept (RSA → RS256/384/512 and PS256/384/512, EC P-256/P-384/P-521 → ES256/384/512,
 * OKP Ed25519/Ed448 → EdDSA), narrowed to the JWK's own `alg` when it names one; symmetric (`oct`)
 * keys, encryption keys (`use: enc`) and keys that do not import are skipped and reported, so no
 * token can be verified with an HMAC or `none` algorithm (no algorithm confusion: a public key is
 * never used as an HMAC secret). Built at config time or when a remote JWKS is fetched; `select`
 * is the per-token lookup by the token header's `kid` and `alg`.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';

/** Signature algorithms Remora accepts in a token header (never `none`, never HS*). */
export const ALLOWED_ALGORITHMS: ReadonlySet<string> = new Set([
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA',
]);

const RSA_ALGS: readonly string[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const EC_ALGS: Readonly<Record<string, string>> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' };
const OKP_CURVES: ReadonlySet<string> = new Set(['Ed25519', 'Ed448']);

/** One imported public key. */
export interface VerificationKey {
  /** The JWK's `kid`; null when it has none (then it matches any token kid, as Envoy does). */
  readonly kid: string | null;
  /** Algorithms this key may verify. */
  readonly algorithms: ReadonlySet<string>;
  readonly key: KeyObject;
}

export type KeySetResult =
  | { readonly ok: true; readonly keys: KeySet; readonly skipped: readonly string[] }
  | { readonly ok: false; readonly error: string };

export class KeySet {
  private constructor(readonly keys: readonly VerificationKey[]) {}

  /** Number of usable keys. */
  get size(): number {
    return this.keys.length;
  }

  /**
   * The keys that may verify a token with header `alg`/`kid`, in JWKS order (a token without a
   * `kid` may match several: the verifier tries each). Empty when none matches.
   */
  select(alg: string, kid: string | null): VerificationKey[] {
    const out: VerificationKey[] = [];
    const keys = this.keys;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (!k.algorithms.has(alg)) continue;
      if (kid !== null && k.kid !== null && k.kid !== kid) continue;
      out.push(k);
    }
    return out;
  }

  /** Does some key carry exactly this `kid`? */
  hasKid(kid: string): boolean {
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i]!.kid === kid) return true;
    return false;
  }

  /**
   * Parses JWKS JSON text (`{"keys": [...]}`, or a single JWK object as Envoy also accepts).
   * Fails when the text is not such JSON or no key is usable; unusable keys are listed in `skipped`.
   */
  static parse(text: string): KeySetResult {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      return { ok: false, error: `not valid JSON (${(e as Error).message})` };
    }
    return KeySet.fromJson(json);
  }

  /** A set with no keys (verifies nothing). */
  static empty(): KeySet {
    return new KeySet(Object.freeze([]));
  }

  /** As `parse`, from an already parsed value. */
  static fromJson(json: unknown): KeySetResult {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) return { ok: false, error: 'a JWK set must be a JSON object with a "keys" array' };
    const obj = json as Record<string, unknown>;
    const list = obj['keys'] !== undefined ? obj['keys'] : obj['kty'] !== undefined ? [obj] : undefined;
    if (!Array.isArray(list)) return { ok: false, error: 'a JWK set must have a "keys" array' };
    const keys: VerificationKey[] = [];
    const skipped: string[] = [];
    for (let i = 0; i < list.length; i++) {
      const r = importKey(list[i]);
      if (typeof r === 'string') skipped.push(`keys[${i}]: ${r}`);
      else keys.push(r);
    }
    if (keys.length === 0) return { ok: false, error: `no usable asymmetric signing key${skipped.length > 0 ? ` (${skipped.join('; ')})` : ''}` };
    return { ok: true, keys: new KeySet(Object.freeze(keys)), skipped };
  }
}

/** Imports one JWK; a string says why it is not usable. */
function importKey(v: unknown): VerificationKey | string {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'expected a JWK object';
  const jwk = v as Record<string, unknown>;
  const kty = jwk['kty'];
  if (typeof kty !== 'string') return '"kty" is required';
  if (jwk['use'] !== undefined && jwk['use'] !== 'sig') return `"use" is '${String(jwk['use'])}', not 'sig'`;
  const kid = typeof jwk['kid'] === 'string' ? jwk['kid'] : null;
  const alg = typeof jwk['alg'] === 'string' ? jwk['alg'] : null;
  let algs: string[];
  switch (kty) {
    case 'RSA': algs = [...RSA_ALGS]; break;
    case 'EC': {
      const a = EC_ALGS[String(jwk['crv'])];
      if (a === undefined) return `unsupported EC curve '${String(jwk['crv'])}'`;
      algs = [a];
      break;
    }
    case 'OKP':
      if (!OKP_CURVES.has(String(jwk['crv']))) return `unsupported OKP curve '${String(jwk['crv'])}'`;
      algs = ['EdDSA'];
      break;
    case 'oct': return 'symmetric (oct) keys are not accepted: HMAC algorithms are not supported';
    default: return `unsupported kty '${kty}'`;
  }
  if (alg !== null) {
    if (!algs.includes(alg)) return `"alg" '${alg}' does not fit kty '${kty}'`;
    algs = [alg];
  }
  // Public parameters only: a private JWK ("d", ...) must not end up in a verifier.
  const pub: Record<string, unknown> = { kty };
  for (const f of kty === 'RSA' ? ['n', 'e'] : ['crv', 'x', 'y']) if (jwk[f] !== undefined) pub[f] = jwk[f];
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pub as import('node:crypto').JsonWebKey, format: 'jwk' });
  } catch (e) {
    return `cannot import (${(e as Error).message})`;
  }
  return Object.freeze({ kid, algorithms: new Set(algs), key });
}
