/**
 * Tracing providers (stub; owned by the tracing work).
 */
import type { ListenerModel, NodeModel } from '../../config/model';
import type { TracingModel } from '../../config/tracing-model';
import type { Runtime } from '../../core/runtime';
import type { HttpTracer } from '../stream-info';

export class TracingProviders {
  constructor(readonly runtime: Runtime, readonly node: NodeModel) {}

  /** The tracer of one listener with `tracing` configured. */
  tracerFor(_model: TracingModel, _listener: ListenerModel): HttpTracer | null {
    return null;
  }

  /** Flushes pending spans (bounded) and shuts the exporters down. */
  async close(): Promise<void> {}
}
