/**
 * The sidecar's ADS client (State of the World, xds_protocol "Aggregated Discovery Service") on
 * @grpc/grpc-js. It owns one `StreamAggregatedResources` stream at a time: sends the node on the
 * first request of each stream, subscribes wildcard CDS and LDS, then RDS names referenced by the
 * accepted listeners, EDS names of the accepted EDS clusters, and SDS `Secret` names referenced by
 * the TLS contexts of accepted listeners and clusters plus the bootstrap's (`staticSecretNames`),
 * minus names served locally (`localSecretNames`, e.g. the workload certificate `default`),
 * re-sending a subscription whenever a set changes. Secrets do not gate `initialConfigComplete`
 * (a cluster waiting for its secret is simply not warm yet). Each response is processed in arrival order: every resource is decoded and
 * compiled (`xds-resources.ts`); valid ones that changed go to the `AdsConfigSink`, invalid ones
 * keep their last good version (gRFC A46) and the response is NACKed with `error_detail` listing
 * every error as `resource <name>: <path>: <message>`. LDS/CDS responses are full state: accepted
 * resources absent from one are removed. RDS/EDS resources no longer referenced are dropped with
 * their subscription. On stream failure it reconnects with exponential backoff and jitter (Runtime
 * random), resending every subscription with the last accepted versions; the sink keeps serving the
 * last good config meanwhile. Per-type versions, the last ACKed version and the last NACK are kept
 * for `/config_dump`. `AdsTlsCredentials` builds the channel credentials of a control plane reached
 * over mTLS (the bootstrap ADS cluster's UpstreamTlsContext, fed from the sidecar's secrets): every
 * new connection, e.g. a reconnect after a certificate rotation, handshakes with the current
 * certificate and trust bundle; an established connection keeps the material it started with.
 */
import { isDeepStrictEqual } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { experimental } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import * as protoLoader from '@grpc/proto-loader';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type * as protobuf from 'protobufjs';
import type { Clock, RandomSource } from '../core/clock';
import type { ClusterLoadAssignmentModel, ClusterModel, ListenerModel, NodeModel, RouteConfigModel, SecretModel, UpstreamTlsModel } from '../config/model';
import { compileSanMatchers, subjectAltNameMatches, type CompiledSanMatchers } from '../transport/san-matcher';
import type { SecretSource } from '../transport/secret-source';
import type { CompileDeps } from '../config/compile/http-filter-compiler';
import { protoIncludeDirs } from './protos';
import { decodeResource, isFullState, TYPE_OF_URL, URL_OF_TYPE, type XdsModels, type XdsType } from './xds-resources';
import { jsonToStruct } from './proto-struct';
import { XdsClientMetrics } from './xds-client-metrics';

const COMPONENT = 'xds';
/** Request order on a new stream: clusters before listeners (make-before-break). */
const SUBSCRIBE_ORDER: readonly XdsType[] = ['cds', 'eds', 'lds', 'rds', 'sds'];
/** google.rpc.Code INVALID_ARGUMENT. */
const INVALID_ARGUMENT = 3;

/** A change of one type: resources added or changed, and names removed. */
export interface XdsUpdate<T> {
  readonly upserts: readonly T[];
  readonly removals: readonly string[];
}

/** A resource the sink could not apply (e.g. a listener port already in use). */
export interface ApplyFailure {
  readonly name: string;
  readonly message: string;
}

/**
 * Where accepted resources go; implemented by the sidecar's DynamicConfig. Calls are made one at a
 * time, in response order; the client waits for each returned promise before the next response.
 */
export interface AdsConfigSink {
  applyClusters(update: XdsUpdate<ClusterModel>): Promise<readonly ApplyFailure[]>;
  applyEndpoints(update: XdsUpdate<ClusterLoadAssignmentModel>): Promise<readonly ApplyFailure[]>;
  applyListeners(update: XdsUpdate<ListenerModel>): Promise<readonly ApplyFailure[]>;
  applyRoutes(update: XdsUpdate<RouteConfigModel>): Promise<readonly ApplyFailure[]>;
  /** SDS secrets (optional: a sink without it never subscribes to secrets). */
  applySecrets?(update: XdsUpdate<SecretModel>): Promise<readonly ApplyFailure[]>;
}

export interface AdsClientOptions {
  /** `host:port` of the management server. */
  readonly target: string;
  readonly node: NodeModel;
  /** Envoy protos Root (`loadEnvoyProtos()`), used to decode resources. */
  readonly root: protobuf.Root;
  readonly compileDeps: CompileDeps;
  readonly sink: AdsConfigSink;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly logger: Logger;
  /** Reconnect backoff: first delay (default 100 ms) and cap (default 10 s). */
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  /** Channel credentials (default insecure; `AdsTlsCredentials.credentials` for mTLS). */
  readonly credentials?: grpc.ChannelCredentials;
  /** Extra grpc-js channel options (e.g. `grpc.ssl_target_name_override` for an SNI). */
  readonly channelOptions?: grpc.ChannelOptions;
  /** user_agent_version sent in the node. */
  readonly userAgentVersion?: string;
  /** Subscribe wildcard LDS / CDS (bootstrap `lds_config` / `cds_config` over ADS; default true). */
  readonly lds?: boolean;
  readonly cds?: boolean;
  /** SDS names referenced by the bootstrap's static listeners and clusters (always subscribed). */
  readonly staticSecretNames?: readonly string[];
  /** SDS names never requested from the server (provided locally: the workload identity's `default`). */
  readonly localSecretNames?: readonly string[];
  /** Registry for the `remora_xds_*` client metrics (xds-client-metrics.ts); none when absent or null. */
  readonly metrics?: Registry | null;
}

/** The last NACK of a type. */
export interface NackRecord {
  /** ISO time. */
  readonly at: string;
  /** version_info of the rejected response. */
  readonly version: string;
  readonly nonce: string;
  readonly error: string;
}

/** One accepted resource with the version of the response that delivered it. */
export interface AcceptedResource<T> {
  readonly name: string;
  readonly version: string;
  /** ISO time it was applied. */
  readonly lastUpdated: string;
  readonly model: T;
}

/** Status of one type for `/config_dump`. */
export interface AdsTypeStatus {
  readonly typeUrl: string;
  readonly type: XdsType;
  /** Names subscribed; null means wildcard. */
  readonly subscribed: readonly string[] | null;
  /** The version of the last accepted response (A46: also a partially accepted one). */
  readonly version: string;
  /** The version of the last response ACKed without error. */
  readonly lastAckedVersion: string;
  readonly received: boolean;
  readonly lastNack: NackRecord | null;
  /** Resources rejected by the last response of this type, with their errors; empty after an ACK. */
  readonly rejected: ReadonlyArray<{ readonly name: string; readonly error: string }>;
}

interface WireAny { type_url: string; value: Buffer }
interface WireResponse { version_info: string; resources: WireAny[]; type_url: string; nonce: string }
interface WireRequest {
  version_info: string;
  node: unknown;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail: { code: number; message: string } | null;
}
type AdsCall = grpc.ClientDuplexStream<WireRequest, WireResponse>;

class TypeState<K extends XdsType> {
  /** null = wildcard. */
  names: Set<string> | null;
  nonce = '';
  version = '';
  ackedVersion = '';
  received = false;
  lastNack: NackRecord | null = null;
  rejected: Array<{ name: string; error: string }> = [];
  readonly accepted = new Map<string, AcceptedResource<XdsModels[K]>>();
  /** Whether the current stream has sent a request for this type. */
  requested = false;

  constructor(readonly type: K, wildcard: boolean) {
    this.names = wildcard ? null : new Set();
  }
}

/** Loads ads.proto only (resources stay `{type_url, value}`); ~150 ms, call once per client. */
function loadAdsClientConstructor(): grpc.ServiceClientConstructor {
  const def = protoLoader.loadSync(['envoy/service/discovery/v3/ads.proto'], {
    // arrays: an empty DiscoveryResponse (every resource removed) has `resources: []`, not undefined.
    keepCase: true, longs: String, enums: String, defaults: false, arrays: true, oneofs: true, includeDirs: protoIncludeDirs(),
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    envoy: { service: { discovery: { v3: { AggregatedDiscoveryService: grpc.ServiceClientConstructor } } } };
  };
  return pkg.envoy.service.discovery.v3.AggregatedDiscoveryService;
}

/** The ADS client. `start()` once; `close()` stops for good. */
export class AdsClient {
  private readonly types: { [K in XdsType]: TypeState<K> };
  private readonly client: grpc.Client;
  private readonly log: Logger;
  private readonly backoffBase: number;
  private readonly backoffMax: number;
  private call: AdsCall | null = null;
  private sentNode = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private queue: Promise<void> = Promise.resolve();
  private connectedFlag = false;
  private streamsOpened = 0;
  private complete = false;
  private readonly completeWaiters: Array<() => void> = [];
  private readonly metrics: XdsClientMetrics | null;

  constructor(private readonly options: AdsClientOptions) {
    this.types = {
      cds: new TypeState('cds', options.cds ?? true),
      eds: new TypeState('eds', false),
      lds: new TypeState('lds', options.lds ?? true),
      rds: new TypeState('rds', false),
      sds: new TypeState('sds', false),
    };
    if (options.sink.applySecrets !== undefined) this.types.sds.names = this.referencedSecretNames();
    this.log = options.logger.child({ component: COMPONENT, xds_server: options.target });
    this.metrics = options.metrics === undefined || options.metrics === null ? null : new XdsClientMetrics(options.metrics);
    this.backoffBase = options.backoffBaseMs ?? 100;
    this.backoffMax = options.backoffMaxMs ?? 10_000;
    const Client = loadAdsClientConstructor();
    this.client = new Client(options.target, options.credentials ?? grpc.credentials.createInsecure(), {
      ...options.channelOptions,
      'grpc.max_receive_message_length': -1,
      // The channel's own reconnect backoff follows ours, so a restarted server is found quickly.
      'grpc.initial_reconnect_backoff_ms': this.backoffBase,
      'grpc.max_reconnect_backoff_ms': this.backoffMax,
    });
  }

  /** Opens the first stream. Returns at once; progress shows in `status()` and `initialConfigComplete()`. */
  start(): void {
    this.openStream();
  }

  /** Whether a stream is open and has received at least one response. */
  get connected(): boolean { return this.connectedFlag; }

  /** Streams opened so far (1 after start; grows with every reconnect). */
  get streamCount(): number { return this.streamsOpened; }

  /**
   * True once the first complete config arrived: CDS and LDS received, every subscribed RDS name and
   * EDS name delivered. Latched: stays true afterwards (the last good config keeps serving).
   */
  initialConfigComplete(): boolean { return this.complete; }

  /** Resolves once `initialConfigComplete()` holds. */
  whenInitialConfigComplete(): Promise<void> {
    if (this.complete) return Promise.resolve();
    return new Promise((resolve) => this.completeWaiters.push(resolve));
  }

  /** Per-type protocol status, in CDS, EDS, LDS, RDS, SDS order (SDS only once it was requested). */
  status(): AdsTypeStatus[] {
    return SUBSCRIBE_ORDER.filter((t) => t !== 'sds' || this.types.sds.requested || this.types.sds.received).map((t) => {
      const s = this.types[t];
      return {
        typeUrl: URL_OF_TYPE[t],
        type: t,
        subscribed: s.names === null ? null : [...s.names].sort(),
        version: s.version,
        lastAckedVersion: s.ackedVersion,
        received: s.received,
        lastNack: s.lastNack,
        rejected: s.rejected.slice(),
      };
    });
  }

  /** The accepted resources of one type (last good versions). */
  accepted<K extends XdsType>(type: K): AcceptedResource<XdsModels[K]>[] {
    return [...(this.types[type] as TypeState<K>).accepted.values()];
  }

  /** Stops: cancels the stream, closes the channel, no more reconnects. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const call = this.call;
    this.call = null;
    call?.cancel();
    this.client.close();
  }

  // ------------------------------------------------------------------------------ stream

  private openStream(): void {
    if (this.closed) return;
    this.streamsOpened++;
    this.sentNode = false;
    this.connectedFlag = false;
    const method = (this.client as unknown as Record<string, () => AdsCall>)['StreamAggregatedResources']!;
    const call = method.call(this.client);
    this.call = call;
    call.on('data', (resp: WireResponse) => {
      if (this.call !== call) return;
      if (!this.connectedFlag) {
        this.connectedFlag = true;
        this.attempt = 0;
        this.log.info('ADS stream established');
      }
      this.queue = this.queue.then(() => this.onResponse(call, resp)).catch((err: unknown) => {
        this.log.error({ err }, 'processing an xDS response failed');
      });
    });
    call.on('status', (s: grpc.StatusObject) => this.onStreamEnd(call, s));
    call.on('error', () => { /* reported through 'status' */ });
    for (const t of SUBSCRIBE_ORDER) {
      const st = this.types[t];
      st.nonce = '';
      st.requested = false;
      if (st.names === null || st.names.size > 0) this.sendRequest(st, null);
    }
  }

  private onStreamEnd(call: AdsCall, s: grpc.StatusObject): void {
    if (this.call !== call) return;
    this.call = null;
    this.connectedFlag = false;
    if (this.closed) return;
    const delay = this.nextBackoff();
    this.log.warn({ code: s.code, details: s.details, retryInMs: Math.round(delay) }, 'ADS stream closed; serving the last good config and reconnecting');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.openStream();
    }, delay);
    this.retryTimer.unref();
  }

  /** Exponential backoff with jitter: uniform in [d/2, d], d = min(max, base * 2^attempt). */
  private nextBackoff(): number {
    const d = Math.min(this.backoffMax, this.backoffBase * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return d / 2 + this.options.random.next() * (d / 2);
  }

  private sendRequest(st: TypeState<XdsType>, error: string | null): void {
    const call = this.call;
    if (call === null) return;
    let node: unknown = null;
    if (!this.sentNode) {
      this.sentNode = true;
      const n = this.options.node;
      node = {
        id: n.id,
        cluster: n.cluster,
        metadata: jsonToStruct(n.metadata),
        locality: {},
        user_agent_name: 'remora',
        user_agent_version: this.options.userAgentVersion ?? '0',
        client_features: [],
      };
    }
    st.requested = true;
    call.write({
      version_info: st.version,
      node,
      resource_names: st.names === null ? [] : [...st.names].sort(),
      type_url: URL_OF_TYPE[st.type],
      response_nonce: st.nonce,
      error_detail: error === null ? null : { code: INVALID_ARGUMENT, message: error },
    });
  }

  // ------------------------------------------------------------------------------ responses

  private async onResponse(call: AdsCall, resp: WireResponse): Promise<void> {
    if (this.closed) return;
    const type = TYPE_OF_URL.get(resp.type_url);
    if (type === undefined) {
      this.log.warn({ type_url: resp.type_url }, 'ignoring a response of an unknown type');
      return;
    }
    const st = this.types[type] as TypeState<XdsType>;
    const errors = await this.process(st, resp);
    if (this.call !== call) return; // the stream died while applying; the new one resends
    st.nonce = resp.nonce;
    st.received = true;
    if (errors.length === 0) {
      st.ackedVersion = st.version;
      st.rejected = [];
      this.sendRequest(st, null);
      if (this.metrics !== null) this.metrics.ack(type);
    } else {
      const error = errors.join('\n');
      const now = this.options.clock.now();
      st.lastNack = { at: new Date(now).toISOString(), version: resp.version_info, nonce: resp.nonce, error };
      this.log.warn({ type, version: resp.version_info, error }, 'NACK');
      this.sendRequest(st, error);
      if (this.metrics !== null) this.metrics.nack(type, now);
    }
    if (this.metrics !== null && st.version !== '') this.metrics.version(type, st.version);
    await this.updateDerivedSubscriptions();
    this.checkComplete();
  }

  /**
   * Decodes, compiles and applies one response; returns every error (empty → ACK). Updates the
   * accepted set and the type's version (A46: the new version once any resource was valid).
   */
  private async process(st: TypeState<XdsType>, resp: WireResponse): Promise<string[]> {
    const type = st.type;
    const errors: string[] = [];
    const rejected: Array<{ name: string; error: string }> = [];
    const valid = new Map<string, XdsModels[XdsType]>();
    const seen = new Set<string>();
    let unnamed = false;
    for (let i = 0; i < resp.resources.length; i++) {
      const d = decodeResource(this.options.root, this.options.compileDeps, type, resp.resources[i]!);
      if (d.ignored) {
        seen.add(d.name);
        continue;
      }
      if (d.name === '') unnamed = true;
      const label = d.name === '' ? `index ${i}` : d.name;
      if (d.name !== '' && seen.has(d.name)) {
        errors.push(`resource ${label}: name: duplicate resource name in one response`);
        continue;
      }
      seen.add(d.name);
      if (!d.result.ok) {
        const lines = d.result.errors.map((e) => `resource ${label}: ${e.path === '' ? '(root)' : e.path}: ${e.message}`);
        errors.push(...lines);
        rejected.push({ name: label, error: lines.join('\n') });
        continue;
      }
      if (d.name === '') {
        errors.push(`resource ${label}: name: is required`);
        continue;
      }
      if (!isFullState(type) && st.names !== null && !st.names.has(d.name)) continue; // not subscribed (any more)
      valid.set(d.name, d.result.value);
    }

    const upserts: XdsModels[XdsType][] = [];
    for (const [name, model] of valid) {
      const prev = st.accepted.get(name);
      if (prev === undefined || !isDeepStrictEqual(prev.model, model)) upserts.push(model);
    }
    const removals: string[] = [];
    // A full-state response deletes what it omits; invalid ones keep their last good version. When
    // a bad resource has no readable name we cannot tell omissions from rejections: delete nothing.
    if (isFullState(type) && !unnamed) {
      for (const name of st.accepted.keys()) if (!seen.has(name)) removals.push(name);
    }

    const failures = await this.applyToSink(type, upserts, removals);
    const failed = new Set<string>();
    for (const f of failures) {
      failed.add(f.name);
      const line = `resource ${f.name}: ${f.message}`;
      errors.push(line);
      rejected.push({ name: f.name, error: line });
    }
    const now = new Date(this.options.clock.now()).toISOString();
    for (const model of upserts) {
      const name = nameOf(type, model);
      if (failed.has(name)) continue;
      st.accepted.set(name, { name, version: resp.version_info, lastUpdated: now, model });
    }
    for (const name of removals) if (!failed.has(name)) st.accepted.delete(name);
    if (valid.size > 0 || errors.length === 0) st.version = resp.version_info;
    st.rejected = rejected;
    return errors;
  }

  private applyToSink(type: XdsType, upserts: XdsModels[XdsType][], removals: string[]): Promise<readonly ApplyFailure[]> {
    if (upserts.length === 0 && removals.length === 0) return Promise.resolve([]);
    const sink = this.options.sink;
    switch (type) {
      case 'cds': return sink.applyClusters({ upserts: upserts as ClusterModel[], removals });
      case 'eds': return sink.applyEndpoints({ upserts: upserts as ClusterLoadAssignmentModel[], removals });
      case 'lds': return sink.applyListeners({ upserts: upserts as ListenerModel[], removals });
      case 'sds': return sink.applySecrets === undefined ? Promise.resolve([]) : sink.applySecrets({ upserts: upserts as SecretModel[], removals });
      default: return sink.applyRoutes({ upserts: upserts as RouteConfigModel[], removals });
    }
  }

  /**
   * Re-derives the RDS names (referenced by accepted listeners) and EDS names (of accepted EDS
   * clusters); sends a new request for a type whose set changed and drops resources no longer
   * referenced (telling the sink).
   */
  private async updateDerivedSubscriptions(): Promise<void> {
    const rds = new Set<string>();
    for (const l of this.types.lds.accepted.values()) {
      const n = l.model.hcm.rdsRouteConfigName;
      if (n !== null) rds.add(n);
    }
    const eds = new Set<string>();
    for (const c of this.types.cds.accepted.values()) {
      if (c.model.type === 'EDS') eds.add(c.model.edsServiceName ?? c.model.name);
    }
    await this.resubscribe(this.types.rds, rds);
    await this.resubscribe(this.types.eds, eds);
    if (this.options.sink.applySecrets !== undefined) await this.resubscribe(this.types.sds, this.referencedSecretNames());
  }

  /** SDS names referenced by accepted listeners and clusters and by the bootstrap, minus local ones. */
  private referencedSecretNames(): Set<string> {
    const names = new Set<string>(this.options.staticSecretNames ?? []);
    const add = (tls: { certificateSdsName: string | null; validationSdsName: string | null } | null): void => {
      if (tls === null) return;
      if (tls.certificateSdsName !== null) names.add(tls.certificateSdsName);
      if (tls.validationSdsName !== null) names.add(tls.validationSdsName);
    };
    for (const l of this.types.lds.accepted.values()) add(l.model.tls);
    for (const c of this.types.cds.accepted.values()) add(c.model.tls);
    for (const n of this.options.localSecretNames ?? []) names.delete(n);
    return names;
  }

  private async resubscribe(st: TypeState<'rds'> | TypeState<'eds'> | TypeState<'sds'>, names: Set<string>): Promise<void> {
    const current = st.names!;
    if (current.size === names.size && [...names].every((n) => current.has(n))) return;
    st.names = names;
    const dropped: string[] = [];
    for (const name of st.accepted.keys()) if (!names.has(name)) dropped.push(name);
    if (dropped.length > 0) {
      for (const name of dropped) st.accepted.delete(name);
      if (st.type === 'rds') await this.options.sink.applyRoutes({ upserts: [], removals: dropped });
      else if (st.type === 'eds') await this.options.sink.applyEndpoints({ upserts: [], removals: dropped });
      else await this.options.sink.applySecrets?.({ upserts: [], removals: dropped });
    }
    // Subscribing to nothing after something is an explicit unsubscribe; never subscribed, nothing to say.
    if (names.size > 0 || st.requested) this.sendRequest(st as TypeState<XdsType>, null);
  }

  private checkComplete(): void {
    if (this.complete) return;
    const t = this.types;
    if ((t.cds.names === null && !t.cds.received) || (t.lds.names === null && !t.lds.received)) return;
    if (!t.cds.received && !t.lds.received) return;
    for (const n of t.rds.names!) if (!t.rds.accepted.has(n)) return;
    for (const n of t.eds.names!) if (!t.eds.accepted.has(n)) return;
    this.complete = true;
    this.log.info('initial xDS config complete');
    for (const w of this.completeWaiters.splice(0)) w();
  }
}

/** Thrown (as the handshake's error) when the control plane's certificate fails the SAN check. */
export class AdsServerIdentityError extends Error {
  constructor(readonly subjectAltName: string) {
    super(`the xDS server's certificate (SANs: ${subjectAltName === '' ? 'none' : subjectAltName}) matches none of the ADS cluster's subject_alt_name matchers`);
    this.name = 'AdsServerIdentityError';
  }
}

/**
 * mTLS channel credentials towards the control plane from an ADS cluster's `UpstreamTlsModel`: the
 * client certificate is the inline one or the SDS secret `certificateSdsName` (the workload
 * identity's `default`), the roots the inline `trustedCa` or the SDS secret `validationSdsName`
 * (`ROOTCA`), read from `secrets`. The server's chain must verify against those roots and, when
 * the model has SAN matchers, its SANs must match one (e.g. the control plane's SPIFFE ID); the
 * host name is not checked (Envoy semantics). grpc-js builds a new secure context from the latest
 * material for every new connection, so after a rotation reconnects present the new certificate;
 * the first connection waits until both secrets are known. The caller checks that the model
 * verifies the server (`trustedCa` or `validationSdsName` set). `close()` stops watching `secrets`.
 */
export class AdsTlsCredentials implements experimental.CertificateProvider {
  /** Credentials for `AdsClientOptions.credentials`; stable for this object's lifetime. */
  readonly credentials: grpc.ChannelCredentials;
  private readonly caListeners = new Set<experimental.CaCertificateUpdateListener>();
  private readonly identityListeners = new Set<experimental.IdentityCertificateUpdateListener>();
  private readonly sans: CompiledSanMatchers;
  private unsubscribe: (() => void) | null;

  constructor(private readonly model: UpstreamTlsModel, private readonly secrets: SecretSource | null) {
    this.sans = compileSanMatchers(model.matchSubjectAltNames);
    const sans = this.sans;
    const hasIdentity = model.certChain !== null || model.certificateSdsName !== null;
    this.credentials = experimental.createCertificateProviderChannelCredentials(this, hasIdentity ? this : null, {
      checkServerIdentity(_host: string, cert: PeerCertificate): Error | undefined {
        return subjectAltNameMatches(sans, cert.subjectaltname) ? undefined : new AdsServerIdentityError(cert.subjectaltname ?? '');
      },
    });
    this.unsubscribe = secrets === null ? null : secrets.onChange((name) => {
      if (name === model.validationSdsName) this.pushCa();
      if (name === model.certificateSdsName) this.pushIdentity();
    });
  }

  /** `SNI` of the model as channel options (`grpc.ssl_target_name_override`), else none. */
  channelOptions(): grpc.ChannelOptions {
    return this.model.sni === null ? {} : { 'grpc.ssl_target_name_override': this.model.sni };
  }

  /** Resolves once the certificate and the roots are known (at once for inline material). */
  async whenReady(): Promise<void> {
    const s = this.secrets;
    if (s === null) return;
    if (this.model.certificateSdsName !== null) await s.whenReady(this.model.certificateSdsName);
    if (this.model.validationSdsName !== null) await s.whenReady(this.model.validationSdsName);
  }

  /** Stops following secret changes. Idempotent. */
  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.caListeners.clear();
    this.identityListeners.clear();
  }

  addCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.caListeners.add(listener);
    const u = this.caUpdate();
    if (u !== null) listener(u);
  }
  removeCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.caListeners.delete(listener);
  }
  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.add(listener);
    const u = this.identityUpdate();
    if (u !== null) listener(u);
  }
  removeIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(listener);
  }

  private pushCa(): void {
    const u = this.caUpdate();
    if (u !== null) for (const l of Array.from(this.caListeners)) l(u);
  }
  private pushIdentity(): void {
    const u = this.identityUpdate();
    if (u !== null) for (const l of Array.from(this.identityListeners)) l(u);
  }

  /** The current roots, or null while the SDS secret is unknown (never a null update: that fails connects). */
  private caUpdate(): experimental.CaCertificateUpdate | null {
    if (this.model.trustedCa !== null) return { caCertificate: this.model.trustedCa };
    const name = this.model.validationSdsName;
    const vc = name === null ? null : this.secrets?.get(name)?.validationContext ?? null;
    return vc === null ? null : { caCertificate: vc.trustedCa };
  }

  private identityUpdate(): experimental.IdentityCertificateUpdate | null {
    const m = this.model;
    if (m.certChain !== null && m.privateKey !== null) return { certificate: m.certChain, privateKey: m.privateKey };
    const name = m.certificateSdsName;
    const tc = name === null ? null : this.secrets?.get(name)?.tlsCertificate ?? null;
    return tc === null ? null : { certificate: tc.certChain, privateKey: tc.privateKey };
  }
}

function nameOf(type: XdsType, model: XdsModels[XdsType]): string {
  return type === 'eds' ? (model as ClusterLoadAssignmentModel).clusterName : (model as { name: string }).name;
}

export { jsonToStruct } from './proto-struct';
