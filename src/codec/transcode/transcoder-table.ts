/**
 * The transcoder's compiled table: a FileDescriptorSet plus options → one immutable object holding
 * the registry of message schemas, every transcoded method (`MethodInfo`, by gRPC path), every HTTP
 * binding (`MethodBinding`, from google.api.http rules, additional_bindings and auto-mapping) in a
 * `PathMatcher` trie, and the google.rpc.Status printer. Built once per config update
 * (`TranscoderTable.compile`), it collects every config problem into one `TranscoderConfigError`.
 * At request time a binding turns path variables, query and body into request bytes, and a method
 * turns response bytes into JSON (or raw HttpBody data) — no descriptor lookups by name per request.
 * ProtoJSON is done by @bufbuild/protobuf (see bench/README.md "Transcoding: ProtoJSON library
 * choice"), with compiled fast paths for the common shapes (fast-request-encoder.ts,
 * fast-response-printer.ts) that produce the same bytes and text; binding semantics follow
 * google/api/http.proto (the Spec), see method-binding.ts.
 */
import {
  create, createFileRegistry, createRegistry, fromBinary, getExtension, hasExtension, toJson, toJsonString,
  type DescField, type DescMessage, type DescMethod, type DescExtension, type JsonValue, type Registry,
} from '@bufbuild/protobuf';
import { FileDescriptorSetSchema, anyUnpack, type Any } from '@bufbuild/protobuf/wkt';
import type { UnescapeMode } from './percent-decoding';
import { PathMatcher, describeBinding, type PathBinding, type HttpBinding } from './path-matcher';
import { parsePathTemplate, PathTemplateError, type PathTemplate } from './path-template';
import { HttpMethodBinding, chainName, type BindingContext } from './method-binding';
import { FieldIndex, isScalarLike } from './proto-json';
import { FastResponsePrinter } from './fast-response-printer';
import { compileGoogleapis } from '../../config/compile/compile-proto';

export interface TranscoderOptions {
  /** Fully-qualified service names to transcode (each must exist in the set). */
  readonly services: readonly string[];
  /** Unannotated methods → `POST /pkg.Svc/Method` with body `*`. */
  readonly autoMapping: boolean;
  readonly print: {
    readonly addWhitespace: boolean;
    readonly alwaysPrintPrimitiveFields: boolean;
    readonly alwaysPrintEnumsAsInts: boolean;
    readonly preserveProtoFieldNames: boolean;
  };
  /** Query parameter names skipped without error (exact names, as sent). */
  readonly ignoredQueryParameters: readonly string[];
  /** Remora default false: an unknown query parameter → 400. */
  readonly ignoreUnknownQueryParameters: boolean;
  /** True: a path-bound field also present in a `body: "*"` JSON body → 400. False: the path wins (the Spec). */
  readonly rejectBindingBodyFieldCollisions: boolean;
  /** Remora default false: an unknown JSON field → 400 (ProtoJSON's default). */
  readonly ignoreUnknownJsonFields: boolean;
  /** Enum names in the query, path and JSON body matched case-insensitively. */
  readonly caseInsensitiveEnumParsing: boolean;
  readonly unescapeMode: UnescapeMode;
  /** `+` in query components decodes to a space (Envoy `query_param_unescape_plus`). */
  readonly queryParamUnescapePlus: boolean;
}

/** Remora's defaults (stricter than Envoy's where the Spec or ProtoJSON says so). */
export const DEFAULT_TRANSCODER_OPTIONS: TranscoderOptions = Object.freeze({
  services: [],
  autoMapping: false,
  print: Object.freeze({ addWhitespace: false, alwaysPrintPrimitiveFields: false, alwaysPrintEnumsAsInts: false, preserveProtoFieldNames: false }),
  ignoredQueryParameters: [],
  ignoreUnknownQueryParameters: false,
  rejectBindingBodyFieldCollisions: false,
  ignoreUnknownJsonFields: false,
  caseInsensitiveEnumParsing: false,
  unescapeMode: 'ALL_CHARACTERS_EXCEPT_SLASH',
  queryParamUnescapePlus: false,
});

/** Every problem found while compiling a table (all of them, not only the first). */
export class TranscoderConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid transcoder config: ${problems.join('; ')}`);
    this.name = 'TranscoderConfigError';
  }
}

export interface MethodInfo {
  /** `/pkg.Svc/Method`. */
  readonly grpcPath: string;
  /** Fully-qualified service name. */
  readonly service: string;
  /** Method name. */
  readonly name: string;
  readonly requestStreaming: boolean;
  readonly responseStreaming: boolean;
  /** Fully-qualified input / output message type names. */
  readonly inputType: string;
  readonly outputType: string;
  /**
   * Response message bytes → the HTTP body: JSON text (print options; `response_body` of `binding`
   * when given) or, for google.api.HttpBody (whole response or the response_body field), raw data +
   * content type. Throws a plain Error on undecodable bytes (the filter maps it to 500).
   */
  responseBody(message: Uint8Array, binding: MethodBinding | null): { readonly json: string } | { readonly contentType: string; readonly data: Uint8Array };
}

export interface MethodBinding {
  readonly method: MethodInfo;
  /** Upper case, or '*' (custom kind "*"). */
  readonly httpMethod: string;
  readonly template: PathTemplate;
  /** '*' = whole message, a top-level (or dotted) field name, null = no body. */
  readonly body: '*' | string | null;
  readonly responseBody: string | null;
  /** True when the request body is a google.api.HttpBody (whole message, or the body field): raw bytes + content type, not JSON. */
  readonly httpBodyRequest: boolean;
  /**
   * The request of a unary / server-streaming call as one uncompressed gRPC frame (5-byte prefix +
   * binary protobuf): path variables, then the body (parsed per `body`), then the query (only fields
   * not bound by path or body — the Spec). Throws core/errors InvalidArgumentError with a message
   * naming the field. `query` is the raw query string without '?', or null. A rule without `body`
   * ignores a request body (the Spec: "there is no HTTP request body"; like grpc-gateway, and
   * compatible with clients that send `{}`). The request type's compiled encoder writes the frame
   * when the JSON has only the shapes it handles; @bufbuild's `fromJson`/`toBinary` otherwise (same
   * bytes, same errors).
   */
  buildRequestFrame(vars: readonly PathBinding[], query: string | null, body: Uint8Array | null, contentType: string | null): Buffer;
  /**
   * One message of a client/bidi stream as one gRPC frame, from one JSON value (already parsed, the
   * value the body selects: the whole message for `*`, the field's value for `body: "field"`);
   * path/query bindings are applied to every message. Throws InvalidArgumentError.
   */
  buildStreamFrame(vars: readonly PathBinding[], query: string | null, json: unknown): Buffer;
}

const HTTP_BODY = 'google.api.HttpBody';
const RPC_STATUS = 'google.rpc.Status';

/** What `responseBody` returns. */
export type ResponseBody = { readonly json: string } | { readonly contentType: string; readonly data: Uint8Array };

interface WriteOptions {
  readonly alwaysEmitImplicit: boolean;
  readonly enumAsInteger: boolean;
  readonly useProtoFieldName: boolean;
  readonly registry: Registry;
  readonly prettySpaces: number;
}

/** A transcoded gRPC method: identity plus the response printer. */
class TranscodedMethod implements MethodInfo {
  readonly grpcPath: string;
  readonly service: string;
  readonly name: string;
  readonly requestStreaming: boolean;
  readonly responseStreaming: boolean;
  readonly inputType: string;
  readonly outputType: string;
  /** @internal */
  readonly input: DescMessage;
  /** @internal */
  readonly output: DescMessage;
  /** Binary → JSON text for a flat response type printed without whitespace; null otherwise. */
  private readonly fastPrinter: FastResponsePrinter | null;

  constructor(m: DescMethod, private readonly write: WriteOptions, private readonly implicitWrite: WriteOptions) {
    this.service = m.parent.typeName;
    this.name = m.name;
    this.grpcPath = `/${this.service}/${m.name}`;
    this.requestStreaming = m.methodKind === 'client_streaming' || m.methodKind === 'bidi_streaming';
    this.responseStreaming = m.methodKind === 'server_streaming' || m.methodKind === 'bidi_streaming';
    this.input = m.input;
    this.output = m.output;
    this.inputType = m.input.typeName;
    this.outputType = m.output.typeName;
    this.fastPrinter = write.prettySpaces === 0 && m.output.typeName !== HTTP_BODY ? FastResponsePrinter.compile(m.output, write) : null;
  }

  responseBody(message: Uint8Array, binding: MethodBinding | null): ResponseBody {
    const chain = binding instanceof HttpMethodBinding ? binding.responseChain : null;
    if (chain === null && this.fastPrinter !== null) {
      const json = this.fastPrinter.print(message);
      if (json !== null) return { json };
    }
    const msg = fromBinary(this.output, message) as unknown as Record<string, unknown>;
    if (chain === null) {
      if (this.output.typeName === HTTP_BODY) return rawBody(msg);
      return { json: toJsonString(this.output, msg as never, this.write) };
    }
    // response_body: a (top-level) field of the response becomes the whole body.
    let cur: Record<string, unknown> | undefined = msg;
    for (let i = 0; i < chain.length - 1 && cur !== undefined; i++) cur = cur[chain[i]!.localName] as Record<string, unknown> | undefined;
    const leaf = chain[chain.length - 1]!;
    const value = cur === undefined ? undefined : cur[leaf.localName];
    if (leaf.fieldKind === 'message') {
      if (leaf.message.typeName === HTTP_BODY) return rawBody((value ?? {}) as Record<string, unknown>);
      const v = value ?? create(leaf.message);
      return { json: toJsonString(leaf.message, v as never, this.write) };
    }
    const owner = chain.length === 1 ? this.output : chain[chain.length - 2]!.message!;
    const holder = cur ?? create(owner);
    // Singular scalars print even when they hold the default; lists and maps print [] / {}.
    const opts = leaf.fieldKind === 'scalar' || leaf.fieldKind === 'enum' ? this.implicitWrite : this.write;
    const json = toJson(owner, holder as never, opts) as Record<string, JsonValue>;
    let v = json[opts.useProtoFieldName ? leaf.name : leaf.jsonName];
    if (v === undefined) v = leaf.fieldKind === 'list' ? [] : leaf.fieldKind === 'map' ? {} : null;
    return { json: JSON.stringify(v, null, this.write.prettySpaces) };
  }
}

function rawBody(msg: Record<string, unknown>): ResponseBody {
  const ct = msg['contentType'];
  const data = msg['data'];
  return { contentType: typeof ct === 'string' ? ct : '', data: data instanceof Uint8Array ? data : new Uint8Array(0) };
}

/** Immutable compiled table; see the file comment. */
export class TranscoderTable {
  /** Every binding of every transcoded method. */
  readonly matcher: PathMatcher<MethodBinding>;
  /** Every binding, in declaration order (for diagnostics and config dumps). */
  readonly bindings: readonly MethodBinding[];

  private constructor(
    readonly options: TranscoderOptions,
    private readonly methods: ReadonlyMap<string, MethodInfo>,
    bindings: readonly MethodBinding[],
    matcher: PathMatcher<MethodBinding>,
    private readonly registry: Registry,
    private readonly statusSchema: DescMessage,
  ) {
    this.bindings = bindings;
    this.matcher = matcher;
  }

  /** Compiles descriptors + options; throws TranscoderConfigError listing every problem. */
  static compile(descriptorSet: Uint8Array, options: TranscoderOptions): TranscoderTable {
    const problems: string[] = [];
    let userRegistry: Registry;
    try {
      userRegistry = createFileRegistry(fromBinary(FileDescriptorSetSchema, descriptorSet));
    } catch (e) {
      throw new TranscoderConfigError([`invalid descriptor set: ${(e as Error).message}`]);
    }
    // google.rpc.Status / error details / HttpBody are always known (user types win on conflict).
    const registry = createRegistry(baseRegistry(), userRegistry);
    const index = new FieldIndex();
    const httpBodyDesc = registry.getMessage(HTTP_BODY) ?? null;
    const pretty = options.print.addWhitespace ? 2 : 0;
    const write: WriteOptions = {
      alwaysEmitImplicit: options.print.alwaysPrintPrimitiveFields,
      enumAsInteger: options.print.alwaysPrintEnumsAsInts,
      useProtoFieldName: options.print.preserveProtoFieldNames,
      registry,
      prettySpaces: pretty,
    };
    const implicitWrite: WriteOptions = { ...write, alwaysEmitImplicit: true };
    const ctx: BindingContext = {
      options, index, registry, ignoredQuery: new Set(options.ignoredQueryParameters), httpBody: httpBodyDesc,
    };
    const httpExt = userRegistry.getExtension('google.api.http');
    const methods = new Map<string, MethodInfo>();
    const bindings: HttpMethodBinding[] = [];
    for (const svcName of options.services) {
      const svc = userRegistry.getService(svcName);
      if (svc === undefined) { problems.push(`service "${svcName}" is not in the descriptor set`); continue; }
      for (const m of svc.methods) {
        const info = new TranscodedMethod(m, write, implicitWrite);
        methods.set(info.grpcPath, info);
        index.warm(m.input);
        const rules = httpRules(m, httpExt);
        if (rules.length === 0 && options.autoMapping) rules.push({ method: 'POST', path: info.grpcPath, body: '*', responseBody: null });
        for (const r of rules) {
          const b = compileBinding(info, m, r, ctx, problems);
          if (b !== null) bindings.push(b);
        }
      }
    }
    const seen = new Map<string, string>();
    for (const b of bindings) {
      const key = describeBinding({ method: b.httpMethod, template: b.template, target: null });
      const prev = seen.get(key);
      if (prev !== undefined) problems.push(`duplicate HTTP rule ${key}: ${b.method.grpcPath} and ${prev}`);
      else seen.set(key, b.method.grpcPath);
    }
    let matcher: PathMatcher<MethodBinding> | null = null;
    if (problems.length === 0) {
      try {
        matcher = new PathMatcher<MethodBinding>(bindings.map((b): HttpBinding<MethodBinding> => ({ method: b.httpMethod, template: b.template, target: b })));
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
    if (problems.length > 0 || matcher === null) throw new TranscoderConfigError(problems);
    return new TranscoderTable(options, methods, bindings, matcher, registry, registry.getMessage(RPC_STATUS)!);
  }

  /** By gRPC path `/pkg.Svc/Method`, for every method of the listed services (also unbound ones). */
  method(grpcPath: string): MethodInfo | undefined {
    return this.methods.get(grpcPath);
  }

  /**
   * google.rpc.Status as ProtoJSON text: {"code":N,"message":"…","details":[{"@type":…,…}]};
   * details decoded from grpc-status-details-bin bytes when their types are known (the set, plus
   * google/rpc/{status,error_details}.proto), else kept as {"@type", "value": base64}. Bytes that
   * are not a Status are ignored (details: []). `message` is used as given (already
   * percent-decoded by the caller). Never throws.
   */
  statusJson(code: number, message: string, details: Uint8Array | null): string {
    const out: JsonValue[] = [];
    if (details !== null && details.length > 0) {
      let anys: Any[] = [];
      try {
        const st = fromBinary(this.statusSchema, details) as unknown as { details?: Any[] };
        anys = st.details ?? [];
      } catch {
        anys = [];
      }
      for (const a of anys) out.push(this.anyJson(a));
    }
    return JSON.stringify({ code, message, details: out }, null, this.options.print.addWhitespace ? 2 : 0);
  }

  private anyJson(a: Any): JsonValue {
    try {
      const name = a.typeUrl.slice(a.typeUrl.lastIndexOf('/') + 1);
      const schema = this.registry.getMessage(name);
      if (schema !== undefined) {
        const inner = anyUnpack(a, schema);
        if (inner !== undefined) {
          const j = toJson(schema, inner, { registry: this.registry, useProtoFieldName: this.options.print.preserveProtoFieldNames });
          if (j !== null && typeof j === 'object' && !Array.isArray(j)) return { '@type': a.typeUrl, ...j };
          return { '@type': a.typeUrl, value: j };
        }
      }
    } catch {
      // fall through: undecodable payload
    }
    return { '@type': a.typeUrl, value: Buffer.from(a.value).toString('base64') };
  }
}

interface Rule { readonly method: string; readonly path: string; readonly body: string | null; readonly responseBody: string | null }

/** The method's google.api.http rule and its additional_bindings (one level, the Spec). */
function httpRules(m: DescMethod, ext: DescExtension | undefined): Rule[] {
  const out: Rule[] = [];
  const opts = m.proto.options;
  if (ext === undefined || opts === undefined || !hasExtension(opts, ext)) return out;
  const json = toJson(ext.message!, getExtension(opts, ext) as never) as Record<string, JsonValue>;
  const one = (r: Record<string, JsonValue>): void => {
    let method = '';
    let path = '';
    for (const k of ['get', 'put', 'post', 'delete', 'patch']) {
      if (typeof r[k] === 'string') { method = k.toUpperCase(); path = r[k] as string; }
    }
    const custom = r['custom'] as Record<string, JsonValue> | undefined;
    if (custom !== undefined) { method = String(custom['kind'] ?? '').toUpperCase(); path = String(custom['path'] ?? ''); }
    const body = typeof r['body'] === 'string' && r['body'] !== '' ? r['body'] : null;
    const rb = typeof r['responseBody'] === 'string' && r['responseBody'] !== '' ? r['responseBody'] : null;
    out.push({ method, path, body, responseBody: rb });
  };
  one(json);
  const extra = json['additionalBindings'];
  if (Array.isArray(extra)) for (const r of extra) one(r as Record<string, JsonValue>);
  return out;
}

function compileBinding(info: TranscodedMethod, m: DescMethod, r: Rule, ctx: BindingContext, problems: string[]): HttpMethodBinding | null {
  const where = `${info.grpcPath}: ${r.method} ${r.path}`;
  if (r.method === '' || r.path === '') { problems.push(`${info.grpcPath}: google.api.http rule has no pattern`); return null; }
  let template: PathTemplate;
  try {
    template = parsePathTemplate(r.path);
  } catch (e) {
    problems.push(`${where}: ${e instanceof PathTemplateError ? e.message : String(e)}`);
    return null;
  }
  let ok = true;
  const pathChains: DescField[][] = [];
  for (const v of template.variables) {
    const chain = resolveChain(m.input, v.fieldPath, ctx.index);
    if (typeof chain === 'string') { problems.push(`${where}: path variable "${v.fieldPath.join('.')}": ${chain}`); ok = false; continue; }
    const leaf = chain[chain.length - 1]!;
    if (!isScalarLike(leaf)) { problems.push(`${where}: path variable "${v.fieldPath.join('.')}" must name a singular primitive field`); ok = false; continue; }
    pathChains.push(chain);
  }
  let bodyChain: DescField[] | null = null;
  if (r.body !== null && r.body !== '*') {
    const chain = resolveChain(m.input, r.body.split('.'), ctx.index);
    if (typeof chain === 'string') { problems.push(`${where}: body "${r.body}": ${chain}`); ok = false; }
    else bodyChain = chain;
  }
  let responseChain: DescField[] | null = null;
  if (r.responseBody !== null) {
    const chain = resolveChain(m.output, r.responseBody.split('.'), ctx.index);
    if (typeof chain === 'string') { problems.push(`${where}: response_body "${r.responseBody}": ${chain}`); ok = false; }
    else responseChain = chain;
  }
  if (bodyChain !== null) {
    // A path variable naming the body field itself (or one of its ancestors) leaves nothing for the
    // body; one nested inside the body field (AIP-134 `{book.name=…}` with `body: "book"`) is fine:
    // the path sets that sub-field, per request (method-binding.ts).
    for (const pc of pathChains) {
      if (pc.length > bodyChain.length) continue;
      let same = true;
      for (let i = 0; i < pc.length; i++) if (pc[i] !== bodyChain[i]) same = false;
      if (same) { problems.push(`${where}: field "${chainName(pc)}" is bound by both the path and the body "${r.body}"`); ok = false; }
    }
  }
  if (!ok) return null;
  return new HttpMethodBinding(info, r.method, template, r.body as '*' | string | null, r.responseBody, m.input, pathChains, bodyChain, responseChain, ctx);
}

/** Resolves a dotted proto field path: every step but the last a singular message; a problem text on failure. */
function resolveChain(msg: DescMessage, names: readonly string[], index: FieldIndex): DescField[] | string {
  const chain: DescField[] = [];
  let cur: DescMessage = msg;
  for (let i = 0; i < names.length; i++) {
    const f = cur.fields.find((x) => x.name === names[i]) ?? index.get(cur, names[i]!);
    if (f === undefined) return `no field "${names[i]}" in ${cur.typeName}`;
    chain.push(f);
    if (i < names.length - 1) {
      if (f.fieldKind !== 'message') return `"${chainName(chain)}" is not a singular message field`;
      cur = f.message;
    }
  }
  return chain;
}

/**
 * google/rpc/{status,error_details}.proto and google/api/httpbody.proto, compiled from the
 * googleapis copy in @grpc/grpc-js-xds (~10 ms), once per table compile (config time; no
 * process-wide cache).
 */
function baseRegistry(): Registry {
  const bytes = compileGoogleapis(['google/rpc/status.proto', 'google/rpc/error_details.proto', 'google/api/httpbody.proto']);
  return createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes));
}
