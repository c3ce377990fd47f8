/**
 * The bounded batching queue between finished spans and one OTLP exporter (a small replacement for
 * the SDK's BatchSpanProcessor that counts what it drops). `push` is O(1) and never blocks: when
 * the queue holds `maxQueueSize` spans the new span is dropped (`reason="queue_full"`). One export
 * runs at a time; a batch goes out when `maxBatchSize` spans wait or `scheduleDelayMs` after the
 * first span of a batch arrived (one unref'd timer per batch, not per span). A batch whose export
 * fails or does not answer within `exportTimeoutMs` (+ a grace) is dropped and counted
 * (`export_failed` / `timeout`), so a slow or absent collector costs memory bounded by the queue
 * and never slows requests. Metric families: `remora_tracing_spans_exported_total` and
 * `remora_tracing_spans_dropped_total{reason}`, registered once per registry.
 */
import { Counter, type Registry } from 'prom-client';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

type CounterChild = ReturnType<Counter<string>['labels']>;

const EXPORTED = 'remora_tracing_spans_exported_total';
const DROPPED = 'remora_tracing_spans_dropped_total';

/** Why spans were dropped (the `reason` label values). */
export type DropReason = 'queue_full' | 'export_failed' | 'timeout' | 'shutdown';

/** The tracing metric families of one registry, with their label children bound once. */
export class TracingMetrics {
  readonly exported: Counter<string>;
  private readonly dropped: Counter<'reason'>;
  private readonly byReason: Record<DropReason, CounterChild>;

  private constructor(registry: Registry) {
    const registers = [registry];
    this.exported = (registry.getSingleMetric(EXPORTED) as Counter<string> | undefined) ?? new Counter({
      name: EXPORTED, help: 'Spans the collector accepted.', registers,
    });
    this.dropped = (registry.getSingleMetric(DROPPED) as Counter<'reason'> | undefined) ?? new Counter({
      name: DROPPED, help: 'Spans dropped before reaching the collector, by reason (queue_full, export_failed, timeout, shutdown).',
      labelNames: ['reason'], registers,
    });
    this.byReason = {
      queue_full: this.dropped.labels('queue_full'),
      export_failed: this.dropped.labels('export_failed'),
      timeout: this.dropped.labels('timeout'),
      shutdown: this.dropped.labels('shutdown'),
    };
  }

  /** The families on `registry`, registering them on first use. Config time only. */
  static forRegistry(registry: Registry): TracingMetrics {
    return new TracingMetrics(registry);
  }

  drop(reason: DropReason, n: number): void {
    if (n > 0) this.byReason[reason].inc(n);
  }
}

export interface SpanExportQueueOptions {
  readonly maxQueueSize: number;
  readonly maxBatchSize: number;
  readonly scheduleDelayMs: number;
  /** The exporter's own deadline; the queue gives up on a batch 1 s after it. */
  readonly exportTimeoutMs: number;
}

export const DEFAULT_QUEUE_OPTIONS: SpanExportQueueOptions = Object.freeze({
  maxQueueSize: 2048, maxBatchSize: 512, scheduleDelayMs: 500, exportTimeoutMs: 5000,
});

const EXPORT_GRACE_MS = 1000;

/** Called when an export attempt settles (module-level, no closure per batch beyond the callback). */
type Settle = (outcome: 'ok' | DropReason) => void;

export class SpanExportQueue {
  private queue: ReadableSpan[] = [];
  private timer: NodeJS.Timeout | null = null;
  private inFlight = false;
  private closed = false;
  /** Resolvers waiting for the queue to drain (forceFlush / shutdown). */
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly exporter: SpanExporter,
    private readonly metrics: TracingMetrics,
    private readonly options: SpanExportQueueOptions = DEFAULT_QUEUE_OPTIONS,
  ) {}

  /** Enqueues a finished span; drops (and counts) it when the queue is full or closed. Never throws. */
  push(span: ReadableSpan): void {
    if (this.closed) {
      this.metrics.drop('shutdown', 1);
      return;
    }
    const q = this.queue;
    if (q.length >= this.options.maxQueueSize) {
      this.metrics.drop('queue_full', 1);
      return;
    }
    q.push(span);
    if (this.inFlight) return;
    if (q.length >= this.options.maxBatchSize) this.exportNext();
    else if (this.timer === null) {
      this.timer = setTimeout(onBatchTimer, this.options.scheduleDelayMs, this);
      this.timer.unref();
    }
  }

  /** Spans waiting (tests and diagnostics). */
  get queuedForTest(): number {
    return this.queue.length;
  }

  /**
   * Exports everything queued, resolving when the queue is empty and no export is in flight, or
   * after `timeoutMs` (whatever is left then stays queued).
   */
  async forceFlush(timeoutMs: number): Promise<void> {
    if (this.queue.length === 0 && !this.inFlight) return;
    let timer: NodeJS.Timeout | null = null;
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    // Not unref'd: whoever awaits the flush wants it to settle (bounded by timeoutMs).
    const expired = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); });
    if (!this.inFlight) this.exportNext();
    await Promise.race([idle, expired]);
    if (timer !== null) clearTimeout(timer);
  }

  /** Flushes (bounded by `timeoutMs`), drops what is left, then shuts the exporter down (bounded too). */
  async shutdown(timeoutMs: number): Promise<void> {
    await this.forceFlush(timeoutMs);
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.metrics.drop('shutdown', this.queue.length);
    this.queue = [];
    let timer: NodeJS.Timeout | null = null;
    const expired = new Promise<void>((resolve) => { timer = setTimeout(resolve, 1000); });
    await Promise.race([this.exporter.shutdown().catch(() => undefined), expired]);
    if (timer !== null) clearTimeout(timer);
  }

  /** @internal Starts exporting the next batch (no-op while one is in flight or nothing waits). */
  exportNext(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.inFlight) return;
    const q = this.queue;
    if (q.length === 0) {
      this.wakeIdle();
      return;
    }
    let batch: ReadableSpan[];
    if (q.length <= this.options.maxBatchSize) {
      batch = q;
      this.queue = [];
    } else {
      batch = q.splice(0, this.options.maxBatchSize);
    }
    this.inFlight = true;
    let settled = false;
    const settle: Settle = (outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(guard);
      if (outcome === 'ok') this.metrics.exported.inc(batch.length);
      else this.metrics.drop(outcome, batch.length);
      this.inFlight = false;
      this.afterExport();
    };
    const guard = setTimeout(settle, this.options.exportTimeoutMs + EXPORT_GRACE_MS, 'timeout');
    guard.unref();
    try {
      this.exporter.export(batch, (r: ExportResult) => settle(r.code === ExportResultCode.SUCCESS ? 'ok' : 'export_failed'));
    } catch {
      settle('export_failed');
    }
  }

  private afterExport(): void {
    const q = this.queue;
    if (this.closed) return;
    if (q.length >= this.options.maxBatchSize || (q.length > 0 && this.idleWaiters.length > 0)) {
      // Settle may run synchronously inside export(); continue on a fresh tick.
      setImmediate(onContinue, this);
    } else if (q.length > 0) {
      this.timer = setTimeout(onBatchTimer, this.options.scheduleDelayMs, this);
      this.timer.unref();
    } else {
      this.wakeIdle();
    }
  }

  private wakeIdle(): void {
    if (this.idleWaiters.length === 0) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (let i = 0; i < w.length; i++) w[i]();
  }
}

function onBatchTimer(q: SpanExportQueue): void {
  q.exportNext();
}

function onContinue(q: SpanExportQueue): void {
  q.exportNext();
}
