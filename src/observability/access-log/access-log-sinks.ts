/**
 * The sidecar's access logging: one AccessLogSinks per process (built by sidecar/listener-telemetry)
 * turns each listener's `access_log` entries into StreamObservers and owns the outputs they write
 * to — one AccessLogDestination per distinct path, shared and reference-counted across listeners,
 * entries and config updates. Each observer is compiled once per listener config: the filter
 * predicate (Envoy AccessLogFilter + CEL subset), the success sampling rate, the masker and the
 * line formatter. A listener without `access_log` never gets here, so logging off costs nothing.
 */
import type { AccessLogModel } from '../../config/access-log-model';
import type { ListenerModel } from '../../config/model';
import type { RandomSource } from '../../core/clock';
import { ResponseFlagFormatter } from '../../core/response-flags';
import type { Runtime } from '../../core/runtime';
import type { StreamInfo, StreamObserver } from '../stream-info';
import { Counter, type Registry } from 'prom-client';
import { AccessLogDestination, type AccessLogCounters } from './access-log-destination';
import { compileAccessLogFilter, type AccessLogPredicate } from './access-log-filter';
import { AccessLogFormatter } from './access-log-line';
import { Masker } from './masking';

const COMPONENT = 'access-log';
/** How long close() waits for buffered lines to reach their files. */
const CLOSE_TIMEOUT_MS = 2000;

/** True for what is always logged: HTTP status >= 400, a non-OK grpc-status, or any response flag. */
export function isErrorResponse(info: StreamInfo): boolean {
  return info.responseStatus >= 400 || info.grpcStatus > 0 || info.responseFlags !== 0 || info.responseStatus === 0;
}

/** The observer of one `access_log` entry on one listener config. */
export class AccessLogObserver implements StreamObserver {
  constructor(
    readonly destination: AccessLogDestination,
    private readonly filter: AccessLogPredicate | null,
    private readonly successSamplePercent: number,
    private readonly random: RandomSource,
    private readonly formatter: AccessLogFormatter,
  ) {}

  /** Filter, then sample successes, then format and hand the line to the destination. Never throws. */
  onStreamEnd(info: StreamInfo): void {
    try {
      if (this.filter !== null && !this.filter(info)) return;
      const pct = this.successSamplePercent;
      if (pct < 100 && !isErrorResponse(info) && !(pct > 0 && this.random.next() * 100 < pct)) return;
      this.destination.write(this.formatter.format(info));
    } catch {
      // A StreamObserver must not throw into the connection manager; nothing here is expected to.
    }
  }
}

function counter(registry: Registry, name: string, help: string): Counter<'path'> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return existing as Counter<'path'>;
  return new Counter({ name, help, labelNames: ['path'], registers: [registry] });
}

export class AccessLogSinks {
  private readonly destinations = new Map<string, AccessLogDestination>();
  private readonly counters: AccessLogCounters;
  private readonly flags = new ResponseFlagFormatter();
  private closed = false;

  constructor(readonly runtime: Runtime) {
    this.counters = {
      written: counter(runtime.metrics, 'remora_access_log_lines_total', 'Access log lines handed to an output, by output path.'),
      dropped: counter(runtime.metrics, 'remora_access_log_dropped_lines_total', 'Access log lines dropped because the output failed or its buffer was full, by output path.'),
    };
  }

  /**
   * The observer writing one listener's `access_log` entry (config time; compiles the filter, masker
   * and formatter). Returns null once close() was called.
   */
  observerFor(model: AccessLogModel, _listener: ListenerModel): StreamObserver | null {
    if (this.closed) return null;
    let dest = this.destinations.get(model.path);
    if (dest === undefined) {
      dest = new AccessLogDestination(model.path, this.counters, this.runtime.logger.child({ component: COMPONENT }));
      this.destinations.set(model.path, dest);
    }
    dest.refs++;
    const filter = model.filter === null ? null : compileAccessLogFilter(model.filter, this.runtime.random);
    const formatter = new AccessLogFormatter(new Masker(model.mask), model.requestHeaders, this.flags);
    return new AccessLogObserver(dest, filter, model.successSamplePercent, this.runtime.random, formatter);
  }

  /**
   * Releases an observer returned by observerFor (its listener config was replaced or removed); the
   * output is flushed and closed when no observer uses it any more. Idempotent per call site only:
   * release each observer once.
   */
  async release(observer: StreamObserver): Promise<void> {
    if (!(observer instanceof AccessLogObserver)) return;
    const dest = observer.destination;
    if (--dest.refs > 0 || this.destinations.get(dest.path) !== dest) return;
    this.destinations.delete(dest.path);
    await dest.close(CLOSE_TIMEOUT_MS);
  }

  /** Flushes and closes every output (bounded by CLOSE_TIMEOUT_MS each, in parallel). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.destinations.values()];
    this.destinations.clear();
    await Promise.all(all.map((d) => d.close(CLOSE_TIMEOUT_MS)));
  }
}
