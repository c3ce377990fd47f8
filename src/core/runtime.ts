/**
 * The Runtime: everything process-wide a component needs (clock, randomness, timers, logger,
 * metrics registry), created once in `cli/` and passed down explicitly. There are no module-level
 * singletons; tests build their own Runtime with a fake clock and a seeded random.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Clock, RandomSource } from './clock';
import type { Timers } from './timers';

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
