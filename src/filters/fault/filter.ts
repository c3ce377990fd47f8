/**
 * The fault injection filter's factory (one per listener and config update) and its per-stream
 * logic. Per request: if the route's `typed_per_filter_config` overrides the listener config, that
 * one applies; the header matchers must all match; `max_active_faults` caps concurrent faults (an
 * excess request gets none and counts as overflow). A delay (fixed, or from `x-envoy-fault-delay-request`
 * when `header_delay` is configured) returns StopIteration and schedules one `runtime.timers` timer
 * whose argument is a small `PendingDelay`; when it fires the abort check runs and the chain resumes
 * with `ctx.continueChain()` (a no-op if the client went away meanwhile). An abort replies locally with
 * `FaultAbortError(httpStatus, grpcStatus)` through the one status mapping. Randomness comes from
 * `runtime.random` (seedable in tests). The factory has no per-stream state besides `PendingDelay`, so
 * `createFilter()` returns the factory itself.
 */
import { ResponseFlag } from '../../core/response-flags';
import { PerRouteStates } from '../per-route';
import { sampleFraction } from '../../core/fraction';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { RandomSource } from '../../core/clock';
import { FaultAbortError } from '../../core/errors';
import type { Timers } from '../../core/timers';
import { CompiledHeaderMatcher } from '../../routing/header-matcher';
import { FilterStatus, type FilterFactoryContext, type HttpFilter, type HttpFilterFactory } from '../filter';
import { sendLocalReply } from '../local-reply';
import type { StreamContext } from '../stream-context';
import type { FaultConfig, FaultFraction } from './config';


export const HEADER_DELAY = 'x-envoy-fault-delay-request';
export const HEADER_DELAY_PERCENTAGE = 'x-envoy-fault-delay-request-percentage';
export const HEADER_ABORT = 'x-envoy-fault-abort-request';
export const HEADER_ABORT_GRPC = 'x-envoy-fault-abort-grpc-request';
export const HEADER_ABORT_PERCENTAGE = 'x-envoy-fault-abort-request-percentage';

type CounterChild = ReturnType<Counter<string>['labels']>;
type GaugeChild = ReturnType<Gauge<string>['labels']>;

function counter(registry: Registry, name: string, help: string): Counter<'listener'> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return existing as Counter<'listener'>;
  return new Counter({ name, help, labelNames: ['listener'], registers: [registry] });
}

function gauge(registry: Registry, name: string, help: string): Gauge<'listener'> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return existing as Gauge<'listener'>;
  return new Gauge({ name, help, labelNames: ['listener'], registers: [registry] });
}

/** The first value of a request header as a non-negative integer, or -1 when absent or malformed. */
function headerInt(ctx: StreamContext, name: string): number {
  const raw = ctx.headers[name];
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (v === undefined || v.length === 0 || v.length > 9) return -1;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  return Number(v);
}

/** Samples `f`, its numerator lowered to the `-percentage` header's value when that header is valid. */
function sample(random: RandomSource, f: FaultFraction, ctx: StreamContext, percentageHeader: string | null): boolean {
  let numerator = f.numerator;
  if (percentageHeader !== null) {
    const h = headerInt(ctx, percentageHeader);
    if (h >= 0 && h < numerator) numerator = h;
  }
  return sampleFraction(numerator, f.denominator, random);
}

/** One compiled config with its header matchers. */
class FaultState {
  readonly matchers: readonly CompiledHeaderMatcher[];
  constructor(readonly config: FaultConfig) {
    this.matchers = config.headers.map((h) => new CompiledHeaderMatcher(h));
  }
}

/** The timer argument of one injected delay (the async path's only allocation). */
class PendingDelay {
  constructor(readonly factory: FaultFactory, readonly ctx: StreamContext, readonly state: FaultState) {}
}

function onDelayElapsed(p: PendingDelay): void {
  p.factory.delayElapsed(p);
}

export class FaultFactory implements HttpFilterFactory, HttpFilter {
  private readonly random: RandomSource;
  private readonly timers: Timers;
  private readonly listenerState: FaultState;
  private readonly perRoute: PerRouteStates<FaultConfig, FaultState>;
  private readonly delaysInjected: CounterChild;
  private readonly abortsInjected: CounterChild;
  private readonly overflow: CounterChild;
  private readonly activeGauge: GaugeChild;
  /** Faults (delays in progress) active through this factory. */
  private active = 0;

  /** Built at config time; per-route overrides are found under `ctx.filterName` (the HCM's name for this filter). */
  constructor(config: FaultConfig, ctx: FilterFactoryContext) {
    this.random = ctx.runtime.random;
    this.timers = ctx.runtime.timers;
    this.listenerState = new FaultState(config);
    this.perRoute = new PerRouteStates(ctx.filterName, isFaultConfig, buildFaultState);
    const reg = ctx.runtime.metrics;
    const l = ctx.listenerName;
    this.delaysInjected = counter(reg, 'remora_fault_delays_injected_total', 'Requests delayed by the fault filter.').labels(l);
    this.abortsInjected = counter(reg, 'remora_fault_aborts_injected_total', 'Requests aborted by the fault filter.').labels(l);
    this.overflow = counter(reg, 'remora_fault_overflow_total', 'Faults not injected because max_active_faults was reached.').labels(l);
    this.activeGauge = gauge(reg, 'remora_fault_active', 'Fault delays currently in progress.').labels(l);
  }

  /** Stateless per stream: all streams share this instance. */
  createFilter(): HttpFilter {
    return this;
  }

  /** Continue, or StopIteration after an abort reply or while a delay is pending. Never throws. */
  onRequestHeaders(ctx: StreamContext): FilterStatus {
    const state = this.stateFor(ctx);
    const cfg = state.config;
    const matchers = state.matchers;
    for (let i = 0; i < matchers.length; i++) if (!matchers[i].matches(ctx.headers)) return FilterStatus.Continue;
    if (cfg.maxActiveFaults !== null && this.active >= cfg.maxActiveFaults) {
      if (cfg.delay !== null || cfg.abort !== null) this.overflow.inc();
      return FilterStatus.Continue;
    }
    const delay = cfg.delay;
    if (delay !== null) {
      let ms = delay.delayMs;
      let pctHeader: string | null = null;
      if (delay.kind === 'header') {
        ms = headerInt(ctx, HEADER_DELAY);
        pctHeader = HEADER_DELAY_PERCENTAGE;
      }
      if (ms > 0 && sample(this.random, delay.percentage, ctx, pctHeader)) {
        this.active++;
        this.activeGauge.inc();
        this.delaysInjected.inc();
        ctx.responseFlags |= ResponseFlag.DelayInjected;
        this.timers.setTimeout(onDelayElapsed, ms, new PendingDelay(this, ctx, state));
        return FilterStatus.StopIteration;
      }
    }
    return this.maybeAbort(ctx, state.config);
  }

  /** @internal The delay timer fired: abort check, then resume the chain (no-op if the stream closed). */
  delayElapsed(p: PendingDelay): void {
    this.active--;
    this.activeGauge.dec();
    const ctx = p.ctx;
    if (ctx.downstream.closed) return;
    if (this.maybeAbort(ctx, p.state.config) === FilterStatus.Continue) ctx.continueChain();
  }

  private maybeAbort(ctx: StreamContext, cfg: FaultConfig): FilterStatus {
    const abort = cfg.abort;
    if (abort === null) return FilterStatus.Continue;
    let http: number | null = null;
    let grpc: number | null = null;
    let pctHeader: string | null = null;
    switch (abort.kind) {
      case 'http': http = abort.httpStatus; break;
      case 'grpc': grpc = abort.grpcStatus; break;
      default: {
        const h = headerInt(ctx, HEADER_ABORT);
        if (h >= 200 && h < 600) http = h;
        const g = headerInt(ctx, HEADER_ABORT_GRPC);
        if (g >= 0 && g <= 16) grpc = g;
        if (http === null && grpc === null) return FilterStatus.Continue;
        pctHeader = HEADER_ABORT_PERCENTAGE;
      }
    }
    if (!sample(this.random, abort.percentage, ctx, pctHeader)) return FilterStatus.Continue;
    this.abortsInjected.inc();
    sendLocalReply(ctx, new FaultAbortError(http, grpc));
    return FilterStatus.StopIteration;
  }

  private stateFor(ctx: StreamContext): FaultState {
    return this.perRoute.forRoute(ctx.route, this.listenerState);
  }

  /** Delays currently pending through this factory (tests). */
  activeFaultsForTest(): number {
    return this.active;
  }
}

function isFaultConfig(c: unknown): c is FaultConfig {
  return (c as FaultConfig).kind === 'fault';
}

function buildFaultState(c: FaultConfig): FaultState {
  return new FaultState(c);
}
