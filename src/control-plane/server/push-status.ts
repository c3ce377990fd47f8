/**
 * Per-stream push status, like `istioctl proxy-status`: for every connected ADS stream, the node it
 * speaks for, when it connected, and per resource type the version last sent and last ACKed, the
 * state (SYNCED: the last response was ACKed; STALE: sent, no answer yet; NACKED: the last response
 * was rejected, with the client's error_detail text and time; NOT_SENT: nothing sent yet) and the
 * push-to-ACK latency. The ADS server records into it; `remora status` and `/debug/syncz` read
 * `list()`. Times come from the injected Clock.
 */
import type { Clock } from '../../core/clock';
import { TYPE_URL, type NodeIdentity } from '../cache/resources';
import type { NodePeerIdentity } from './ads-tls';
import { NodeMetadataKey } from '../../config/node-metadata';

export type SyncState = 'SYNCED' | 'STALE' | 'NACKED' | 'NOT_SENT';

/** The short name of a type URL used in status output and metric labels. */
export function shortTypeName(typeUrl: string): string {
  switch (typeUrl) {
    case TYPE_URL.LISTENER: return 'lds';
    case TYPE_URL.ROUTE: return 'rds';
    case TYPE_URL.CLUSTER: return 'cds';
    case TYPE_URL.ENDPOINT: return 'eds';
    case TYPE_URL.SECRET: return 'sds';
    default: return 'other';
  }
}

/** The last NACK of a type on a stream. */
export interface NackInfo {
  /** error_detail.message as the client sent it. */
  readonly message: string;
  /** The version_info the client put in the NACK (may be the new version, see gRFC A46). */
  readonly version: string;
  /** The nonce the NACK answered. */
  readonly nonce: string;
  /** ISO time the NACK arrived. */
  readonly at: string;
}

/** Status of one resource type on one stream (a JSON-safe copy). */
export interface TypeStatus {
  readonly typeUrl: string;
  readonly type: string;
  readonly state: SyncState;
  readonly versionSent: string | null;
  readonly versionAcked: string | null;
  readonly nonceSent: string | null;
  /** ISO time of the last response. */
  readonly sentAt: string | null;
  /** Names in the last response. */
  readonly resourceNames: readonly string[];
  readonly lastNack: NackInfo | null;
  /** Milliseconds from the last ACKed response to its ACK. */
  readonly pushAckLatencyMs: number | null;
}

/** Status of one connected stream (one node connection). */
/** A connected stream's identity, as `summaries()` lists it (a `NodeStatus` is one too). */
export interface NodeSummary {
  readonly streamId: number;
  readonly nodeId: string;
  readonly namespace: string | null;
  readonly workload: string | null;
  readonly adminAddress: string | null;
}

export interface NodeStatus {
  readonly streamId: number;
  readonly nodeId: string;
  readonly cluster: string;
  readonly snapshotKey: string;
  readonly userAgent: string;
  /** ISO time the stream's first request arrived. */
  readonly connectedSince: string;
  /**
   * The identity the node proved with its client certificate on the secure xDS port (it replaced the
   * claimed NAMESPACE/SERVICE_ACCOUNT); null on the plaintext port, where `namespace` /
   * `serviceAccount` below are the node's claims.
   */
  readonly peer: NodePeerIdentity | null;
  /** NAMESPACE and SERVICE_ACCOUNT translation used (proven on the secure port, claimed otherwise). */
  readonly namespace: string | null;
  readonly serviceAccount: string | null;
  /** Node metadata WORKLOAD_NAME; null when absent (e.g. proxyless clients). */
  readonly workload: string | null;
  /** Node metadata REMORA_ADMIN_ADDRESS: the sidecar's admin `host:port` (the dashboard scrapes it); null when absent. */
  readonly adminAddress: string | null;
  readonly types: readonly TypeStatus[];
}


function metadataString(md: Readonly<Record<string, unknown>>, key: string): string | null {
  const v = md[key];
  return typeof v === 'string' && v !== '' ? v : null;
}

class TypeRecord {
  versionSent: string | null = null;
  versionAcked: string | null = null;
  nonceSent: string | null = null;
  sentAtWall: number | null = null;
  sentAtMono = 0;
  names: readonly string[] = [];
  answered = false;
  nackedLatest = false;
  lastNack: NackInfo | null = null;
  latencyMs: number | null = null;
  constructor(readonly typeUrl: string) {}
}

class StreamRecord implements NodeSummary {
  readonly types = new Map<string, TypeRecord>();
  readonly nodeId: string;
  readonly namespace: string | null;
  readonly serviceAccount: string | null;
  readonly workload: string | null;
  readonly adminAddress: string | null;
  constructor(
    readonly streamId: number,
    readonly node: NodeIdentity,
    readonly userAgent: string,
    readonly snapshotKey: string,
    readonly connectedAt: number,
    readonly peer: NodePeerIdentity | null,
  ) {
    this.nodeId = node.id;
    this.namespace = metadataString(node.metadata, NodeMetadataKey.Namespace);
    this.serviceAccount = metadataString(node.metadata, NodeMetadataKey.ServiceAccount);
    this.workload = metadataString(node.metadata, NodeMetadataKey.WorkloadName);
    this.adminAddress = metadataString(node.metadata, NodeMetadataKey.AdminAddress);
  }

  type(typeUrl: string): TypeRecord {
    let rec = this.types.get(typeUrl);
    if (rec === undefined) {
      rec = new TypeRecord(typeUrl);
      this.types.set(typeUrl, rec);
    }
    return rec;
  }
}

const TYPE_ORDER = [TYPE_URL.CLUSTER, TYPE_URL.ENDPOINT, TYPE_URL.LISTENER, TYPE_URL.ROUTE, TYPE_URL.SECRET] as string[];

/** Push status of every open stream of one ADS server. */
export class PushStatus {
  private readonly streams = new Map<number, StreamRecord>();

  constructor(private readonly clock: Clock) {}

  /** A stream identified its node (first request); `peer` is its certificate identity, if any. */
  streamOpened(streamId: number, node: NodeIdentity, userAgent: string, snapshotKey: string, peer: NodePeerIdentity | null = null): void {
    this.streams.set(streamId, new StreamRecord(streamId, node, userAgent, snapshotKey, this.clock.now(), peer));
  }

  /** A stream ended; its status is dropped. */
  streamClosed(streamId: number): void {
    this.streams.delete(streamId);
  }

  /** The client asked for `typeUrl` (so the type shows up as NOT_SENT until a response goes out). */
  subscribed(streamId: number, typeUrl: string): void {
    this.streams.get(streamId)?.type(typeUrl);
  }

  /** A response went out. */
  sent(streamId: number, typeUrl: string, version: string, nonce: string, names: readonly string[]): void {
    const s = this.streams.get(streamId);
    if (s === undefined) return;
    const t = s.type(typeUrl);
    t.versionSent = version;
    t.nonceSent = nonce;
    t.sentAtWall = this.clock.now();
    t.sentAtMono = this.clock.monotonic();
    t.names = names;
    t.answered = false;
    t.nackedLatest = false;
  }

  /**
   * The client ACKed the latest response of `typeUrl`. Returns the push-to-ACK latency in seconds,
   * or null when there was no outstanding response.
   */
  acked(streamId: number, typeUrl: string): number | null {
    const t = this.streams.get(streamId)?.types.get(typeUrl);
    if (t === undefined || t.versionSent === null || t.answered) return null;
    t.answered = true;
    t.nackedLatest = false;
    t.versionAcked = t.versionSent;
    const latencyMs = Math.max(0, this.clock.monotonic() - t.sentAtMono);
    t.latencyMs = latencyMs;
    return latencyMs / 1000;
  }

  /** The client NACKed the latest response of `typeUrl` with `message`. */
  nacked(streamId: number, typeUrl: string, version: string, nonce: string, message: string): void {
    const t = this.streams.get(streamId)?.types.get(typeUrl);
    if (t === undefined) return;
    t.answered = true;
    t.nackedLatest = true;
    t.lastNack = { message, version, nonce, at: new Date(this.clock.now()).toISOString() };
  }

  /** Number of streams with a known node. */
  get size(): number {
    return this.streams.size;
  }

  /** A JSON-safe copy of every stream's status, ordered by node id then stream id. */
  list(): NodeStatus[] {
    const out: NodeStatus[] = [];
    for (const s of this.streams.values()) out.push(this.render(s));
    out.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : a.streamId - b.streamId));
    return out;
  }

  /** The status of the streams of one node id (usually one). */
  /**
   * Who is connected, without the per-type status: O(streams) with no allocation per stream and no
   * sort, for loops that run periodically whoever is looking (`list()` renders every stream).
   */
  summaries(): readonly NodeSummary[] {
    return Array.from(this.streams.values());
  }

  forNode(nodeId: string): NodeStatus[] {
    return this.list().filter((n) => n.nodeId === nodeId);
  }

  private render(s: StreamRecord): NodeStatus {
    const types: TypeStatus[] = [];
    const urls = Array.from(s.types.keys()).sort((a, b) => rank(a) - rank(b));
    for (const url of urls) {
      const t = s.types.get(url)!;
      const state: SyncState = t.versionSent === null ? 'NOT_SENT' : t.nackedLatest ? 'NACKED' : t.answered ? 'SYNCED' : 'STALE';
      types.push({
        typeUrl: url,
        type: shortTypeName(url),
        state,
        versionSent: t.versionSent,
        versionAcked: t.versionAcked,
        nonceSent: t.nonceSent,
        sentAt: t.sentAtWall === null ? null : new Date(t.sentAtWall).toISOString(),
        resourceNames: t.names,
        lastNack: t.lastNack,
        pushAckLatencyMs: t.latencyMs,
      });
    }
    return {
      streamId: s.streamId,
      nodeId: s.node.id,
      cluster: s.node.cluster,
      snapshotKey: s.snapshotKey,
      userAgent: s.userAgent,
      connectedSince: new Date(s.connectedAt).toISOString(),
      peer: s.peer,
      namespace: s.namespace,
      serviceAccount: s.serviceAccount,
      workload: s.workload,
      adminAddress: s.adminAddress,
      types,
    };
  }
}

function rank(url: string): number {
  const i = TYPE_ORDER.indexOf(url);
  return i < 0 ? TYPE_ORDER.length : i;
}
