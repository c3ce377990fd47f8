/**
 * The reflection-sourced gRPC-JSON transcoder: compiles
 * `remora.filters.http.grpc_json_transcoder.v1.ReflectionTranscoder` (an Envoy GrpcJsonTranscoder
 * without descriptors, the app's `host:port` and a refresh interval; see its .proto) and registers
 * it (`createReflectionTranscoderRegistration()`, one per ExtensionRegistry: it owns the pool of
 * reflection sources). The transcoder options are validated by the Envoy transcoder's own compiler
 * against a stub descriptor set declaring the configured services, so both filters accept exactly
 * the same options. Per stream the factory reads its source's current config (one field read) and
 * delegates to a `GrpcJsonTranscoderFactory` built for it (rebuilt only when the source swapped in
 * a new table). Before the first successful fetch: per-route `disabled` and overrides behave as on
 * the Envoy transcoder, gRPC requests and requests whose content-type is neither absent nor JSON
 * pass through, and the rest are answered 503 UNAVAILABLE as google.rpc.Status JSON.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { create, toBinary } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import type { ConfigIssue, ValidationResult } from '../../core/errors';
import { GrpcStatus, syntheticResponseFor, type SyntheticResponse } from '../../core/status';
import { Issues, joinPath, msg, onlyFields, optDurationMs, str, strList } from '../../config/compile/context';
import type { ProtoObject } from '../../config/compile/proto-json';
import { FilterStatus, type FilterFactoryContext, type FilterRegistration, type HttpFilter, type HttpFilterFactory } from '../filter';
import { sendSyntheticResponse } from '../local-reply';
import type { Downstream, StreamContext } from '../stream-context';
import {
  compileGrpcJsonTranscoder, compileGrpcJsonTranscoderPerRoute, type GrpcJsonTranscoderConfig, type GrpcJsonTranscoderPerRoute,
} from './config';
import { GrpcJsonTranscoderFactory } from './filter';
import { ReflectionSourcePool, type ReflectionDescriptorSource, type ReflectionSourceSpec } from './reflection-source';

/** Distinct from the Envoy transcoder's name (the registry keys per-route compilers by name); per-route configs are the same. */

/** The stub set is inline: the options check never reads a descriptor file. */
const NO_DESCRIPTOR_FILE = (file: string): Buffer => { throw new Error(`descriptors come from server reflection, not ${file}`); };

export const REFLECTION_TRANSCODER_NAME = 'remora.filters.http.grpc_json_transcoder_reflection';
export const REFLECTION_TRANSCODER_TYPE_URL = 'type.googleapis.com/remora.filters.http.grpc_json_transcoder.v1.ReflectionTranscoder';
export const DEFAULT_REFRESH_INTERVAL_MS = 30_000;
const MIN_REFRESH_INTERVAL_MS = 100;

export interface ReflectionTranscoderConfig extends ReflectionSourceSpec {
  readonly kind: 'grpc_json_transcoder_reflection';
}

const HOST_PORT_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** A FileDescriptorSet declaring each `pkg.Service` with no methods: lets the options compile before any descriptor exists. */
function stubDescriptorSet(services: readonly string[]): Uint8Array {
  const byPackage = new Map<string, string[]>();
  for (const s of services) {
    const dot = s.lastIndexOf('.');
    const pkg = dot < 0 ? '' : s.slice(0, dot);
    const list = byPackage.get(pkg) ?? [];
    list.push(dot < 0 ? s : s.slice(dot + 1));
    byPackage.set(pkg, list);
  }
  const file: Partial<FileDescriptorProto>[] = [];
  let i = 0;
  for (const [pkg, names] of byPackage) {
    file.push({ name: `remora-reflection-stub-${i++}.proto`, package: pkg, syntax: 'proto3', service: names.map((name) => ({ name })) } as Partial<FileDescriptorProto>);
  }
  return toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file } as never));
}

/** Compiles a ReflectionTranscoder; errors carry paths under `path`. Reads no file and opens no connection. */
export function compileReflectionTranscoder(typedConfig: ProtoObject, path: string): ValidationResult<ReflectionTranscoderConfig> {
  const issues = new Issues();
  onlyFields(issues, typedConfig, path, ['config', 'reflection_target', 'refresh_interval']);
  const target = str(typedConfig, 'reflection_target') ?? '';
  const tp = joinPath(path, 'reflection_target');
  if (target === '') issues.add(tp, 'is required (host:port of the application\'s gRPC server)');
  else {
    const m = HOST_PORT_RE.exec(target);
    const port = m === null ? NaN : Number(m[2]);
    if (m === null || !(port >= 1 && port <= 65535)) issues.add(tp, `expected host:port, got '${target}'`);
  }
  const rp = joinPath(path, 'refresh_interval');
  const refreshIntervalMs = optDurationMs(issues, typedConfig, 'refresh_interval', path, DEFAULT_REFRESH_INTERVAL_MS) ?? DEFAULT_REFRESH_INTERVAL_MS;
  if (refreshIntervalMs < MIN_REFRESH_INTERVAL_MS) issues.add(rp, `must be at least ${MIN_REFRESH_INTERVAL_MS}ms`);

  const cp = joinPath(path, 'config');
  const inner = msg(typedConfig, 'config');
  let base: GrpcJsonTranscoderConfig | null = null;
  let services: string[] = [];
  if (inner === undefined) {
    issues.add(cp, 'is required (the transcoder options, with services)');
  } else {
    for (const k of ['proto_descriptor', 'proto_descriptor_bin']) {
      const v = inner[k];
      if ((typeof v === 'string' && v !== '') || (Buffer.isBuffer(v) && v.length > 0)) issues.add(joinPath(cp, k), 'must be empty: the descriptors come from server reflection');
    }
    services = strList(inner, 'services');
    const r = compileGrpcJsonTranscoder({ ...inner, proto_descriptor: '', proto_descriptor_bin: Buffer.from(stubDescriptorSet(services)) }, cp, NO_DESCRIPTOR_FILE);
    if (r.ok) base = r.value;
    else for (const e of r.errors) if (!e.path.endsWith('.proto_descriptor_bin')) issues.add(e.path, e.message);
  }
  if (issues.count > 0 || base === null) return failed(issues.list, path);
  const key = JSON.stringify([target, refreshIntervalMs, inner]);
  return {
    ok: true,
    value: Object.freeze({ kind: 'grpc_json_transcoder_reflection' as const, target, refreshIntervalMs, services: Object.freeze(services), base, key }),
  };
}

function failed<T>(list: readonly ConfigIssue[], path: string): ValidationResult<T> {
  return { ok: false, errors: list.length > 0 ? list : [{ path, message: 'invalid reflection transcoder config' }] };
}

const NOT_READY_MESSAGE = 'transcoding is not available yet: the service descriptors have not been fetched from the application (gRPC server reflection)';
const NOT_READY_BODY = JSON.stringify({ code: GrpcStatus.UNAVAILABLE, message: NOT_READY_MESSAGE, details: [] });

/** 503 UNAVAILABLE: the canned "no healthy upstream" reply (flag UH) with a precise message. */
const NOT_READY_REPLY: SyntheticResponse = Object.freeze({ ...syntheticResponseFor('no_healthy_upstream'), message: NOT_READY_MESSAGE });

/** Renders the one not-ready reply as google.rpc.Status JSON; delegates everything else. */
class NotReadyDownstream implements Downstream {
  readonly acceptsTrailers = false;
  constructor(private readonly inner: Downstream) {}
  get protocol(): 'h1' | 'h2' { return this.inner.protocol; }
  get body(): Downstream['body'] { return this.inner.body; }
  get sink(): Downstream['sink'] { return this.inner.sink; }
  get responseStarted(): boolean { return this.inner.responseStarted; }
  get closed(): boolean { return this.inner.closed; }
  get bytesSent(): number { return this.inner.bytesSent; }
  respond(status: number, headers: OutgoingHttpHeaders, endStream: boolean, wantTrailers: boolean): void { this.inner.respond(status, headers, endStream, wantTrailers); }
  write(chunk: Buffer): boolean { return this.inner.write(chunk); }
  end(trailers: OutgoingHttpHeaders | null): void { this.inner.end(trailers); }
  reset(h2Code: number): void { this.inner.reset(h2Code); }
  renderLocalReply(reply: SyntheticResponse): boolean {
    if (this.inner.responseStarted) return false;
    const body = Buffer.from(reply === NOT_READY_REPLY ? NOT_READY_BODY : JSON.stringify({ code: reply.grpcStatus, message: reply.message, details: [] }), 'utf8');
    const headers: OutgoingHttpHeaders = { 'content-type': 'application/json', 'content-length': body.length };
    if (reply.headers !== null) for (const k in reply.headers) headers[k] = reply.headers[k];
    this.inner.respond(reply.httpStatus, headers, false, false);
    this.inner.write(body);
    this.inner.end(null);
    return true;
  }
}

function isPerRoute(c: unknown): c is GrpcJsonTranscoderPerRoute {
  return typeof c === 'object' && c !== null && (c as { kind?: unknown }).kind === 'grpc_json_transcoder_per_route';
}

/** Absent, `application/json` or `…+json` (parameters ignored). */
function isJsonOrNone(v: string | string[] | undefined): boolean {
  if (v === undefined) return true;
  const s = (typeof v === 'string' ? v : (v[0] ?? '')).toLowerCase();
  const semi = s.indexOf(';');
  const t = (semi < 0 ? s : s.slice(0, semi)).trim();
  return t === '' || t === 'application/json' || t.endsWith('+json');
}

export class ReflectionTranscoderFactory implements HttpFilterFactory, HttpFilter {
  private delegateConfig: GrpcJsonTranscoderConfig | null = null;
  private delegate: GrpcJsonTranscoderFactory | null = null;
  /** Handles per-route overrides (a full GrpcJsonTranscoder) before the first fetch. */
  private readonly placeholder: GrpcJsonTranscoderFactory;
  private readonly filterName: string;

  /** `lease` is the object the pool's reference is registered under; it lives as long as this factory. */
  constructor(readonly source: ReflectionDescriptorSource, private readonly ctx: FilterFactoryContext, readonly lease: object) {
    this.filterName = ctx.filterName;
    this.placeholder = new GrpcJsonTranscoderFactory(source.spec.base, ctx);
  }

  /** Stateless per stream: the factory is the filter. */
  createFilter(): HttpFilter {
    return this;
  }

  onRequestHeaders(ctx: StreamContext): FilterStatus {
    const current = this.source.current;
    if (current !== null) {
      if (current !== this.delegateConfig) {
        this.delegate = new GrpcJsonTranscoderFactory(current, this.ctx);
        this.delegateConfig = current;
      }
      return this.delegate!.onRequestHeaders(ctx);
    }
    const route = ctx.route;
    if (route !== null) {
      const o = route.model.perFilterConfig[this.filterName];
      if (o !== undefined && isPerRoute(o)) return this.placeholder.onRequestHeaders(ctx);
    }
    if (ctx.isGrpc || !isJsonOrNone(ctx.headers['content-type'])) return FilterStatus.Continue;
    ctx.wrapDownstream(new NotReadyDownstream(ctx.downstream), false);
    sendSyntheticResponse(ctx, NOT_READY_REPLY);
    return FilterStatus.StopIteration;
  }
}

/** The registration plus its source pool (exposed for tests and shutdown). */
export interface ReflectionTranscoderRegistration extends FilterRegistration<ReflectionTranscoderConfig, GrpcJsonTranscoderPerRoute> {
  readonly pool: ReflectionSourcePool;
}

/**
 * A fresh registration with its own pool of reflection sources; register it in each
 * ExtensionRegistry: `registry.register(createReflectionTranscoderRegistration())`.
 */
export function createReflectionTranscoderRegistration(): ReflectionTranscoderRegistration {
  const pool = new ReflectionSourcePool();
  return {
    name: REFLECTION_TRANSCODER_NAME,
    typeUrl: REFLECTION_TRANSCODER_TYPE_URL,
    pool,
    compile: (typedConfig, path) => compileReflectionTranscoder(typedConfig, path),
    compilePerRoute: compileGrpcJsonTranscoderPerRoute,
    createFactory(config, ctx) {
      const lease = {};
      const source = pool.acquire(ctx.runtime, config, lease);
      return new ReflectionTranscoderFactory(source, ctx, lease);
    },
  };
}
