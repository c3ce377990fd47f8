/**
 * Command-line options of the benchmark scripts: `--name value` pairs read from `process.argv`.
 */

/** The value after `name` (e.g. `--rounds`), or `dflt` when the option is absent or has no value. */
export function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : dflt;
}

/** `arg` for a numeric option given without its leading dashes (`numArg('rounds', 20)` reads `--rounds`). */
export function numArg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(process.argv[i + 1]);
}
