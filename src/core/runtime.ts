/**
 * The Runtime: everything process-wide a component needs (clock, randomness, timers, logger,
 * metrics registry), created once in `cli/` and passed down explicitly. There are no module-level
 * singletons; tests build their own Runtime with a fake clock and a seeded random.
 */
import pino, { type Logger } from 'pino';
import { Registry } from 'prom-client';
import { systemClock, systemRandom, type Clock, type RandomSource } from './clock';
import { Timers } from './timers';

export interface Runtime {
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly timers: Timers;
  readonly logger: Logger;
  /** The prom-client registry this process exports on its admin endpoint (never the global one). */
  readonly metrics: Registry;
  /** Components whose verbose debug logs are on (`REMORA_TRACE=xds,lb`), parsed once in cli/. */
  readonly trace: ReadonlySet<string>;
}


export interface RuntimeOptions {
  readonly logLevel?: string;
  readonly trace?: ReadonlySet<string>;
  readonly clock?: Clock;
  readonly random?: RandomSource;
  /** Where JSON logs go; stdout by default. */
  readonly logDestination?: NodeJS.WritableStream;
}

/** Builds a Runtime. Called once by cli/ (and by tests, which pass fakes). Reads no environment. */
export function createRuntime(options: RuntimeOptions = {}): Runtime {
  const clock = options.clock ?? systemClock;
  const logger = options.logDestination !== undefined
    ? pino({ level: options.logLevel ?? 'info', base: { component: 'remora' } }, options.logDestination)
    : pino({ level: options.logLevel ?? 'info', base: { component: 'remora' } });
  return {
    clock,
    random: options.random ?? systemRandom,
    timers: new Timers(() => clock.monotonic()),
    logger,
    metrics: new Registry(),
    trace: options.trace ?? new Set(),
  };
}
