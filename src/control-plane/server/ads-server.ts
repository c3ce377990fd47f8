/**
 * The Aggregated Discovery Service server (State of the World) on @grpc/grpc-js:
 * `envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources`. It remembers
 * each stream's node from its first request, maps the node to a snapshot group with `nodeKey`, asks
 * the `SnapshotProvider` for that group's resources, and serves them from a `SnapshotCache`
 * (encoded once per snapshot). It holds a stream (records subscriptions, sends nothing) until the
 * group's first snapshot exists. ACK vs NACK is decided only by `error_detail`; requests carrying a
 * stale nonce update the subscription but get no response (xds_protocol "ACK/NACK"). When a
 * group's snapshot changes, each of its streams gets the changed types in make-before-break order
 * (CDS → EDS → LDS → RDS; LDS/CDS deletions afterwards, via a transitional response that still
 * carries the dropped resources). A new stream always gets everything again. `notify(key?)`
 * re-queries the provider (for one group or all connected groups) after a config change; a change
 * pushes to `pushBatchSize` streams in the same turn and to the rest in later turns, so a very large
 * fleet does not hold the event loop for the whole push. Streams with the same
 * subscription of the same snapshot share one planned, encoded response; plain ACKs are decoded
 * without the general protobuf decoder (`discovery-request-decoder.ts`).
 * `DeltaAggregatedResources` answers UNIMPLEMENTED. Per-stream status goes to `PushStatus`,
 * counters to `XdsMetrics`. Streams never wait on each other, so one node's NACK blocks nobody.
 * With `tls`, the same service is also bound on a secure port (mTLS with the mesh CA, `ads-tls.ts`):
 * a stream there speaks for the identity in its client certificate, whatever the node claims.
 */
import * as grpc from '@grpc/grpc-js';
import pino, { type Logger } from 'pino';
import type * as protobuf from 'protobufjs';
import { systemClock, type Clock } from '../../core/clock';
import { PUSH_ORDER, type NodeIdentity, type XdsResourceSet } from '../cache/resources';
import { nodeIdKey, SnapshotCache, type EncodedResource, type NodeKeyFn, type Snapshot } from '../cache/snapshot-cache';
import {
  loadAdsDefinition,
  structToJson,
  type AdsDefinition,
  type WireDiscoveryRequest,
  type WireDiscoveryResponse,
  type WireNode,
} from './ads-proto';
import { fastRequestDeserialize } from './discovery-request-decoder';
import { passThroughSerialize, ResponsePrefixCache, withNonce } from './discovery-response-encoder';
import { AdsStreamState, PlanMemo, responseFor, transitionalFor, isFullStateType, type PlannedResponse, type TypeSubscription } from './ads-stream';
import { peerIdentityOf, type AdsTlsCertificates, type NodePeerIdentity } from './ads-tls';
import { PushStatus, shortTypeName } from './push-status';
import type { XdsMetrics } from './xds-metrics';
import { NodeMetadataKey } from '../../config/node-metadata';

/**
 * The resources a node should see, or null when they are not known yet (the stream is held).
 * Called synchronously on a group's first stream and on `notify`; it may throw, which is logged and
 * keeps the previous snapshot.
 */
export type SnapshotProvider = (node: NodeIdentity) => XdsResourceSet | null;

export interface AdsServerOptions {
  /** Protobufjs Root of the Envoy protos (`loadEnvoyProtos()`), used to encode resources. */
  readonly root: protobuf.Root;
  readonly provider: SnapshotProvider;
  /** Snapshot grouping (default: node.id). */
  readonly nodeKey?: NodeKeyFn;
  /** Listen port (0 = ephemeral; default 15010). */
  readonly port?: number;
  /** Listen host (default 127.0.0.1). */
  readonly host?: string;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Metrics handles (XdsMetrics on the process registry); none are recorded when absent. */
  readonly metrics?: XdsMetrics | null;
  /** A preloaded ADS definition (`loadAdsDefinition()`), to skip loading ads.proto again. */
  readonly adsDefinition?: AdsDefinition;
  /** Use this cache instead of a private one. */
  readonly cache?: SnapshotCache;
  /** Drop a group's snapshot when its last stream closes (default true). */
  readonly evictIdleSnapshots?: boolean;
  /** `control_plane.identifier` put in every response (default 'remora'). */
  readonly identifier?: string;
  /** Also serve ADS over mTLS (the secure xDS port); null/absent = plaintext port only. */
  readonly tls?: AdsTlsOptions | null;
  /**
   * How many streams a snapshot change pushes to in one event-loop turn (default 1000). The rest are
   * queued and pushed in following turns (`setImmediate`), each with the snapshot current then, so a
   * push to 10,000s of streams yields to I/O between batches. Smaller batches let the first clients
   * start decoding sooner, but the ACKs they send are then read between batches, ahead of the
   * remaining pushes: at 1,000 streams, batches of 100 gave a later last ACK than one batch
   * (bench/README.md, "xDS push latency"). `Infinity` pushes to every stream at once.
   */
  readonly pushBatchSize?: number;
  /**
   * Registers further services on the same gRPC server before it binds (e.g. the mesh CA's
   * `addCaService`, served on the secure port like Istio's 15012). Called once by `start()`.
   */
  readonly extraServices?: ((server: grpc.Server) => void) | null;
}

/** The secure xDS port: mutual TLS with certificates from the mesh CA. */
export interface AdsTlsOptions {
  /** Listen port (Istio: 15012; 0 = ephemeral). */
  readonly port: number;
  /** Serving certificate and client trust bundle, swappable live. */
  readonly certificates: AdsTlsCertificates;
  /** Client certificates must carry a SPIFFE ID of this trust domain. */
  readonly trustDomain: string;
}

type AdsCall = grpc.ServerDuplexStream<WireDiscoveryRequest, WireDiscoveryResponse>;

/** What every stream sent one PlannedResponse shares: the resources by name, their names, the encoded prefix. */
interface PlannedWire {
  readonly sent: ReadonlyMap<string, EncodedResource>;
  readonly names: readonly string[];
  readonly prefix: Buffer;
}

interface Group {
  /** A representative node of the group (the first seen), passed to the provider. */
  node: NodeIdentity;
  readonly streams: Set<LiveStream>;
}

interface LiveStream {
  readonly state: AdsStreamState;
  readonly call: AdsCall;
  /** The identity proven by the client certificate (secure port); null on the plaintext port. */
  readonly peer: NodePeerIdentity | null;
  /** Waiting in the push queue (its group's snapshot changed after this turn's push budget ran out). */
  queued: boolean;
}

/** Streams pushed synchronously per event-loop turn by default; see `AdsServerOptions.pushBatchSize`. */
const DEFAULT_PUSH_BATCH = 1000;

/** The ADS server. Construct, `start()`, and `stop()` when done. */
export class AdsServer {
  /** Snapshots by group key (shared with whoever passed it in). */
  readonly cache: SnapshotCache;
  /** Per-stream push status for `/debug/syncz` and `remora status`. */
  readonly pushStatus: PushStatus;

  private readonly provider: SnapshotProvider;
  private readonly nodeKey: NodeKeyFn;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly metrics: XdsMetrics | null;
  private readonly definition: AdsDefinition;
  private readonly evict: boolean;
  private readonly identifier: string;
  private readonly groups = new Map<string, Group>();
  private readonly streams = new Set<LiveStream>();
  private server: grpc.Server | null = null;
  private boundPort = 0;
  private boundTlsPort = 0;
  private nextNonce = 0;
  private readonly prefixes: ResponsePrefixCache;
  /** Planned responses shared by the streams of a push (same type snapshot, same subscription). */
  private readonly plans = new PlanMemo();
  /** The wire form of each planned response, built once for all the streams it goes to. */
  private readonly wires = new WeakMap<PlannedResponse, PlannedWire>();
  private nextStreamId = 0;
  private readonly unsubscribe: () => void;
  private readonly pushBatch: number;
  /** Pushes left in the current turn's burst. */
  private pushBudget = 0;
  /** Whether a burst (one synchronous run of snapshot changes) is open; closed by a microtask. */
  private burstOpen = false;
  /** Streams waiting for their push, FIFO from `pendingHead`. */
  private pending: LiveStream[] = [];
  private pendingHead = 0;
  private drainScheduled = false;

  constructor(private readonly options: AdsServerOptions) {
    this.provider = options.provider;
    this.nodeKey = options.nodeKey ?? nodeIdKey;
    this.clock = options.clock ?? systemClock;
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'ads' });
    this.metrics = options.metrics ?? null;
    this.definition = options.adsDefinition ?? loadAdsDefinition();
    this.cache = options.cache ?? new SnapshotCache(options.root);
    this.evict = options.evictIdleSnapshots ?? true;
    this.identifier = options.identifier ?? 'remora';
    this.pushStatus = new PushStatus(this.clock);
    this.prefixes = new ResponsePrefixCache(this.identifier);
    this.pushBatch = Math.max(1, options.pushBatchSize ?? DEFAULT_PUSH_BATCH);
    this.unsubscribe = this.cache.onChange((key, snapshot) => this.onSnapshot(key, snapshot));
  }

  /** Binds and starts serving; resolves with the bound port. Rejects if the port is taken. */
  start(): Promise<number> {
    const server = new grpc.Server({ 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
    server.addService(serverServiceDefinition(this.definition.service), {
      StreamAggregatedResources: (call: AdsCall) => this.onStream(call),
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
        call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'Delta xDS is not implemented; use StreamAggregatedResources' });
      },
    });
    this.options.extraServices?.(server);
    const host = this.options.host ?? '127.0.0.1';
    const address = (port: number): string => (host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`);
    const bind = (port: number, creds: grpc.ServerCredentials): Promise<number> => new Promise((resolve, reject) => {
      server.bindAsync(address(port), creds, (err, bound) => (err !== null ? reject(err) : resolve(bound)));
    });
    const tls = this.options.tls ?? null;
    return (async () => {
      try {
        this.boundPort = await bind(this.options.port ?? 15010, grpc.ServerCredentials.createInsecure());
        if (tls !== null) this.boundTlsPort = await bind(tls.port, tls.certificates.serverCredentials());
      } catch (err) {
        server.forceShutdown();
        this.boundPort = 0;
        this.boundTlsPort = 0;
        throw err;
      }
      this.server = server;
      return this.boundPort;
    })();
  }

  /** The bound port (0 before `start()`). */
  get port(): number {
    return this.boundPort;
  }

  /** The bound secure (mTLS) port; 0 before `start()` or without `tls`. */
  get tlsPort(): number {
    return this.boundTlsPort;
  }

  /** Number of open streams. */
  get connectedStreams(): number {
    return this.streams.size;
  }

  /**
   * Stops: cancels every stream and closes the port. Idempotent. The cache keeps its snapshots.
   */
  async stop(): Promise<void> {
    this.unsubscribe();
    const server = this.server;
    this.server = null;
    if (server === null) return;
    for (const s of Array.from(this.streams)) this.closeStream(s);
    server.forceShutdown();
  }

  /**
   * Re-queries the provider for group `key` (or, without a key, for every group that has a
   * connected stream) and pushes whatever changed. Synchronous. Provider errors and encoding
   * errors are logged and keep the previous snapshot; a null result keeps it too.
   */
  notify(key?: string): void {
    if (key === undefined) this.cache.nextGeneration();
    const keys = key === undefined ? Array.from(this.groups.keys()) : [key];
    for (const k of keys) {
      const g = this.groups.get(k);
      if (g !== undefined) this.refresh(k, g.node);
    }
  }

  // ----------------------------------------------------------------------------------- streams

  private onStream(call: AdsCall): void {
    let peer: NodePeerIdentity | null = null;
    const tls = this.options.tls ?? null;
    if (tls !== null) {
      const p = peerIdentityOf(call, tls.trustDomain);
      if (p.kind === 'rejected') {
        this.metrics?.streamsRejected.inc();
        this.logger.warn({ reason: p.reason, peer: call.getPeer() }, 'secure xDS stream refused');
        call.emit('error', { code: grpc.status.UNAUTHENTICATED, details: `client certificate rejected: ${p.reason}` });
        return;
      }
      if (p.kind === 'verified') peer = p.identity;
    }
    const live: LiveStream = { state: new AdsStreamState(++this.nextStreamId), call, peer, queued: false };
    this.streams.add(live);
    this.metrics?.connectedStreams.inc();
    call.on('data', (req: WireDiscoveryRequest) => {
      try {
        this.onRequest(live, req);
      } catch (err) {
        this.logger.error({ err, stream: live.state.id }, 'ADS request handling failed');
        call.emit('error', { code: grpc.status.INTERNAL, details: 'internal error' });
        this.closeStream(live);
      }
    });
    call.on('end', () => {
      this.closeStream(live);
      call.end();
    });
    call.on('error', () => this.closeStream(live));
    call.on('cancelled', () => this.closeStream(live));
    call.on('close', () => this.closeStream(live));
  }

  private closeStream(live: LiveStream): void {
    const st = live.state;
    if (st.closed) return;
    st.closed = true;
    this.streams.delete(live);
    this.metrics?.connectedStreams.dec();
    this.pushStatus.streamClosed(st.id);
    if (st.key !== null) {
      const g = this.groups.get(st.key);
      if (g !== undefined) {
        g.streams.delete(live);
        if (g.streams.size === 0) {
          this.groups.delete(st.key);
          if (this.evict) this.cache.delete(st.key);
        }
      }
    }
  }

  private onRequest(live: LiveStream, req: WireDiscoveryRequest): void {
    const st = live.state;
    if (st.closed) return;
    if (st.node === null) {
      if (req.node === null || req.node === undefined) {
        live.call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'the first DiscoveryRequest of a stream must carry node' });
        this.closeStream(live);
        return;
      }
      this.identify(live, req.node);
    }
    const typeUrl = req.type_url;
    if (typeUrl === '') {
      this.logger.warn({ stream: st.id }, 'ignoring DiscoveryRequest without type_url');
      return;
    }
    const sub = st.sub(typeUrl);
    const nonce = req.response_nonce ?? '';
    if (nonce !== '' && nonce !== sub.lastNonce) {
      // Stale: an answer to a response that has been superseded. Honour the names, send nothing.
      sub.update(req.resource_names ?? []);
      return;
    }
    if (nonce !== '') {
      if (req.error_detail !== null && req.error_detail !== undefined) {
        const message = req.error_detail.message ?? '';
        this.pushStatus.nacked(st.id, typeUrl, req.version_info ?? '', nonce, message);
        this.metrics?.nacks.inc({ type: shortTypeName(typeUrl) });
        this.logger.warn({ node: st.node!.id, type: typeUrl, version: req.version_info, error: message }, 'NACK');
      } else {
        const latency = this.pushStatus.acked(st.id, typeUrl);
        if (latency !== null) this.metrics?.pushAckLatency.observe({ type: shortTypeName(typeUrl) }, latency);
      }
    } else if (sub.lastNonce !== null) {
      // A fresh (nonce-less) request for a type already served: the client lost its state; resend.
      sub.forgetSent();
    }
    sub.update(req.resource_names ?? []);
    this.pushStatus.subscribed(st.id, typeUrl);
    const snapshot = this.cache.get(st.key!);
    if (snapshot === null) return; // held until the group's first snapshot
    const planned = responseFor(sub, snapshot, this.plans);
    if (planned !== null) this.send(live, sub, planned);
  }

  private identify(live: LiveStream, wire: WireNode): void {
    const node: NodeIdentity = {
      id: wire.id ?? '',
      cluster: wire.cluster ?? '',
      metadata: Object.freeze(this.provenMetadata(live, structToJson(wire.metadata), wire.id ?? '')),
    };
    const st = live.state;
    st.node = node;
    st.userAgent = [wire.user_agent_name, wire.user_agent_version].filter((s) => typeof s === 'string' && s !== '').join('/');
    const key = this.nodeKey(node);
    st.key = key;
    this.pushStatus.streamOpened(st.id, node, st.userAgent, key, live.peer);
    let g = this.groups.get(key);
    if (g === undefined) {
      g = { node, streams: new Set() };
      this.groups.set(key, g);
    }
    g.streams.add(live);
    if (this.cache.get(key) === null) this.refresh(key, node);
  }

  /**
   * On the secure port the certificate, not the client, says who the node is: NAMESPACE and
   * SERVICE_ACCOUNT are replaced by the certificate's SPIFFE ID (a differing claim is logged). On
   * the plaintext port the metadata is taken as claimed.
   */
  private provenMetadata(live: LiveStream, claimed: Record<string, unknown>, nodeId: string): Record<string, unknown> {
    const peer = live.peer;
    if (peer === null) return claimed;
    const ns = claimed[NodeMetadataKey.Namespace];
    const sa = claimed[NodeMetadataKey.ServiceAccount];
    if ((ns !== undefined && ns !== peer.namespace) || (sa !== undefined && sa !== peer.serviceAccount)) {
      this.metrics?.identityOverrides.inc();
      this.logger.warn(
        { node: nodeId, claimed: { namespace: ns, serviceAccount: sa }, certificate: peer.spiffeId },
        'node metadata claims another identity than its client certificate; using the certificate',
      );
    }
    return { ...claimed, [NodeMetadataKey.Namespace]: peer.namespace, [NodeMetadataKey.ServiceAccount]: peer.serviceAccount };
  }

  private refresh(key: string, node: NodeIdentity): void {
    let set: XdsResourceSet | null;
    try {
      set = this.provider(node);
    } catch (err) {
      this.logger.error({ err, key }, 'snapshot provider failed; keeping the previous snapshot');
      return;
    }
    if (set === null) return;
    try {
      this.cache.setSnapshot(key, set);
    } catch (err) {
      this.logger.error({ err, key }, 'snapshot rejected; keeping the previous snapshot');
    }
  }

  // -------------------------------------------------------------------------------------- push

  private onSnapshot(key: string, snapshot: Snapshot): void {
    const g = this.groups.get(key);
    if (g === undefined) return;
    if (!this.burstOpen) {
      this.burstOpen = true;
      this.pushBudget = this.pushBatch;
      queueMicrotask(() => { this.burstOpen = false; });
    }
    for (const live of g.streams) {
      if (live.queued) continue; // pushed later with whatever snapshot is current then
      if (this.pushBudget > 0 && this.pendingHead === this.pending.length) {
        this.pushBudget--;
        this.pushAll(live, snapshot);
      } else {
        live.queued = true;
        this.pending.push(live);
      }
    }
    if (this.pendingHead < this.pending.length && !this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(drainPushes, this);
    }
  }

  /** @internal Pushes the next batch of queued streams; reschedules itself while any remain. */
  drainPending(): void {
    this.drainScheduled = false;
    const end = Math.min(this.pending.length, this.pendingHead + this.pushBatch);
    while (this.pendingHead < end) {
      const live = this.pending[this.pendingHead]!;
      this.pending[this.pendingHead++] = undefined as unknown as LiveStream;
      live.queued = false;
      const key = live.state.key;
      const snapshot = key === null || this.server === null ? null : this.cache.get(key);
      if (snapshot !== null) this.pushAll(live, snapshot);
    }
    if (this.pendingHead < this.pending.length) {
      this.drainScheduled = true;
      setImmediate(drainPushes, this);
    } else {
      this.pending = [];
      this.pendingHead = 0;
    }
  }

  /**
   * Pushes every requested type that changed, in PUSH_ORDER. A full-state type that drops
   * resources while another type also changes gets a transitional response first, and its final
   * state after all other types (LDS before CDS, so references go before their targets).
   */
  private pushAll(live: LiveStream, snapshot: Snapshot): void {
    const st = live.state;
    if (st.closed) return;
    // Plan every subscribed type once: which ones change decides the make-before-break order.
    // The usual push changes one type: that needs no ordering and no plan map.
    let onlySub: TypeSubscription | null = null;
    let onlyPlan: PlannedResponse | null = null;
    let plans: Map<TypeSubscription, PlannedResponse> | null = null;
    for (const sub of st.subs.values()) {
      const planned = responseFor(sub, snapshot, this.plans);
      if (planned === null) continue;
      if (onlySub === null) {
        onlySub = sub;
        onlyPlan = planned;
      } else {
        if (plans === null) plans = new Map([[onlySub, onlyPlan!]]);
        plans.set(sub, planned);
      }
    }
    if (plans === null) {
      if (onlySub !== null) this.send(live, onlySub, onlyPlan!);
      return;
    }
    const deferred: TypeSubscription[] = [];
    for (let i = 0; i < PUSH_ORDER.length; i++) {
      const sub = st.subs.get(PUSH_ORDER[i]!);
      if (sub === undefined) continue;
      const own = plans.has(sub);
      // Make-before-break only matters when this full-state type itself changes while others do too.
      if (own && plans.size > 1 && isFullStateType(sub.typeUrl)) {
        const step = transitionalFor(sub, snapshot);
        if (step.drops) {
          if (step.transitional !== null) this.send(live, sub, step.transitional);
          deferred.push(sub);
          continue;
        }
      }
      const planned = plans.get(sub);
      if (planned !== undefined) this.send(live, sub, planned);
    }
    for (let i = deferred.length - 1; i >= 0; i--) {
      const sub = deferred[i]!;
      // Re-planned: the transitional response changed what was sent.
      const planned = responseFor(sub, snapshot, this.plans);
      if (planned !== null) this.send(live, sub, planned);
    }
    // Types the client asked for that PUSH_ORDER does not list.
    for (const [sub, planned] of plans) {
      if (PUSH_ORDER.includes(sub.typeUrl as (typeof PUSH_ORDER)[number])) continue;
      this.send(live, sub, planned);
    }
  }

  private send(live: LiveStream, sub: TypeSubscription, planned: PlannedResponse): void {
    const nonce = String(++this.nextNonce);
    const wire = this.wireOf(planned);
    sub.lastNonce = nonce;
    sub.sentVersion = planned.version;
    sub.recordSent(wire.sent, planned.from);
    this.pushStatus.sent(live.state.id, planned.typeUrl, planned.version, nonce, wire.names);
    this.metrics?.pushes.inc({ type: shortTypeName(planned.typeUrl) });
    live.call.write(withNonce(wire.prefix, nonce) as unknown as WireDiscoveryResponse);
  }

  /** The shared wire form of `planned` (built on its first send). */
  private wireOf(planned: PlannedResponse): PlannedWire {
    let wire = this.wires.get(planned);
    if (wire !== undefined) return wire;
    const resources = new Array(planned.resources.length);
    const sent = new Map<string, EncodedResource>();
    const names: string[] = [];
    for (let i = 0; i < planned.resources.length; i++) {
      const r = planned.resources[i]!;
      resources[i] = r.any;
      sent.set(r.name, r);
      names.push(r.name);
    }
    // The version names the content of the whole type, the names the subset: together they key the bytes.
    const key = `${planned.typeUrl}\0${planned.version}\0${names.join('\0')}`;
    wire = { sent, names, prefix: this.prefixes.prefix(key, planned.version, planned.typeUrl, resources) };
    this.wires.set(planned, wire);
    return wire;
  }
}

function drainPushes(server: AdsServer): void {
  server.drainPending();
}

/**
 * The ADS service definition with a serializer that passes pre-encoded responses through, and
 * (SotW) a request deserializer that reads plain ACKs without the general decoder.
 */
function serverServiceDefinition(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(service)) {
    const requestDeserialize = name === 'StreamAggregatedResources'
      ? fastRequestDeserialize(method.requestDeserialize as (b: Buffer) => unknown)
      : method.requestDeserialize;
    out[name] = { ...method, requestDeserialize, responseSerialize: passThroughSerialize(method.responseSerialize as (v: unknown) => Buffer) };
  }
  return out as grpc.ServiceDefinition;
}
