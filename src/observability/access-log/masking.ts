/**
 * Redaction of secrets before an access-log line is written: header values by header name, query
 * parameter values in the logged path by parameter name, and JSON fields (recursively) in logged
 * values that are JSON documents, e.g. a JSON-valued header. Names compare case-insensitively
 * (percent-encoded query names are decoded first, so `to%6Ben=` is still `token`). Built once per
 * access-log config from its MaskingModel; the common case (a path without `?`, a header value that
 * is not JSON) costs one `indexOf` / one character test.
 */
import type { MaskingModel } from '../../config/access-log-model';

/** What a redacted value is replaced with. */
export const REDACTED = '[REDACTED]';

/** JSON nesting below this depth is replaced wholesale (defensive bound on attacker-shaped input). */
const MAX_JSON_DEPTH = 32;

export class Masker {
  private readonly headers: ReadonlySet<string>;
  private readonly query: ReadonlySet<string>;
  private readonly json: ReadonlySet<string>;

  constructor(model: MaskingModel) {
    this.headers = new Set(model.headers.map((h) => h.toLowerCase()));
    this.query = new Set(model.queryParameters.map((q) => q.toLowerCase()));
    this.json = new Set(model.jsonFields.map((f) => f.toLowerCase()));
  }

  /** `path` with the values of masked query parameters replaced by REDACTED (the path itself when there is no query). */
  maskPath(path: string): string {
    const q = path.indexOf('?');
    if (q < 0 || this.query.size === 0) return path;
    const query = path.slice(q + 1);
    const parts = query.split('&');
    let changed = false;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      const eq = p.indexOf('=');
      const rawName = eq < 0 ? p : p.slice(0, eq);
      if (this.query.has(queryName(rawName))) {
        parts[i] = `${rawName}=${REDACTED}`;
        changed = true;
      }
    }
    return changed ? `${path.slice(0, q + 1)}${parts.join('&')}` : path;
  }

  /** The loggable value of request header `name` (lowercase): REDACTED for masked names, JSON values masked by field. */
  maskHeader(name: string, value: string): string {
    if (this.headers.has(name)) return REDACTED;
    return this.maskJsonText(value);
  }

  /** `text` with masked JSON fields redacted when it is a JSON object or array; otherwise `text` unchanged. */
  maskJsonText(text: string): string {
    if (this.json.size === 0) return text;
    let k = 0;
    while (k < text.length && (text.charCodeAt(k) === 32 || text.charCodeAt(k) === 9)) k++;
    const c = text.charCodeAt(k);
    if (c !== 123 /* { */ && c !== 91 /* [ */) return text;
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      return text;
    }
    return JSON.stringify(this.maskJson(doc, 0));
  }

  /** A copy of the JSON value `v` with masked fields (at any depth) redacted. */
  maskJson(v: unknown, depth = 0): unknown {
    if (typeof v !== 'object' || v === null) return v;
    if (depth >= MAX_JSON_DEPTH) return REDACTED;
    if (Array.isArray(v)) {
      const out = new Array<unknown>(v.length);
      for (let i = 0; i < v.length; i++) out[i] = this.maskJson(v[i], depth + 1);
      return out;
    }
    const out = Object.create(null) as Record<string, unknown>; // no prototype: a `__proto__` key stays a plain field
    const keys = Object.keys(v);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      out[key] = this.json.has(key.toLowerCase()) ? REDACTED : this.maskJson((v as Record<string, unknown>)[key], depth + 1);
    }
    return out;
  }
}

/** The lowercase, percent-decoded name of a query parameter (`+` is a space, as in forms). */
function queryName(raw: string): string {
  if (raw.indexOf('%') < 0 && raw.indexOf('+') < 0) return raw.toLowerCase();
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' ')).toLowerCase();
  } catch {
    return raw.toLowerCase();
  }
}
