/**
 * The bounded export queue with a scripted exporter: batching, queue-full drops, failed and
 * unanswered exports counted per reason, flush and shutdown.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { SpanExportQueue, TracingMetrics } from './span-export-queue';

/** An exporter whose calls the test answers by hand. */
class ScriptedExporter implements SpanExporter {
  readonly batches: ReadableSpan[][] = [];
  readonly pending: Array<(r: ExportResult) => void> = [];
  private waiter: (() => void) | null = null;
  shutdowns = 0;

  export(spans: ReadableSpan[], cb: (r: ExportResult) => void): void {
    this.batches.push(spans);
    this.pending.push(cb);
    const w = this.waiter;
    this.waiter = null;
    if (w !== null) w();
  }

  async shutdown(): Promise<void> {
    this.shutdowns++;
  }

  /** Resolves once `n` batches were exported in total. */
  async waitBatches(n: number): Promise<void> {
    while (this.batches.length < n) await new Promise<void>((resolve) => { this.waiter = resolve; });
  }

  answer(code: ExportResultCode): void {
    this.pending.shift()!({ code });
  }
}

const span = (i: number): ReadableSpan => ({ name: `s${i}` }) as unknown as ReadableSpan;

async function counter(reg: Registry, name: string, reason?: string): Promise<number> {
  const m = await reg.getSingleMetric(name)!.get();
  return m.values.filter((v) => reason === undefined || v.labels['reason'] === reason).reduce((a, v) => a + v.value, 0);
}

describe('SpanExportQueue', () => {
  it('exports full batches at once, one export at a time, and counts exported spans', async () => {
    const reg = new Registry();
    const ex = new ScriptedExporter();
    const q = new SpanExportQueue(ex, TracingMetrics.forRegistry(reg), { maxQueueSize: 100, maxBatchSize: 3, scheduleDelayMs: 60_000, exportTimeoutMs: 60_000 });
    for (let i = 0; i < 7; i++) q.push(span(i));
    await ex.waitBatches(1);
    assert.deepEqual(ex.batches[0]!.map((s) => s.name), ['s0', 's1', 's2']);
    assert.equal(ex.pending.length, 1);
    ex.answer(ExportResultCode.SUCCESS);
    await ex.waitBatches(2);
    assert.deepEqual(ex.batches[1]!.map((s) => s.name), ['s3', 's4', 's5']);
    ex.answer(ExportResultCode.FAILED);
    assert.equal(await counter(reg, 'remora_tracing_spans_exported_total'), 3);
    assert.equal(await counter(reg, 'remora_tracing_spans_dropped_total', 'export_failed'), 3);
    // The last span waits for the (long) schedule delay; a flush sends it now.
    const flushed = q.forceFlush(5000);
    await ex.waitBatches(3);
    ex.answer(ExportResultCode.SUCCESS);
    await flushed;
    assert.equal(await counter(reg, 'remora_tracing_spans_exported_total'), 4);
    await q.shutdown(1000);
    assert.equal(ex.shutdowns, 1);
  });

  it('drops and counts spans when the queue is full while an export hangs, and gives up on the hung export', async () => {
    const reg = new Registry();
    const ex = new ScriptedExporter();
    const q = new SpanExportQueue(ex, TracingMetrics.forRegistry(reg), { maxQueueSize: 4, maxBatchSize: 2, scheduleDelayMs: 60_000, exportTimeoutMs: 0 });
    q.push(span(0));
    q.push(span(1));
    await ex.waitBatches(1);
    for (let i = 2; i < 10; i++) q.push(span(i));
    assert.equal(q.queuedForTest, 4);
    assert.equal(await counter(reg, 'remora_tracing_spans_dropped_total', 'queue_full'), 4);
    // exportTimeoutMs 0 + 1 s grace: the hung batch is abandoned and the next one goes out. (The
    // queue's timers are unref'd; keep the loop alive meanwhile.)
    const keepAlive = setInterval(() => undefined, 1000);
    await ex.waitBatches(2);
    clearInterval(keepAlive);
    assert.equal(await counter(reg, 'remora_tracing_spans_dropped_total', 'timeout'), 2);
    ex.answer(ExportResultCode.SUCCESS); // the late answer of the abandoned batch is ignored
    assert.equal(await counter(reg, 'remora_tracing_spans_exported_total'), 0);
    ex.answer(ExportResultCode.SUCCESS);
    assert.equal(await counter(reg, 'remora_tracing_spans_exported_total'), 2);
    q.push(span(99));
    await q.shutdown(0);
    assert.ok(await counter(reg, 'remora_tracing_spans_dropped_total', 'shutdown') >= 1);
    q.push(span(100));
    assert.ok(await counter(reg, 'remora_tracing_spans_dropped_total', 'shutdown') >= 2);
  });

  it('registers its metric families once per registry', () => {
    const reg = new Registry();
    TracingMetrics.forRegistry(reg);
    TracingMetrics.forRegistry(reg);
    assert.equal(reg.getMetricsAsArray().length, 2);
  });
});
