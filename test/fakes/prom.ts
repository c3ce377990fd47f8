/**
 * A tiny Prometheus text-format reader for asserting on the sidecar's /stats/prometheus output:
 * parse once, then sum the samples of a metric whose labels include the given ones.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses exposition text into samples; comment and blank lines are skipped. */
export function parseProm(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    if (m[2] !== undefined) {
      for (const lm of m[2].matchAll(LABEL)) labels[lm[1]!] = lm[2]!.replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
    }
    const v = m[3]!;
    out.push({ name: m[1]!, labels, value: v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v) });
  }
  return out;
}

/** A parsed snapshot of the metrics endpoint. */
export class Metrics {
  readonly samples: Sample[];
  readonly text: string;

  constructor(text: string) {
    this.text = text;
    this.samples = parseProm(text);
  }

  /** Sum of every sample named `name` whose labels include all of `labels` (0 when none match). */
  sum(name: string, labels: Readonly<Record<string, string>> = {}): number {
    let total = 0;
    for (let i = 0; i < this.samples.length; i++) {
      const s = this.samples[i]!;
      if (s.name !== name) continue;
      let ok = true;
      for (const k of Object.keys(labels)) {
        if (s.labels[k] !== labels[k]) { ok = false; break; }
      }
      if (ok) total += s.value;
    }
    return total;
  }

  /** True when a `# TYPE name ...` line or any sample of `name` exists. */
  has(name: string): boolean {
    return this.text.includes(`# TYPE ${name} `) || this.samples.some((s) => s.name === name);
  }
}

/** GETs `${adminUrl}/stats/prometheus` and parses it. */
export async function fetchMetrics(adminUrl: string): Promise<Metrics> {
  const res = await fetch(`${adminUrl}/stats/prometheus`);
  if (res.status !== 200) throw new Error(`/stats/prometheus returned ${res.status}`);
  return new Metrics(await res.text());
}
