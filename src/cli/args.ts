/**
 * Argument parsing helpers for the `remora` CLI: durations ("5s", "250ms", "1m"), and the usage
 * error type that makes the CLI print a message and exit with code 2.
 */

export class UsageError extends Error {
  readonly exitCode = 2;
}

/** Parses "5s", "250ms", "1m", "1h" or a bare number of milliseconds. */
export function parseDurationMs(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (m === null) throw new UsageError(`${flag}: expected a duration like 5s, 250ms or 1m, got '${value}'`);
  const n = Number(m[1]);
  switch (m[2]) {
    case 's': return n * 1000;
    case 'm': return n * 60_000;
    case 'h': return n * 3_600_000;
    default: return n;
  }
}

export function parsePositiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag}: expected a positive integer, got '${value}'`);
  return n;
}

/** A port number 0..65535 (0 = ephemeral). */
export function parsePort(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${flag}: expected a port number 0..65535, got '${value}'`);
  return n;
}
