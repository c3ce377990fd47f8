/**
 * Validates a VirtualService http route's `corsPolicy` (Istio's CorsPolicy fields: `allowOrigins`
 * StringMatch list, `allowMethods`, `allowHeaders`, `exposeHeaders`, `maxAge`, `allowCredentials`,
 * `unmatchedPreflights`) into `CorsPolicySpec`. The deprecated `allowOrigin` string list is
 * rejected (use `allowOrigins`). Translation to Envoy's CorsPolicy is in translate/cors.ts.
 * https://istio.io/latest/docs/reference/config/networking/virtual-service/#CorsPolicy
 */
import type { DocContext, Path } from './document-context';
import { readDuration, readStringMatch } from './common-fields';
import type { StringMatch } from './model';

export interface CorsPolicySpec {
  /** Origins allowed; empty allows none (Envoy: no preflight answered). */
  readonly allowOrigins: readonly StringMatch[];
  readonly allowMethods: readonly string[];
  readonly allowHeaders: readonly string[];
  readonly exposeHeaders: readonly string[];
  /** `maxAge` in whole seconds; null = not sent. */
  readonly maxAgeSeconds: number | null;
  /** null = not set (not sent). */
  readonly allowCredentials: boolean | null;
  /** Preflights from origins not allowed: forwarded upstream (default) or answered with an empty 200. */
  readonly unmatchedPreflights: 'FORWARD' | 'IGNORE';
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function tokens(ctx: DocContext, o: Record<string, unknown>, key: string, path: Path, allowStar: boolean): string[] {
  const list = ctx.stringList(o, key, path);
  list.forEach((t, i) => {
    if (!(TOKEN.test(t) || (allowStar && t === '*'))) ctx.err([...path, key, i], `'${t}' is not an HTTP token`);
  });
  return list;
}

/** Validates `corsPolicy` at `path`; null when it has an issue. */
export function readCorsPolicy(ctx: DocContext, v: unknown, path: Path): CorsPolicySpec | null {
  const o = ctx.object(v, path, ['allowOrigins', 'allowMethods', 'allowHeaders', 'exposeHeaders', 'maxAge', 'allowCredentials', 'unmatchedPreflights'], ['allowOrigin']);
  if (o === null) return null;
  const before = ctx.errorCount;
  const allowOrigins: StringMatch[] = [];
  const raw = ctx.list(o, 'allowOrigins', path);
  for (let i = 0; i < raw.length; i++) {
    const m = readStringMatch(ctx, raw[i], [...path, 'allowOrigins', i]);
    if (m !== null) allowOrigins.push(m);
  }
  const allowMethods = tokens(ctx, o, 'allowMethods', path, true);
  const allowHeaders = tokens(ctx, o, 'allowHeaders', path, true);
  const exposeHeaders = tokens(ctx, o, 'exposeHeaders', path, true);
  const maxAgeMs = readDuration(ctx, o, 'maxAge', path);
  if (maxAgeMs !== null && maxAgeMs % 1000 !== 0) ctx.err([...path, 'maxAge'], 'must be a whole number of seconds');
  const allowCredentials = ctx.boolean(o, 'allowCredentials', path) ?? null;
  const up = ctx.string(o, 'unmatchedPreflights', path);
  let unmatchedPreflights: 'FORWARD' | 'IGNORE' = 'FORWARD';
  if (up === 'IGNORE') unmatchedPreflights = 'IGNORE';
  else if (up !== undefined && up !== 'FORWARD' && up !== 'UNSPECIFIED') ctx.err([...path, 'unmatchedPreflights'], `expected FORWARD or IGNORE, got '${up}'`);
  if (ctx.errorCount !== before) return null;
  return {
    allowOrigins, allowMethods, allowHeaders, exposeHeaders,
    maxAgeSeconds: maxAgeMs === null ? null : maxAgeMs / 1000,
    allowCredentials, unmatchedPreflights,
  };
}
