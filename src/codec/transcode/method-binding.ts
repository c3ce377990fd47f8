/**
 * One compiled HTTP binding of a gRPC method (a google.api.http rule, one of its
 * additional_bindings, or the auto-mapping) and the request side of transcoding: path variables,
 * body and query → the request message, strictly per google/api/http.proto (the Spec):
 *  - fields bound by the path come only from the path (a `body: "*"` JSON body naming one is a
 *    collision: 400 with `rejectBindingBodyFieldCollisions`, else the path wins);
 *  - `body: "*"`: every other field from the body and no query parameters (one → 400 unless in
 *    `ignoredQueryParameters`); `body: "field"`: that field from the body (the JSON value of the
 *    field itself), other fields from the query; no `body`: the request body is ignored (the Spec:
 *    "there is no HTTP request body"), every non-path field from the query;
 *  - query parameters: dotted proto or JSON names, repeated by repetition, scalars, enums (name or
 *    number) and scalar-like well-known types in their ProtoJSON string forms; maps, repeated
 *    messages, other messages, unknown names (unless ignored) and duplicate singular values → 400,
 *    as is a parameter naming a path- or body-bound field.
 * The field chains are resolved at config time; at request time the parts are assembled into one
 * JSON tree (proto field names) and encoded straight into a gRPC frame by the request type's
 * compiled encoder (fast-request-encoder.ts) when the tree has only the shapes it handles, else
 * decoded by @bufbuild/protobuf `fromJson` and encoded by `toBinary` (same bytes either way).
 */
import { isAscii } from 'node:buffer';
import { bytesPlan, putBytes, takeBytes, type BytesPlan } from './bytes-fast-path';
import { encodeGrpcFrame } from '../grpc/frame-decoder';
import { FastRequestEncoder } from './fast-request-encoder';
import { create, fromJson, toBinary, type DescField, type DescMessage, type JsonObject, type JsonValue, type Registry } from '@bufbuild/protobuf';
import { InvalidArgumentError } from '../../core/errors';
import { decodeQueryComponent } from './percent-decoding';
import type { PathBinding } from './path-matcher';
import type { PathTemplate } from './path-template';
import { canonicalizeEnums, stringToJsonValue, isScalarLike, isScalarLikeList, type FieldIndex } from './proto-json';
import type { MethodBinding, MethodInfo, TranscoderOptions } from './transcoder-table';

/** Per-table compiled state shared by every binding (immutable after compile). */
export interface BindingContext {
  readonly options: TranscoderOptions;
  readonly index: FieldIndex;
  readonly registry: Registry;
  readonly ignoredQuery: ReadonlySet<string>;
  /** google.api.HttpBody when the set has it. */
  readonly httpBody: DescMessage | null;
}

const EMPTY_BYTES = new Uint8Array(0);
const utf8 = new TextDecoder('utf-8', { fatal: true });

export class HttpMethodBinding implements MethodBinding {
  /** Field chain of each template variable, in `template.variables` order. */
  readonly pathChains: readonly (readonly DescField[])[];
  /** Field chain of `body` when it names a field, else null. */
  readonly bodyChain: readonly DescField[] | null;
  /** Field chain of `response_body`, else null. */
  readonly responseChain: readonly DescField[] | null;
  readonly httpBodyRequest: boolean;
  private readonly readOptions: { readonly ignoreUnknownFields: boolean; readonly registry: Registry };
  /** The request type's singular bytes fields, decoded natively (null: none). */
  private readonly bytesPlan: BytesPlan | null;
  /** JSON tree → gRPC frame for the common shapes (fast-request-encoder.ts); null when the type has none. */
  private readonly fast: FastRequestEncoder | null;

  constructor(
    readonly method: MethodInfo,
    readonly httpMethod: string,
    readonly template: PathTemplate,
    readonly body: '*' | string | null,
    readonly responseBody: string | null,
    private readonly input: DescMessage,
    pathChains: readonly (readonly DescField[])[],
    bodyChain: readonly DescField[] | null,
    responseChain: readonly DescField[] | null,
    private readonly ctx: BindingContext,
  ) {
    this.bytesPlan = bytesPlan(input);
    this.fast = FastRequestEncoder.compile(input);
    this.pathChains = pathChains;
    this.bodyChain = bodyChain;
    this.responseChain = responseChain;
    const hb = ctx.httpBody;
    this.httpBodyRequest = hb !== null && (
      (body === '*' && input.typeName === hb.typeName) ||
      (bodyChain !== null && bodyChain[bodyChain.length - 1]!.message?.typeName === hb.typeName && bodyChain[bodyChain.length - 1]!.fieldKind === 'message'));
    this.readOptions = { ignoreUnknownFields: ctx.options.ignoreUnknownJsonFields, registry: ctx.registry };
  }

  buildRequestFrame(vars: readonly PathBinding[], query: string | null, body: Uint8Array | null, contentType: string | null): Buffer {
    const root = this.requestTree(vars, query, body);
    return this.httpBodyRequest ? encodeGrpcFrame(this.httpBodyMessage(root, body, contentType)) : this.encodeFrame(root);
  }

  /** The request's ProtoJSON tree (path, body unless HttpBody, query applied). */
  private requestTree(vars: readonly PathBinding[], query: string | null, body: Uint8Array | null): JsonObject {
    const root: JsonObject = {};
    if (this.body !== null && !this.httpBodyRequest && body !== null && body.length > 0) {
      const value = parseJsonBody(body);
      if (this.body === '*') {
        if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InvalidArgumentError('request body must be a JSON object');
        this.placeWholeBody(root, value);
      } else {
        this.placeBodyField(root, value);
      }
    }
    this.applyPathAndQuery(root, vars, query);
    return root;
  }

  /** An HttpBody request: the tree's other fields plus the raw body and its content type. */
  private httpBodyMessage(root: JsonObject, body: Uint8Array | null, contentType: string | null): Uint8Array {
    const msg = this.decode(root);
    setHttpBody(msg, this.body === '*' ? null : this.bodyChain, this.ctx.httpBody!, body ?? EMPTY_BYTES, contentType ?? '');
    return toBinary(this.input, msg);
  }

  buildStreamFrame(vars: readonly PathBinding[], query: string | null, json: unknown): Buffer {
    return this.encodeFrame(this.streamTree(vars, query, json));
  }

  private streamTree(vars: readonly PathBinding[], query: string | null, json: unknown): JsonObject {
    const root: JsonObject = {};
    if (this.body === '*') {
      if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new InvalidArgumentError('each stream message must be a JSON object');
      this.placeWholeBody(root, json as JsonObject);
    } else if (this.body !== null) {
      this.placeBodyField(root, json as JsonValue);
    }
    this.applyPathAndQuery(root, vars, query);
    return root;
  }

  private placeWholeBody(root: JsonObject, value: JsonObject): void {
    Object.assign(root, value);
    // Path-bound fields come only from the path (the Spec): a body value for one is a collision.
    for (let i = 0; i < this.pathChains.length; i++) {
      if (!hasChain(root, this.pathChains[i]!)) continue;
      if (this.ctx.options.rejectBindingBodyFieldCollisions) {
        throw new InvalidArgumentError(`field "${chainName(this.pathChains[i]!)}" is bound by the URL path and must not be set in the request body`);
      }
    }
  }

  private placeBodyField(root: JsonObject, value: JsonValue): void {
    setChain(root, this.bodyChain!, value, false);
    // A path variable inside the body field (`{book.name=…}`, body "book") comes only from the path.
    if (!this.ctx.options.rejectBindingBodyFieldCollisions) return;
    for (let i = 0; i < this.pathChains.length; i++) {
      if (hasChain(root, this.pathChains[i]!)) {
        throw new InvalidArgumentError(`field "${chainName(this.pathChains[i]!)}" is bound by the URL path and must not be set in the request body`);
      }
    }
  }

  private applyPathAndQuery(root: JsonObject, vars: readonly PathBinding[], query: string | null): void {
    const ci = this.ctx.options.caseInsensitiveEnumParsing;
    if (ci) canonicalizeEnums(this.input, root, this.ctx.index);
    for (let i = 0; i < vars.length && i < this.pathChains.length; i++) {
      const chain = this.pathChains[i]!;
      const v = stringToJsonValue(chain[chain.length - 1]!, vars[i]!.value, ci);
      if (v === undefined) throw new InvalidArgumentError(`${chainName(chain)}: invalid value "${vars[i]!.value}" in the URL path`);
      setChain(root, chain, v, false);
    }
    if (query !== null && query.length > 0) this.applyQuery(root, query);
  }

  /** Parses `query` into `root` (see the file comment for the rules). */
  applyQuery(root: JsonObject, query: string): void {
    const opts = this.ctx.options;
    const seen = new Set<string>();
    const parts = query.split('&');
    for (let p = 0; p < parts.length; p++) {
      const part = parts[p]!;
      if (part.length === 0) continue;
      const eq = part.indexOf('=');
      const rawName = eq < 0 ? part : part.slice(0, eq);
      const name = decodeQueryComponent(rawName, opts.queryParamUnescapePlus);
      const value = decodeQueryComponent(eq < 0 ? '' : part.slice(eq + 1), opts.queryParamUnescapePlus);
      if (name === null || value === null) throw new InvalidArgumentError(`query parameter "${rawName}" is not valid UTF-8`);
      if (name.length === 0 || this.ctx.ignoredQuery.has(name)) continue;
      if (this.body === '*') {
        throw new InvalidArgumentError(`query parameter "${name}" is not allowed: the request body binds every field not in the path (body: "*")`);
      }
      const chain = this.resolveQueryName(name);
      if (chain === null) continue;
      const leaf = chain[chain.length - 1]!;
      const canonical = chainName(chain);
      for (let i = 0; i < this.pathChains.length; i++) {
        if (isPrefix(this.pathChains[i]!, chain) || isPrefix(chain, this.pathChains[i]!)) throw new InvalidArgumentError(`query parameter "${name}": field "${canonical}" is bound by the URL path`);
      }
      if (this.bodyChain !== null && (isPrefix(this.bodyChain, chain) || isPrefix(chain, this.bodyChain))) {
        throw new InvalidArgumentError(`query parameter "${name}": field "${canonical}" is bound by the request body`);
      }
      const repeated = leaf.fieldKind === 'list';
      if (!repeated) {
        if (seen.has(canonical)) throw new InvalidArgumentError(`query parameter "${name}": field "${canonical}" is not repeated but has more than one value`);
        seen.add(canonical);
      }
      const v = stringToJsonValue(leaf, value, opts.caseInsensitiveEnumParsing);
      if (v === undefined) throw new InvalidArgumentError(`query parameter "${name}": invalid value "${value}" for field "${canonical}"`);
      setChain(root, chain, v, repeated);
    }
  }

  /** The field chain a dotted query name denotes, null to skip it; throws for forbidden targets. */
  private resolveQueryName(name: string): DescField[] | null {
    const segs = name.split('.');
    const chain: DescField[] = [];
    let msg: DescMessage = this.input;
    for (let i = 0; i < segs.length; i++) {
      const f = this.ctx.index.get(msg, segs[i]!);
      if (f === undefined) {
        if (this.ctx.options.ignoreUnknownQueryParameters) return null;
        throw new InvalidArgumentError(`query parameter "${name}": no field "${segs[i]}" in ${msg.typeName}`);
      }
      chain.push(f);
      const last = i === segs.length - 1;
      if (f.fieldKind === 'map') throw new InvalidArgumentError(`query parameter "${name}": map field "${chainName(chain)}" cannot be set from the query`);
      if (f.fieldKind === 'list' && f.listKind === 'message' && !isScalarLikeList(f)) throw new InvalidArgumentError(`query parameter "${name}": repeated message field "${chainName(chain)}" cannot be set from the query`);
      if (last) {
        if (!isScalarLike(f) && !isScalarLikeList(f)) throw new InvalidArgumentError(`query parameter "${name}": message field "${chainName(chain)}" cannot be set from the query (name one of its fields)`);
        return chain;
      }
      if (f.fieldKind !== 'message' || isScalarLike(f)) throw new InvalidArgumentError(`query parameter "${name}": field "${chainName(chain)}" has no sub-fields`);
      msg = f.message;
    }
    return chain;
  }

  private decode(root: JsonObject) {
    // Base64 bytes decoded natively, outside fromJson (bytes-fast-path.ts).
    const taken = this.bytesPlan === null ? null : takeBytes(this.bytesPlan, root);
    try {
      const msg = fromJson(this.input, root, this.readOptions);
      if (taken !== null) putBytes(msg as unknown as Record<string, unknown>, taken);
      return msg;
    } catch (e) {
      const where = locateJsonError(this.input, root, this.readOptions, this.ctx.index, '', 0);
      const msg = cleanJsonError((e as Error).message);
      throw new InvalidArgumentError(where === null ? msg : `${where}: ${msg}`);
    }
  }

  private encode(root: JsonObject): Uint8Array {
    return toBinary(this.input, this.decode(root));
  }

  /** The tree as a gRPC frame: the compiled encoder when it takes the tree, else the reflective path. */
  private encodeFrame(root: JsonObject): Buffer {
    const fast = this.fast;
    if (fast !== null) {
      const frame = fast.encodeFrame(root);
      if (frame !== null) return frame;
    }
    return encodeGrpcFrame(this.encode(root));
  }
}

/**
 * The error path only: finds which field of `json` makes `fromJson` fail (bufbuild's messages for
 * enums and well-known types do not name the field), by decoding one key at a time and descending
 * into messages and lists. Null when no single key fails.
 */
function locateJsonError(schema: DescMessage, json: JsonValue, opts: { readonly ignoreUnknownFields: boolean; readonly registry: Registry }, index: FieldIndex, prefix: string, depth: number): string | null {
  if (depth > 32 || json === null || typeof json !== 'object' || Array.isArray(json)) return null;
  for (const key of Object.keys(json)) {
    const v = json[key]!;
    try {
      fromJson(schema, { [key]: v }, opts);
      continue;
    } catch {
      // this key fails
    }
    const here = prefix + key;
    const f = index.get(schema, key);
    if (f !== undefined && f.message !== undefined && !f.message.typeName.startsWith('google.protobuf.')) {
      if (f.fieldKind === 'message') return locateJsonError(f.message, v, opts, index, `${here}.`, depth + 1) ?? here;
      if (f.fieldKind === 'list' && Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          const inner = locateJsonError(f.message, v[i]!, opts, index, `${here}[${i}].`, depth + 1);
          if (inner !== null) return inner;
        }
      }
    }
    return here;
  }
  return null;
}

function parseJsonBody(body: Uint8Array): JsonValue {
  let text: string;
  if (isAscii(body)) {
    // The common case: one copy into a one-byte string, no UTF-8 validation or BOM to strip.
    text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('latin1');
  } else {
    try {
      text = utf8.decode(body);
    } catch {
      throw new InvalidArgumentError('request body is not valid UTF-8');
    }
  }
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch (e) {
    throw new InvalidArgumentError(`request body is not valid JSON: ${(e as Error).message}`);
  }
  refuseProtoKey(text, value);
  return value;
}

/**
 * Parses one JSON text of a request stream message; throws SyntaxError for bad JSON and
 * InvalidArgumentError for an object key `__proto__` (see `refuseProtoKey`).
 */
export function parseStreamMessageJson(text: string): JsonValue {
  const value = JSON.parse(text) as JsonValue;
  refuseProtoKey(text, value);
  return value;
}

/**
 * Refuses a JSON object key `__proto__` (400): @bufbuild/protobuf holds a map field in a plain
 * object, where that key cannot be stored, so `fromJson` would drop the entry without a word (and
 * no message field has that name). Only a text that could spell the key (literally, or through a
 * `\u` escape) is walked.
 */
function refuseProtoKey(text: string, value: JsonValue): void {
  if ((text.includes('__proto__') || text.includes('\\u')) && hasProtoKey(value)) {
    throw new InvalidArgumentError('the JSON object key "__proto__" is not supported: a map entry with that key cannot be represented');
  }
}

function hasProtoKey(v: JsonValue): boolean {
  if (v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (hasProtoKey(v[i]!)) return true;
    return false;
  }
  if (Object.prototype.hasOwnProperty.call(v, '__proto__')) return true;
  for (const k in v) if (hasProtoKey(v[k]!)) return true;
  return false;
}

/** `cannot decode field pkg.Msg.x from JSON: …` → kept, without the library's prefix noise. */
function cleanJsonError(message: string): string {
  return message.replace(/^cannot decode (message|field|enum) /, 'invalid $1 ');
}

export function chainName(chain: readonly DescField[]): string {
  let s = '';
  for (let i = 0; i < chain.length; i++) s += (i === 0 ? '' : '.') + chain[i]!.name;
  return s;
}

function isPrefix(a: readonly DescField[], b: readonly DescField[]): boolean {
  if (a.length > b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function keyOf(obj: JsonObject, f: DescField): string | null {
  if (Object.prototype.hasOwnProperty.call(obj, f.name)) return f.name;
  if (f.jsonName !== f.name && Object.prototype.hasOwnProperty.call(obj, f.jsonName)) return f.jsonName;
  return null;
}

function hasChain(root: JsonObject, chain: readonly DescField[]): boolean {
  let obj: JsonValue = root;
  for (let i = 0; i < chain.length; i++) {
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return false;
    const k = keyOf(obj, chain[i]!);
    if (k === null) return false;
    obj = obj[k]!;
  }
  return obj !== null;
}

/** Sets (or appends, for repeated) `value` at `chain` in the JSON tree, replacing any other spelling of the key. */
function setChain(root: JsonObject, chain: readonly DescField[], value: JsonValue, append: boolean): void {
  let obj = root;
  for (let i = 0; i < chain.length - 1; i++) {
    const f = chain[i]!;
    const k = keyOf(obj, f);
    const cur = k === null ? null : obj[k]!;
    if (cur === null || cur === undefined) {
      const next: JsonObject = {};
      if (k !== null && k !== f.name) delete obj[k];
      obj[f.name] = next;
      obj = next;
    } else if (typeof cur === 'object' && !Array.isArray(cur)) {
      obj = cur;
    } else {
      throw new InvalidArgumentError(`field "${chainName(chain.slice(0, i + 1))}" must be a JSON object`);
    }
  }
  const leaf = chain[chain.length - 1]!;
  const k = keyOf(obj, leaf);
  if (append) {
    const cur = k === null ? null : obj[k];
    if (Array.isArray(cur)) { cur.push(value); return; }
    obj[leaf.name] = [value];
  } else {
    obj[leaf.name] = value;
  }
  if (k !== null && k !== leaf.name) delete obj[k];
}

/** Puts the raw body into the HttpBody (the whole message when `chain` is null, else that field). */
function setHttpBody(msg: Record<string, unknown>, chain: readonly DescField[] | null, schema: DescMessage, data: Uint8Array, contentType: string): void {
  if (chain === null) {
    msg['contentType'] = contentType;
    msg['data'] = data;
    return;
  }
  let cur = msg;
  for (let i = 0; i < chain.length - 1; i++) {
    const f = chain[i]!;
    let next = cur[f.localName] as Record<string, unknown> | undefined;
    if (next === undefined) { next = create(f.message!) as unknown as Record<string, unknown>; cur[f.localName] = next; }
    cur = next;
  }
  cur[chain[chain.length - 1]!.localName] = create(schema, { contentType, data } as never);
}
