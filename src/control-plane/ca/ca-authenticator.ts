/**
 * How a CA caller proves which service account it is. `CaAuthenticator` is the seam: the CA service
 * hands it the bearer token (from `authorization: Bearer <token>` metadata) and gets back the one
 * identity that token is bound to, or null. `TokenFileAuthenticator` is the bootstrap-token
 * implementation behind `--ca-tokens <file>`: a YAML or JSON map `token → {namespace,
 * serviceAccount}`. Only SHA-256 digests of the tokens are kept, and a lookup compares the digest
 * against every entry with `crypto.timingSafeEqual` (no early exit), so timing does not reveal how
 * much of a token matched. In Kubernetes a `TokenReview`-backed authenticator (projected
 * service-account JWT, audience-bound) implements the same interface; see docs/security.md.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { WorkloadIdentity } from './mesh-ca';

export interface CaAuthenticator {
  /**
   * The identity bound to `token`, or null when the token is unknown. May be asynchronous (a
   * remote TokenReview). Must not throw for an unknown token; may reject for an infrastructure
   * failure (mapped to UNAVAILABLE by the service).
   */
  authenticateToken(token: string): WorkloadIdentity | null | Promise<WorkloadIdentity | null>;
}

/** Bootstrap tokens shorter than this are refused when loading (they are guessable). */
export const MIN_TOKEN_LENGTH = 16;

const NAME_RE = /^[a-z0-9]([-a-z0-9._]{0,251}[a-z0-9])?$/;

/** A token-file problem, naming the file and the entry. */
export class CaTokenFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CaTokenFileError';
  }
}

interface TokenEntry {
  readonly digest: Buffer;
  readonly identity: WorkloadIdentity;
}

export class TokenFileAuthenticator implements CaAuthenticator {
  private entries: readonly TokenEntry[];

  /** Builds from an already-parsed map `token → {namespace, serviceAccount}`; `source` names it in errors. */
  constructor(map: unknown, source = 'ca tokens') {
    this.entries = TokenFileAuthenticator.compile(map, source);
  }

  /** Reads and validates a YAML/JSON token file. Throws CaTokenFileError naming the file and entry. */
  static fromFile(file: string): TokenFileAuthenticator {
    return new TokenFileAuthenticator(TokenFileAuthenticator.readFile(file), file);
  }

  /** Re-reads `file`, replacing every token atomically; on error the old tokens stay and it throws. */
  reload(file: string): void {
    this.entries = TokenFileAuthenticator.compile(TokenFileAuthenticator.readFile(file), file);
  }

  /** Number of tokens loaded. */
  get size(): number {
    return this.entries.length;
  }

  authenticateToken(token: string): WorkloadIdentity | null {
    const digest = crypto.createHash('sha256').update(token, 'utf8').digest();
    let found: WorkloadIdentity | null = null;
    const entries = this.entries;
    for (let i = 0; i < entries.length; i++) {
      // Compare against every entry: the loop's duration does not depend on where (or whether) it matches.
      if (crypto.timingSafeEqual(entries[i]!.digest, digest) && found === null) found = entries[i]!.identity;
    }
    return found;
  }

  private static readFile(file: string): unknown {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new CaTokenFileError(code === 'ENOENT' ? `${file}: no such file` : `${file}: cannot read (${(err as Error).message})`);
    }
    try {
      return parseYaml(text) as unknown; // YAML is a superset of JSON
    } catch (err) {
      throw new CaTokenFileError(`${file}: not valid YAML/JSON (${(err as Error).message})`);
    }
  }

  private static compile(map: unknown, source: string): TokenEntry[] {
    if (map === null || typeof map !== 'object' || Array.isArray(map)) {
      throw new CaTokenFileError(`${source}: expected a map of token → {namespace, serviceAccount}`);
    }
    const entries: TokenEntry[] = [];
    let n = 0;
    for (const [token, value] of Object.entries(map as Record<string, unknown>)) {
      n++;
      const where = `${source}: entry #${n}`; // never echo the token itself
      if (token.length < MIN_TOKEN_LENGTH) throw new CaTokenFileError(`${where}: token is ${token.length} characters; at least ${MIN_TOKEN_LENGTH} are required`);
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new CaTokenFileError(`${where}: expected {namespace, serviceAccount}`);
      const v = value as Record<string, unknown>;
      for (const key of Object.keys(v)) {
        if (key !== 'namespace' && key !== 'serviceAccount') throw new CaTokenFileError(`${where}.${key}: unknown field (expected namespace, serviceAccount)`);
      }
      if (typeof v.namespace !== 'string' || !NAME_RE.test(v.namespace)) throw new CaTokenFileError(`${where}.namespace: expected a Kubernetes-style name, got ${JSON.stringify(v.namespace)}`);
      if (typeof v.serviceAccount !== 'string' || !NAME_RE.test(v.serviceAccount)) throw new CaTokenFileError(`${where}.serviceAccount: expected a Kubernetes-style name, got ${JSON.stringify(v.serviceAccount)}`);
      entries.push({ digest: crypto.createHash('sha256').update(token, 'utf8').digest(), identity: Object.freeze({ namespace: v.namespace, serviceAccount: v.serviceAccount }) });
    }
    return entries;
  }
}
