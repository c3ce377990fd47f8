/**
 * Remora's own Prometheus metrics for the sidecar, on a per-process prom-client Registry (never the
 * global one). Handles are created ahead of use: one `ListenerStats` per listener and one
 * `ClusterStats` per cluster at config time, and per-status handles are cached in flat arrays, so
 * the request path never builds label objects or looks a series up by its labels.
 *
 * The series touched on every request (downstream requests and streams in flight, upstream requests
 * and responses) are plain number cells (`CounterCell`, `GaugeCell`), interned per label set so that
 * the stats objects of successive config versions share them; each metric's `collect()` copies them
 * into prom-client when the registry is scraped. A prom-client child would hash its label set on
 * every `inc` (~1 µs; four such calls per proxied request). Rarer series (connections, local
 * replies, connect failures) and the duration histogram stay prom-client children.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { ensureProcessMetrics } from './process-metrics';

const GRPC_SLOTS = 18; // -1 (not gRPC) + 0..16

/** A counter series kept as a number on the hot path; `reported` is what prom-client has seen. */
export class CounterCell {
  value = 0;
  reported = 0;
  constructor(readonly labels: Readonly<Record<string, string>>) {}
  inc(): void { this.value++; }
}

/** A gauge series kept as a number on the hot path. */
export class GaugeCell {
  value = 0;
  constructor(readonly labels: Readonly<Record<string, string>>) {}
  inc(): void { this.value++; }
  dec(): void { this.value--; }
}

/** The interned cells of one metric, by label values (config-time lookups only). */
class Cells<C extends CounterCell | GaugeCell> {
  readonly all: C[] = [];
  private readonly byKey = new Map<string, C>();
  constructor(private readonly names: readonly string[], private readonly make: (labels: Readonly<Record<string, string>>) => C) {}

  get(...values: string[]): C {
    const key = values.join('\u0000');
    let c = this.byKey.get(key);
    if (c === undefined) {
      const labels: Record<string, string> = {};
      for (let i = 0; i < this.names.length; i++) labels[this.names[i]!] = values[i]!;
      c = this.make(Object.freeze(labels));
      this.byKey.set(key, c);
      this.all.push(c);
    }
    return c;
  }
}

/** prom-client `collect` for a cell-backed counter: adds what the cells counted since the last scrape. */
function flushCounterCells(metric: Counter<string>, cells: Cells<CounterCell>): void {
  const all = cells.all;
  for (let i = 0; i < all.length; i++) {
    const c = all[i]!;
    const d = c.value - c.reported;
    if (d > 0) {
      metric.inc(c.labels, d);
      c.reported = c.value;
    }
  }
}

/** prom-client `collect` for a cell-backed gauge: sets each series to its cell's value. */
function flushGaugeCells(metric: Gauge<string>, cells: Cells<GaugeCell>): void {
  const all = cells.all;
  for (let i = 0; i < all.length; i++) metric.set(all[i]!.labels, all[i]!.value);
}
const CLASS_SLOTS = 6; // other, 1xx..5xx

export class SidecarMetrics {
  readonly downstreamRequests: Counter<'listener' | 'status_class' | 'grpc_status'>;
  readonly downstreamConnectionsActive: Gauge<'listener'>;
  readonly downstreamConnectionsTotal: Counter<'listener'>;
  readonly downstreamStreamsActive: Gauge<'listener'>;
  readonly upstreamRequests: Counter<'cluster'>;
  readonly upstreamResponses: Counter<'cluster' | 'status_class'>;
  readonly upstreamDuration: Histogram<'cluster'>;
  readonly upstreamConnectFailures: Counter<'cluster'>;
  readonly upstreamRefusedReplays: Counter<'cluster'>;
  readonly localReplies: Counter<'listener' | 'reason'>;
  readonly downstreamConnectionsRejected: Counter<'listener' | 'reason'>;

  /** @internal the hot series' cells (see the file comment). */
  readonly downstreamRequestCells = new Cells<CounterCell>(['listener', 'status_class', 'grpc_status'], (l) => new CounterCell(l));
  /** @internal */ readonly streamsActiveCells = new Cells<GaugeCell>(['listener'], (l) => new GaugeCell(l));
  /** @internal */ readonly upstreamRequestCells = new Cells<CounterCell>(['cluster'], (l) => new CounterCell(l));
  /** @internal */ readonly upstreamResponseCells = new Cells<CounterCell>(['cluster', 'status_class'], (l) => new CounterCell(l));

  constructor(readonly registry: Registry, withProcessMetrics: boolean) {
    const registers = [registry];
    const downstreamRequestCells = this.downstreamRequestCells;
    const streamsActiveCells = this.streamsActiveCells;
    const upstreamRequestCells = this.upstreamRequestCells;
    const upstreamResponseCells = this.upstreamResponseCells;
    this.downstreamRequests = new Counter({
      name: 'remora_downstream_requests_total', help: 'Downstream requests completed, by listener, HTTP status class and gRPC status ("" when not gRPC).',
      labelNames: ['listener', 'status_class', 'grpc_status'], registers,
      collect(this: Counter<'listener' | 'status_class' | 'grpc_status'>) { flushCounterCells(this, downstreamRequestCells); },
    });
    this.downstreamConnectionsActive = new Gauge({
      name: 'remora_downstream_connections_active', help: 'Open downstream connections.', labelNames: ['listener'], registers,
    });
    this.downstreamConnectionsTotal = new Counter({
      name: 'remora_downstream_connections_total', help: 'Downstream connections accepted.', labelNames: ['listener'], registers,
    });
    this.downstreamStreamsActive = new Gauge({
      name: 'remora_downstream_streams_active', help: 'Downstream requests in flight.', labelNames: ['listener'], registers,
      collect(this: Gauge<'listener'>) { flushGaugeCells(this, streamsActiveCells); },
    });
    this.upstreamRequests = new Counter({
      name: 'remora_upstream_requests_total', help: 'Requests sent upstream (attempts), by cluster.', labelNames: ['cluster'], registers,
      collect(this: Counter<'cluster'>) { flushCounterCells(this, upstreamRequestCells); },
    });
    this.upstreamResponses = new Counter({
      name: 'remora_upstream_responses_total', help: 'Upstream responses by HTTP status class.', labelNames: ['cluster', 'status_class'], registers,
      collect(this: Counter<'cluster' | 'status_class'>) { flushCounterCells(this, upstreamResponseCells); },
    });
    this.upstreamDuration = new Histogram({
      name: 'remora_upstream_request_duration_seconds', help: 'Time from sending upstream headers to the end of the upstream response.',
      labelNames: ['cluster'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers,
    });
    this.upstreamConnectFailures = new Counter({
      name: 'remora_upstream_connect_failures_total', help: 'Upstream connection failures (refused, timed out, TLS).', labelNames: ['cluster'], registers,
    });
    this.upstreamRefusedReplays = new Counter({
      name: 'remora_upstream_refused_stream_replays_total', help: 'Requests replayed on a fresh session after REFUSED_STREAM/GOAWAY.', labelNames: ['cluster'], registers,
    });
    this.localReplies = new Counter({
      name: 'remora_local_replies_total', help: 'Replies generated by the proxy itself, by reason.', labelNames: ['listener', 'reason'], registers,
    });
    this.downstreamConnectionsRejected = new Counter({
      name: 'remora_downstream_connections_rejected_total',
      help: 'Downstream connections closed before any request: plaintext on a STRICT mTLS port, TLS before its certificate arrived, a failed handshake, or a refused client certificate.',
      labelNames: ['listener', 'reason'], registers,
    });
    if (withProcessMetrics) ensureProcessMetrics(registry);
  }

  forListener(name: string): ListenerStats { return new ListenerStats(this, name); }
  forCluster(name: string): ClusterStats { return new ClusterStats(this, name); }
}

type CounterChild = ReturnType<Counter<string>['labels']>;
type GaugeChild = ReturnType<Gauge<string>['labels']>;
type HistogramChild = ReturnType<Histogram<string>['labels']>;

const CLASS_NAMES = ['other', '1xx', '2xx', '3xx', '4xx', '5xx'];

/** Pre-bound metric handles for one listener. */
export class ListenerStats {
  readonly connectionsActive: GaugeChild;
  readonly connectionsTotal: CounterChild;
  readonly streamsActive: GaugeCell;
  private readonly requests: (CounterCell | undefined)[] = new Array(CLASS_SLOTS * GRPC_SLOTS);
  private readonly replies = new Map<string, CounterChild>();
  private readonly rejected = new Map<string, CounterChild>();

  constructor(private readonly m: SidecarMetrics, readonly listener: string) {
    this.connectionsActive = m.downstreamConnectionsActive.labels(listener);
    this.connectionsTotal = m.downstreamConnectionsTotal.labels(listener);
    this.streamsActive = m.streamsActiveCells.get(listener);
  }

  /** Counts one completed downstream request; `grpcStatus` is -1 when the request was not gRPC. */
  request(httpStatus: number, grpcStatus: number): void {
    let cls = (httpStatus / 100) | 0;
    if (cls < 1 || cls > 5) cls = 0;
    const g = grpcStatus < 0 || grpcStatus > 16 ? 0 : grpcStatus + 1;
    const i = cls * GRPC_SLOTS + g;
    let child = this.requests[i];
    if (child === undefined) {
      child = this.m.downstreamRequestCells.get(this.listener, CLASS_NAMES[cls]!, g === 0 ? '' : String(g - 1));
      this.requests[i] = child;
    }
    child.inc();
  }

  /** Counts one connection the listener closed before any request (reasons are a small fixed set). */
  connectionRejected(reason: string): void {
    let child = this.rejected.get(reason);
    if (child === undefined) {
      child = this.m.downstreamConnectionsRejected.labels(this.listener, reason);
      this.rejected.set(reason, child);
    }
    child.inc();
  }

  localReply(reason: string): void {
    let child = this.replies.get(reason);
    if (child === undefined) {
      child = this.m.localReplies.labels(this.listener, reason);
      this.replies.set(reason, child);
    }
    child.inc();
  }
}

/** Pre-bound metric handles for one cluster. */
export class ClusterStats {
  readonly requests: CounterCell;
  readonly duration: HistogramChild;
  readonly connectFailures: CounterChild;
  readonly refusedReplays: CounterChild;
  private readonly responses: (CounterCell | undefined)[] = new Array(CLASS_SLOTS);

  constructor(private readonly m: SidecarMetrics, readonly cluster: string) {
    this.requests = m.upstreamRequestCells.get(cluster);
    this.duration = m.upstreamDuration.labels(cluster);
    this.connectFailures = m.upstreamConnectFailures.labels(cluster);
    this.refusedReplays = m.upstreamRefusedReplays.labels(cluster);
  }

  response(httpStatus: number): void {
    let cls = (httpStatus / 100) | 0;
    if (cls < 1 || cls > 5) cls = 0;
    let child = this.responses[cls];
    if (child === undefined) {
      child = this.m.upstreamResponseCells.get(this.cluster, CLASS_NAMES[cls]!);
      this.responses[cls] = child;
    }
    child.inc();
  }
}
