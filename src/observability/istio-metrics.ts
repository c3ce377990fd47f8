/**
 * Istio's standard metrics in the sidecar: one `StreamObserver` per listener config that records
 * `istio_requests_total`, `istio_request_duration_milliseconds`, `istio_request_bytes` and
 * `istio_response_bytes` when each stream ends, with Istio's labels (istio/istio-series.ts).
 *
 * The reporter follows the listener's `traffic_direction`: OUTBOUND reports as `source` (this
 * workload calls the endpoint the router picked: destination labels from the endpoint's EDS
 * `filter_metadata.istio` and the `outbound|<port>|<subset>|<host>` cluster name; principals and
 * `connection_security_policy` as Istio's client side prints them), INBOUND as `destination` (this
 * workload is called: source labels from the connection's verified peer, completed by the caller's
 * metadata-exchange claim (istio/peer-metadata.ts) when the mTLS identity backs it; `mutual_tls` or `none`;
 * the service from the inbound route name `inbound|<host>:<port>`, else the request's host, at
 * most `MAX_HOSTS` of them, else the canonical service). UNSPECIFIED listeners record nothing.
 *
 * Label sets are computed once per (cluster, endpoint metadata object) on the outbound side and
 * once per (connection, service) on the inbound side (cached in `connection.telemetrySlot`), and
 * interned per Registry; a request costs a few Map lookups with string or number keys, plain
 * number increments and three bucket scans.
 */
import type { Registry } from 'prom-client';
import type { ListenerModel, NodeModel } from '../config/model';
import { ResponseFlagFormatter } from '../core/response-flags';
import {
  authorityHost, endpointPeer, inboundRouteHost, outboundClusterHost, ownWorkload, peerWorkload, serviceFromHost,
  UNKNOWN, UNKNOWN_SERVICE, UNKNOWN_WORKLOAD,
  type EndpointPeer, type OwnWorkload, type ServiceLabels, type WorkloadLabels,
} from './istio/istio-labels';
import { decodePeerMetadata, PEER_METADATA_HEADER } from './istio/peer-metadata';
import { IstioSeriesStore, outcomeKey, type IstioSeries } from './istio/istio-series';
import type { ConnectionInfo, PeerInfo, StreamInfo, StreamObserver } from './stream-info';

/** At most this many distinct request hosts label `destination_service` per inbound listener config. */
export const MAX_HOSTS = 256;

/** At most this many distinct verified caller claims label `source_*` (then the peer identity alone). */
export const MAX_CALLERS = 256;

/** Drop a cache that grew past this (config churn); entries are rebuilt on demand. */
const MAX_CLUSTERS = 4096;

export class IstioMetrics {
  private readonly store: IstioSeriesStore;
  private readonly own: OwnWorkload;
  private readonly flags = new ResponseFlagFormatter();
  /** Parsed endpoint metadata, once per config-time metadata object. */
  private readonly endpoints = new WeakMap<object, EndpointPeer | null>();
  /** Verified metadata-exchange claims by (peer, header value). */
  private readonly callers = new Map<string, WorkloadLabels | null>();

  /** Registers the four metrics in `registry` (or joins the ones another instance registered there). */
  constructor(readonly registry: Registry, readonly node: NodeModel) {
    this.store = IstioSeriesStore.of(registry);
    this.own = ownWorkload(node);
  }

  /**
   * The observer recording `istio_*` metrics for one listener config's streams; null when the
   * listener has no `istioStats` or its traffic direction is UNSPECIFIED. Called at config time.
   */
  observerFor(listener: ListenerModel): StreamObserver | null {
    const stats = listener.hcm.istioStats;
    if (stats === null) return null;
    if (listener.trafficDirection === 'OUTBOUND') return new SourceObserver(this);
    if (listener.trafficDirection === 'INBOUND') return new DestinationObserver(this, !stats.disableHostHeaderFallback);
    return null;
  }

  /** @internal The parsed Istio metadata of an endpoint (null when it has none). */
  endpointOf(metadata: Readonly<Record<string, unknown>>): EndpointPeer | null {
    let p = this.endpoints.get(metadata);
    if (p === undefined) {
      p = endpointPeer(metadata);
      this.endpoints.set(metadata, p);
    }
    return p;
  }

  /** @internal The reporter=source series of a call to `cluster` (null: none picked) served by an endpoint described by `peer`. */
  sourceSeries(cluster: string | null, peer: EndpointPeer | null): IstioSeries {
    let svc: ServiceLabels = UNKNOWN_SERVICE;
    if (cluster !== null) {
      const host = outboundClusterHost(cluster);
      const ns = peer === null || peer.labels.namespace === UNKNOWN ? null : peer.labels.namespace;
      svc = host === null ? { service: cluster, name: cluster, namespace: ns ?? UNKNOWN } : serviceFromHost(host, ns);
    }
    // Istio's client side: principals only from an mTLS upstream; the security policy is unknown.
    const src = peer !== null && peer.mutualTls ? this.own.secure : this.own.plain;
    return this.store.series('source', src, peer === null ? UNKNOWN_WORKLOAD : peer.labels, svc, 'unknown');
  }

  /**
   * @internal The reporter=destination series of a call over `connection` to `service` (null:
   * unknown service), from `caller` (a verified metadata-exchange claim) or else the peer identity.
   */
  destinationSeries(connection: ConnectionInfo | null, service: ServiceLabels | null, caller: WorkloadLabels | null): IstioSeries {
    const mtls = connection !== null && connection.mutualTls;
    const dst = mtls ? this.own.secure : this.own.plain;
    const svc = service ?? { service: dst.canonicalService, name: dst.canonicalService, namespace: dst.namespace };
    const src = caller ?? peerWorkload(connection === null ? null : connection.peer);
    return this.store.series('destination', src, dst, svc, mtls ? 'mutual_tls' : 'none');
  }

  /**
   * @internal The caller labels of a metadata-exchange claim, when `peer` (the verified
   * certificate) has the claimed namespace and service account; null otherwise. Interned per claim
   * value, at most MAX_CALLERS of them (then null), so a caller cannot grow the label space.
   */
  verifiedCaller(peer: PeerInfo, value: string): WorkloadLabels | null {
    const key = `${peer.spiffeId ?? ''} ${value}`;
    const hit = this.callers.get(key);
    if (hit !== undefined) return hit;
    if (this.callers.size >= MAX_CALLERS) return null;
    const claim = decodePeerMetadata(value);
    let labels: WorkloadLabels | null = null;
    if (claim !== null && claim.workload !== '' && claim.namespace === peer.namespace && claim.serviceAccount === peer.serviceAccount) {
      labels = Object.freeze({
        workload: claim.workload,
        namespace: claim.namespace,
        principal: peer.spiffeId ?? UNKNOWN,
        app: claim.app || UNKNOWN,
        version: claim.version || UNKNOWN,
        canonicalService: claim.canonicalService || UNKNOWN,
        canonicalRevision: claim.canonicalRevision || 'latest',
        cluster: claim.cluster || UNKNOWN,
      });
    }
    this.callers.set(key, labels);
    return labels;
  }

  /** @internal The service of an inbound host, with this workload's namespace when the host does not name one. */
  inboundService(host: string): ServiceLabels {
    const ns = this.own.plain.namespace;
    return serviceFromHost(host, ns === UNKNOWN ? null : ns);
  }

  /** @internal Records one finished stream in `series`. */
  record(series: IstioSeries, info: StreamInfo): void {
    const grpc = info.isGrpc;
    const gs = grpc ? info.grpcStatus : -1;
    const status = info.responseStatus;
    const bits = info.responseFlags;
    const key = outcomeKey(bits, grpc, gs, status);
    let o = series.outcomes.get(key);
    if (o === undefined) o = this.store.outcome(series, key, grpc, gs, status, this.flags.format(bits));
    o.requests++;
    const bounds = this.store.bounds;
    const d = info.endTime - info.startTime;
    o.duration.observe(bounds, d > 0 ? d : 0);
    o.requestBytes.observe(bounds, info.bytesReceived);
    o.responseBytes.observe(bounds, info.bytesSent);
  }
}

/** The series of one outbound cluster: without endpoint metadata, and per endpoint metadata object. */
class ClusterSeries {
  noMetadata: IstioSeries | null = null;
  readonly byMetadata = new WeakMap<object, IstioSeries>();
}

/** reporter=source (OUTBOUND listeners). */
class SourceObserver implements StreamObserver {
  private readonly clusters = new Map<string, ClusterSeries>();
  private noCluster: IstioSeries | null = null;

  constructor(private readonly metrics: IstioMetrics) {}

  onStreamEnd(info: StreamInfo): void {
    this.metrics.record(this.seriesOf(info.upstreamCluster, info.upstreamMetadata), info);
  }

  private seriesOf(cluster: string | null, metadata: Readonly<Record<string, unknown>> | null): IstioSeries {
    if (cluster === null) return (this.noCluster ??= this.metrics.sourceSeries(null, null));
    let c = this.clusters.get(cluster);
    if (c === undefined) {
      if (this.clusters.size >= MAX_CLUSTERS) this.clusters.clear();
      c = new ClusterSeries();
      this.clusters.set(cluster, c);
    }
    if (metadata === null) return (c.noMetadata ??= this.metrics.sourceSeries(cluster, null));
    let s = c.byMetadata.get(metadata);
    if (s === undefined) {
      s = this.metrics.sourceSeries(cluster, this.metrics.endpointOf(metadata));
      c.byMetadata.set(metadata, s);
    }
    return s;
  }
}

/** What a DestinationObserver keeps on a connection (`telemetrySlot`). */
class InboundConnectionSlot {
  /** The last service key seen on the connection and its series (most connections carry one service). */
  lastKey: string | null = null;
  lastSeries: IstioSeries | null = null;
  /** Other service keys of the connection; null until a second one appears. */
  more: Map<string, IstioSeries> | null = null;
  /** The caller's labels from its verified metadata-exchange claim; null when none (peer identity only). */
  source: WorkloadLabels | null = null;
  /** Whether the connection's claim was read (once per connection and listener config). */
  claimRead = false;

  constructor(readonly owner: DestinationObserver) {}
}

/** reporter=destination (INBOUND listeners). */
class DestinationObserver implements StreamObserver {
  /** Service labels by inbound route name (config-bounded) and by request host (at most MAX_HOSTS). */
  private readonly routeServices = new Map<string, ServiceLabels | null>();
  private readonly hostServices = new Map<string, ServiceLabels | null>();
  /** Streams without a connection (tests) share this slot. */
  private readonly detached: InboundConnectionSlot;

  constructor(private readonly metrics: IstioMetrics, private readonly hostFallback: boolean) {
    this.detached = new InboundConnectionSlot(this);
  }

  /**
   * Metadata exchange: removes the caller's `x-remora-peer-metadata` header before the app sees it,
   * and on the connection's first request takes its claim when the connection's verified mTLS
   * identity has the claimed namespace and service account.
   */
  onRequestStart(info: StreamInfo, headers: Record<string, string | string[] | undefined>): void {
    const v = headers[PEER_METADATA_HEADER];
    if (v === undefined) return;
    delete headers[PEER_METADATA_HEADER];
    const conn = info.connection;
    if (conn === null || conn.peer === null || !conn.mutualTls) return;
    const slot = this.slotOf(conn);
    if (slot.claimRead) return;
    slot.claimRead = true;
    slot.source = this.metrics.verifiedCaller(conn.peer, typeof v === 'string' ? v : v[0] ?? '');
  }

  private slotOf(conn: ConnectionInfo): InboundConnectionSlot {
    const cur = conn.telemetrySlot;
    if (cur instanceof InboundConnectionSlot && cur.owner === this) return cur;
    const slot = new InboundConnectionSlot(this);
    conn.telemetrySlot = slot;
    return slot;
  }

  onStreamEnd(info: StreamInfo): void {
    const conn = info.connection;
    const slot = conn === null ? this.detached : this.slotOf(conn);
    // A route naming its service wins; else the request's host (when allowed), else none.
    const route = info.routeName;
    const byRoute = route !== null && route.startsWith('inbound|') && route !== 'inbound|*';
    const key = byRoute ? route : this.hostFallback ? info.authority : '';
    let series: IstioSeries;
    if (key === slot.lastKey) series = slot.lastSeries!;
    else {
      const cached = slot.more === null ? undefined : slot.more.get(key);
      if (cached !== undefined) series = cached;
      else {
        series = this.metrics.destinationSeries(conn, this.serviceOf(key, byRoute), slot.source);
        if (slot.lastKey !== null) {
          if (slot.more === null) slot.more = new Map();
          if (slot.more.size < MAX_HOSTS) slot.more.set(slot.lastKey, slot.lastSeries!);
        }
      }
      slot.lastKey = key;
      slot.lastSeries = series;
    }
    this.metrics.record(series, info);
  }

  /** The service of a route name or authority (null: unknown, labelled with the canonical service). */
  private serviceOf(key: string, byRoute: boolean): ServiceLabels | null {
    if (key === '') return null;
    const map = byRoute ? this.routeServices : this.hostServices;
    const hit = map.get(key);
    if (hit !== undefined) return hit;
    let svc: ServiceLabels | null;
    if (byRoute) {
      const host = inboundRouteHost(key);
      svc = host === null ? null : this.metrics.inboundService(host);
    } else {
      if (map.size >= MAX_HOSTS) return UNKNOWN_SERVICE;
      const host = authorityHost(key);
      svc = host === '' ? null : this.metrics.inboundService(host);
    }
    map.set(key, svc);
    return svc;
  }
}
